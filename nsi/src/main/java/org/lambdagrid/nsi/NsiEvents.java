package org.lambdagrid.nsi;

/**
 * Notifications a provider sends without being asked (on the requester endpoint). Called on a
 * CXF worker thread; implementations must not block.
 */
public interface NsiEvents {
  /** The provider dropped a held reservation whose commit did not come in time. */
  default void reserveTimeout(String connectionId, int timeoutSeconds) {}

  /** The data plane went up or down. */
  default void dataPlaneStateChange(String connectionId, boolean active) {}

  /** Something failed on the provider's side (activateFailed, deactivateFailed, forcedEnd...). */
  default void errorEvent(String connectionId, String event, String text) {}

  NsiEvents NONE = new NsiEvents() {};
}
