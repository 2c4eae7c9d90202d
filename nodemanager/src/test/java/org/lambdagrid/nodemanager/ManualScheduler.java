package org.lambdagrid.nodemanager;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Delayed;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A scheduler on a time of its own: work without a delay runs at once on its one daemon thread;
 * delayed work waits until {@link #advance} moves the time past it. Only {@code schedule(Runnable,
 * ...)} and {@code execute} are meant to be used.
 */
final class ManualScheduler extends ScheduledThreadPoolExecutor {
  private final List<Held> held = new ArrayList<>();
  private long nowNanos;
  private long sequence;

  ManualScheduler() {
    super(1, r -> {
      Thread t = new Thread(r, "manual-scheduler");
      t.setDaemon(true);
      return t;
    });
  }

  @Override
  public synchronized ScheduledFuture<?> schedule(Runnable task, long delay, TimeUnit unit) {
    if (delay <= 0) {
      return super.schedule(task, 0, TimeUnit.NANOSECONDS);
    }
    if (isShutdown()) {
      throw new RejectedExecutionException("shut down");
    }
    Held h = new Held(nowNanos + unit.toNanos(delay), sequence++, task);
    held.add(h);
    return h;
  }

  /** Moves the time on by {@code d}; what falls due runs on the thread, in order of its time. */
  synchronized void advance(Duration d) {
    nowNanos += d.toNanos();
    List<Held> due = held.stream().filter(h -> h.dueNanos <= nowNanos)
        .sorted(Comparator.comparingLong((Held h) -> h.dueNanos).thenComparingLong(h -> h.seq))
        .toList();
    held.removeAll(due);
    for (Held h : due) {
      if (!h.task.isCancelled()) {
        super.schedule(h.task, 0, TimeUnit.NANOSECONDS);
      }
    }
  }

  private final class Held implements ScheduledFuture<Object> {
    final long dueNanos;
    final long seq;
    final FutureTask<Object> task;

    Held(long dueNanos, long seq, Runnable r) {
      this.dueNanos = dueNanos;
      this.seq = seq;
      this.task = new FutureTask<>(r, null);
    }

    @Override
    public long getDelay(TimeUnit unit) {
      synchronized (ManualScheduler.this) {
        return unit.convert(dueNanos - nowNanos, TimeUnit.NANOSECONDS);
      }
    }

    @Override
    public int compareTo(Delayed o) {
      return Long.compare(getDelay(TimeUnit.NANOSECONDS), o.getDelay(TimeUnit.NANOSECONDS));
    }

    @Override
    public boolean cancel(boolean mayInterrupt) {
      return task.cancel(mayInterrupt);
    }

    @Override
    public boolean isCancelled() {
      return task.isCancelled();
    }

    @Override
    public boolean isDone() {
      return task.isDone();
    }

    @Override
    public Object get() throws InterruptedException, ExecutionException {
      return task.get();
    }

    @Override
    public Object get(long timeout, TimeUnit unit)
        throws InterruptedException, ExecutionException, TimeoutException {
      return task.get(timeout, unit);
    }
  }
}
