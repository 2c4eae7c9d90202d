package org.lambdagrid.crm.pilot;

/**
 * A started pilot, as returned by {@link PilotStarter#start}. The CRM keeps it for the life of
 * the share and passes it back to the same starter's {@link PilotStarter#stop} and
 * {@link PilotStarter#isAlive}. Implementations are starter-specific and thread-safe.
 */
public interface PilotHandle {
  /** The launch this handle was started for. */
  PilotLaunch launch();

  /**
   * A short, current description for logs and error messages, e.g.
   * {@code pid 4242, exited with code 1, log /run/lambdagrid/crm-a/pilots/j-1-0.log}.
   */
  String describe();
}
