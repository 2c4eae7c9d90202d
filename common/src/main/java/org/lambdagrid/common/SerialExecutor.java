package org.lambdagrid.common;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs tasks one at a time, in submission order, on a shared executor: a task starts only after
 * the one submitted before it has returned, and at most one pool thread is used at a time. A task
 * that throws is logged and the next one runs. Thread-safe.
 *
 * <p>Every task submitted is either run, or rejected exactly once:
 *
 * <ul>
 *   <li>{@link #execute} throws {@link RejectedExecutionException} (and the task is not queued)
 *       when the pool is shut down, or refuses the drain (shut down or full);
 *   <li>a task already queued that can no longer run is rejected: when the pool refuses the drain
 *       it was queued for, when a running drain finds the pool shut down (it stops before the
 *       next task; the running task is not interrupted by this executor), or when the pool's
 *       {@code shutdownNow()} dropped the drain and its owner hands the dropped runnables to
 *       {@link #rejectQueued}. A {@link Rejectable} task is told ({@link Rejectable#rejected},
 *       on the thread that found it cannot run); any other is dropped with a warning.
 * </ul>
 *
 * <p>Only an {@link ExecutorService} delegate is known to be shut down; over any other executor
 * a task is rejected only when the executor refuses the drain.
 */
public final class SerialExecutor implements Executor {
  private static final Logger log = LoggerFactory.getLogger(SerialExecutor.class);

  /** A task that wants to know when it was accepted but will never run. */
  public interface Rejectable extends Runnable {
    /** Called at most once, instead of {@link #run}; should not block. */
    void rejected(RejectedExecutionException e);
  }

  /** {@code run}, told through {@code onRejected} if it will never run. */
  public static Rejectable task(Runnable run, Consumer<RejectedExecutionException> onRejected) {
    return new Rejectable() {
      @Override
      public void run() {
        run.run();
      }

      @Override
      public void rejected(RejectedExecutionException e) {
        onRejected.accept(e);
      }
    };
  }

  /**
   * For the owner of a pool that was shut down with {@code shutdownNow()}: pass the runnables it
   * returned; every serial executor whose drain is among them rejects its queued tasks. Other
   * runnables are ignored. A pool that wraps what it is given (a ForkJoinPool, a scheduled
   * executor) returns no drains, so the tasks queued behind them are never told: use a
   * ThreadPoolExecutor (as {@code Executors.newFixedThreadPool} makes) where that matters.
   */
  public static void rejectQueued(List<Runnable> notRun) {
    for (Runnable r : notRun) {
      if (r instanceof Drain d) {
        d.owner().rejectAll(new RejectedExecutionException("the pool was shut down"));
      }
    }
  }

  private final Executor delegate;
  private final Queue<Runnable> tasks = new ArrayDeque<>(); // guarded by tasks
  private boolean running; // a drain is queued in, or running on, the pool; guarded by tasks
  private final Drain drain = new Drain();

  public SerialExecutor(Executor delegate) {
    this.delegate = delegate;
  }

  /**
   * Queues {@code task} behind the ones submitted before it.
   *
   * @throws RejectedExecutionException the pool is shut down or refuses the drain: {@code task}
   *     is not queued (and not told through {@link Rejectable#rejected})
   */
  @Override
  public void execute(Runnable task) {
    synchronized (tasks) {
      if (shutDown()) {
        throw new RejectedExecutionException("the pool is shut down");
      }
      tasks.add(task);
      if (running) {
        return;
      }
      running = true;
    }
    try {
      delegate.execute(drain);
    } catch (RejectedExecutionException e) {
      List<Runnable> others;
      synchronized (tasks) {
        tasks.remove(task);
        others = takeAll();
      }
      rejectEach(others, e); // queued behind this drain by other threads meanwhile
      throw e;
    }
  }

  private boolean shutDown() {
    return delegate instanceof ExecutorService es && es.isShutdown();
  }

  /** Empties the queue and marks no drain running; caller holds {@code tasks}. */
  private List<Runnable> takeAll() {
    List<Runnable> all = new ArrayList<>(tasks);
    tasks.clear();
    running = false;
    return all;
  }

  private void rejectAll(RejectedExecutionException e) {
    List<Runnable> all;
    synchronized (tasks) {
      all = takeAll();
    }
    rejectEach(all, e);
  }

  private static void rejectEach(List<Runnable> dropped, RejectedExecutionException e) {
    for (Runnable t : dropped) {
      if (t instanceof Rejectable r) {
        try {
          r.rejected(e);
        } catch (RuntimeException | Error x) {
          log.warn("a rejected serial task failed to take its rejection", x);
        }
      } else {
        log.warn("a queued serial task was dropped: {}", e.getMessage());
      }
    }
  }

  /** Runs the queue until it is empty, or rejects what is left once the pool is shut down. */
  private final class Drain implements Runnable {
    SerialExecutor owner() {
      return SerialExecutor.this;
    }

    @Override
    public void run() {
      while (true) {
        Runnable next;
        List<Runnable> dropped = null;
        synchronized (tasks) {
          if (shutDown()) {
            next = null;
            dropped = takeAll();
          } else {
            next = tasks.poll();
            if (next == null) {
              running = false;
              return;
            }
          }
        }
        if (dropped != null) {
          rejectEach(dropped, new RejectedExecutionException("the pool was shut down"));
          return;
        }
        try {
          next.run();
        } catch (RuntimeException | Error e) {
          log.warn("a serial task failed", e);
        }
      }
    }
  }
}
