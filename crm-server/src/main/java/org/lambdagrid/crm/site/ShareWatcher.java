package org.lambdagrid.crm.site;

import org.lambdagrid.proto.v1.WatchShareResponse;

/**
 * A WatchShare subscriber. Calls are serialised per share and never made under a lock; a new
 * watcher first receives the share's history, then live updates, then {@link #onReleased()}.
 */
public interface ShareWatcher {
  void onUpdate(WatchShareResponse update);

  /** The share was released; no more updates follow. */
  void onReleased();

  /**
   * This CRM is stopping but keeps the share for its next start (it is running and the state is
   * durable): no more updates from this process; watch again after the restart.
   */
  void onSuspended(String why);
}
