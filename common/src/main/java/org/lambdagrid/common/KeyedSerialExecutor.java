package org.lambdagrid.common;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * One {@link SerialExecutor} per key over a shared (bounded) pool: the tasks of one key run one
 * at a time in submission order, those of different keys run at the same time, as many as the
 * pool has threads. A key's lane exists only while it has tasks queued or running, so keys that
 * come and go (reservation ids) leave nothing behind. Thread-safe.
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
   * Runs {@code task} after every task submitted before for {@code key} has returned.
   *
   * @throws RejectedExecutionException when the pool refuses it (shut down): the task is dropped
   *     and the lane left as if it had never been submitted
   */
  public void execute(K key, Runnable task) {
    Lane lane;
    synchronized (lanes) {
      lane = lanes.computeIfAbsent(key, k -> new Lane(pool));
      lane.pending++;
    }
    try {
      lane.serial.execute(() -> {
        try {
          task.run();
        } finally {
          done(key, lane);
        }
      });
    } catch (RejectedExecutionException e) {
      done(key, lane);
      throw e;
    }
  }

  private void done(K key, Lane lane) {
    synchronized (lanes) {
      if (--lane.pending == 0) {
        lanes.remove(key, lane);
      }
    }
  }

  /** {@code key}'s lane as an {@link Executor} (e.g. for {@code CompletableFuture.runAsync}). */
  public Executor lane(K key) {
    return task -> execute(key, task);
  }

  /** How many keys have tasks queued or running (tests). */
  public int activeKeys() {
    synchronized (lanes) {
      return lanes.size();
    }
  }
}
