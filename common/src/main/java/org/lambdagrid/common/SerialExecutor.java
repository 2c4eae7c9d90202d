package org.lambdagrid.common;

import java.util.ArrayDeque;
import java.util.Queue;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs tasks one at a time, in submission order, on a shared executor: a task starts only after
 * the one submitted before it has returned, and at most one pool thread is used at a time. A task
 * that throws is logged and the next one runs. When the pool refuses the drain (it is shut down
 * or full), {@link #execute} drops that task and rethrows the {@link RejectedExecutionException},
 * leaving the executor idle (the next submission tries the pool again); once the pool is shut
 * down, a running drain stops before the next task. Thread-safe.
 */
public final class SerialExecutor implements Executor {
  private static final Logger log = LoggerFactory.getLogger(SerialExecutor.class);
  private final Executor delegate;
  private final Queue<Runnable> tasks = new ArrayDeque<>();
  private boolean running;

  public SerialExecutor(Executor delegate) {
    this.delegate = delegate;
  }

  @Override
  public void execute(Runnable task) {
    synchronized (tasks) {
      tasks.add(task);
      if (running) {
        return;
      }
      running = true;
    }
    try {
      delegate.execute(this::drain);
    } catch (RejectedExecutionException e) {
      synchronized (tasks) {
        tasks.remove(task);
        running = false;
      }
      throw e;
    }
  }

  private boolean shutDown() {
    return delegate instanceof ExecutorService es && es.isShutdown();
  }

  private void drain() {
    while (true) {
      Runnable next;
      synchronized (tasks) {
        next = shutDown() ? null : tasks.poll();
        if (next == null) {
          running = false;
          return;
        }
      }
      try {
        next.run();
      } catch (RuntimeException | Error e) {
        log.warn("a serial task failed", e);
      }
    }
  }
}
