package org.lambdagrid.crm.site;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import org.lambdagrid.common.SerialExecutor;
import org.lambdagrid.proto.v1.WatchShareResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A share's WatchShare updates and their watchers. Each update is stamped with this process's
 * incarnation and the next sequence number, kept for late watchers (output only up to
 * {@link #OUTPUT_CAP} bytes; beyond it only live watchers see output), and delivered to the live
 * watchers on a serial executor in emission order, never under a lock.
 *
 * <p>Thread-safe. Its lock is taken after the share's, never before: nothing here calls out
 * while holding it.
 */
final class ShareHistory {
  private static final Logger log = LoggerFactory.getLogger(ShareHistory.class);
  /** Output kept for late watchers. */
  static final long OUTPUT_CAP = 4L << 20;

  private final String jobId;
  private final String incarnation;
  private final SerialExecutor delivery;

  // Guarded by this.
  private final List<WatchShareResponse> updates = new ArrayList<>();
  private final List<ShareWatcher> watchers = new ArrayList<>();
  private long outputBytes;
  private long seq; // of the last update emitted
  private boolean released;
  private boolean watched;

  /**
   * @param incarnation this process's id in every update
   * @param executor where watchers are called (one at a time, per history)
   */
  ShareHistory(String jobId, String incarnation, Executor executor) {
    this.jobId = jobId;
    this.incarnation = incarnation;
    this.delivery = new SerialExecutor(executor);
  }

  /** Stamps the update, keeps it (within the output cap) and hands it to the live watchers. */
  synchronized void emit(WatchShareResponse unstamped) {
    WatchShareResponse update = unstamped.toBuilder().setIncarnation(incarnation).setSeq(++seq)
        .build();
    if (!update.hasOutput()) {
      updates.add(update);
    } else if (outputBytes + update.getOutput().getData().size() <= OUTPUT_CAP) {
      outputBytes += update.getOutput().getData().size();
      updates.add(update);
    } // else: live watchers still get it; late ones miss it (the GRC watches from the start)
    List<ShareWatcher> ws = List.copyOf(watchers);
    deliver(() -> {
      for (ShareWatcher w : ws) {
        try {
          w.onUpdate(update);
        } catch (RuntimeException e) {
          log.warn("job {}: a watcher failed: {}", jobId, e.toString());
        }
      }
    });
  }

  /**
   * Adds a watcher: it gets the updates so far, then live ones (or, once released, just
   * {@link ShareWatcher#onReleased}). Returns a handle that removes it.
   */
  synchronized Runnable watch(ShareWatcher watcher) {
    watched = true;
    List<WatchShareResponse> past = List.copyOf(updates);
    boolean done = released;
    deliver(() -> {
      for (WatchShareResponse r : past) {
        watcher.onUpdate(r);
      }
      if (done) {
        safeReleased(watcher);
      }
    });
    if (!done) {
      watchers.add(watcher);
    }
    return () -> {
      synchronized (this) {
        watchers.remove(watcher);
      }
    };
  }

  /** True once anybody watched. */
  synchronized boolean watched() {
    return watched;
  }

  /** The share was released: every watcher hears {@link ShareWatcher#onReleased} and goes. */
  synchronized void released() {
    released = true;
    List<ShareWatcher> ws = List.copyOf(watchers);
    watchers.clear();
    deliver(() -> ws.forEach(ShareHistory::safeReleased));
  }

  /** This process stops serving the share: every watcher hears the reason and goes. */
  synchronized void suspended(String why) {
    List<ShareWatcher> ws = List.copyOf(watchers);
    watchers.clear();
    deliver(() -> ws.forEach(w -> {
      try {
        w.onSuspended(why);
      } catch (RuntimeException e) {
        log.debug("watcher failed on suspend: {}", e.toString());
      }
    }));
  }

  /** Hands {@code r} to the watchers' executor; once the CRM is closing it is dropped (debug). */
  private void deliver(Runnable r) {
    try {
      delivery.execute(SerialExecutor.task(r, e -> dropped()));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      dropped();
    }
  }

  private void dropped() {
    log.debug("job {}: the CRM is closing; an update to the share's watchers is dropped", jobId);
  }

  private static void safeReleased(ShareWatcher w) {
    try {
      w.onReleased();
    } catch (RuntimeException e) {
      log.debug("watcher failed on release: {}", e.toString());
    }
  }
}
