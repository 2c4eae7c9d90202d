package org.lambdagrid.common;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;

/**
 * One {@link SerialExecutor} per key over a shared (bounded) pool: the tasks of one key run one
 * at a time in submission order, those of different keys run at the same time, as many as the
 * pool has threads. A key's lane exists only while it has tasks queued or running, so keys that
 * come and go (reservation ids) leave nothing behind, also when their tasks are rejected. Once the
 * pool is shut down every task is run or rejected as {@link SerialExecutor} says (after
 * {@code shutdownNow()}, hand what it returns to {@link SerialExecutor#rejectQueued}).
 * Thread-safe.
 */
public final class KeyedSerialExecutor<K> {
  private final Executor pool;
  private final Map<K, Lane> lanes = new HashMap<>();

  private static final class Lane {
    final SerialExecutor serial;
    int pending; // submitted and not yet returned; guarded by lanes

    Lane(Executor pool) {
      this.serial = new SerialExecutor(pool);
    }
  }

  public KeyedSerialExecutor(Executor pool) {
    this.pool = pool;
  }

  /**
   * Runs {@code task} after every task submitted before for {@code key} has returned. Once
   * queued, a task that can no longer run (the pool shut down) is rejected as
   * {@link SerialExecutor} says: a {@link SerialExecutor.Rejectable} one is told, and the lane
   * is left as if it had never been submitted.
   *
   * @throws RejectedExecutionException when the pool refuses it (shut down): the task is dropped
   *     (not told) and the lane left as if it had never been submitted
   */
  public void execute(K key, Runnable task) {
    Lane lane;
    synchronized (lanes) {
      lane = lanes.computeIfAbsent(key, k -> new Lane(pool));
      lane.pending++;
    }
    try {
      lane.serial.execute(SerialExecutor.task(() -> {
        try {
          task.run();
        } finally {
          done(key, lane);
        }
      }, e -> {
        done(key, lane);
        if (task instanceof SerialExecutor.Rejectable r) {
          r.rejected(e);
        }
      }));
    } catch (RejectedExecutionException e) {
      done(key, lane);
      throw e;
    }
  }

  /**
   * Runs {@code work} on {@code key}'s lane (as {@link #execute}). The future has its result or
   * what it threw; it fails with a {@link RejectedExecutionException} when the work will never
   * run, whether refused at once or rejected once queued (this method never throws that).
   */
  public <T> CompletableFuture<T> submit(K key, Supplier<T> work) {
    CompletableFuture<T> f = new CompletableFuture<>();
    try {
      execute(key, SerialExecutor.task(() -> {
        try {
          f.complete(work.get());
        } catch (RuntimeException | Error e) {
          f.completeExceptionally(e);
        }
      }, f::completeExceptionally));
    } catch (RejectedExecutionException e) {
      f.completeExceptionally(e);
    }
    return f;
  }

  private void done(K key, Lane lane) {
    synchronized (lanes) {
      if (--lane.pending == 0) {
        lanes.remove(key, lane);
      }
    }
  }

  /** How many keys have tasks queued or running (tests). */
  int activeKeys() {
    synchronized (lanes) {
      return lanes.size();
    }
  }
}
