package org.lambdagrid.crm.pilot;

/**
 * How a CRM gets one pilot (launcher + NodeManager) running per node: the seam between the CRM
 * and a site's batch system. The one-machine deployment uses {@link LocalPilotStarter}; a batch
 * system ({@link SlurmPilotStarter}) submits the same launcher; tests start an in-JVM test pilot.
 *
 * <p>A started pilot dials {@link PilotLaunch#crmPilotEndpoint()} and presents
 * {@link PilotLaunch#credential()}; the starter's job ends at getting it started. Implementations
 * are thread-safe: the CRM starts and stops pilots of different nodes concurrently.
 */
public interface PilotStarter {

  /**
   * Starts the pilot of one node. Called once per node, during SetupNodes (PHASE_LAUNCH). Not
   * idempotent: every call starts a new pilot. Runs on a SiteService thread but with the root
   * gRPC context, so calls the starter opens are not cancelled when SetupNodes returns.
   *
   * @throws PilotStartException if the pilot cannot be started; the message names the cause
   *     ("user 'bob' does not exist on this host"); the CRM fails the phase naming the node
   */
  PilotHandle start(PilotLaunch launch) throws PilotStartException;

  /**
   * Stops the pilot if it is still there: tells it to go (for the local starter, EOF on its
   * stdin), then kills whatever is left of it. Called when the share is released. Idempotent,
   * and succeeds when the pilot is already gone. Blocks until the pilot is gone or was killed.
   */
  void stop(PilotHandle handle);

  /**
   * Whether the pilot (its launcher) may still be running. Used while waiting for a pilot to
   * dial in, to fail the phase early when the launcher died first. Starters that cannot tell
   * return {@code true} (the default); the phase then fails at its deadline instead.
   */
  default boolean isAlive(PilotHandle handle) {
    return true;
  }

  /**
   * Why the pilot will not dial in, or null while it still may. Polled (every 100 ms per node
   * that has not dialled in yet) while PHASE_LAUNCH waits; a non-null answer fails the phase with
   * {@code node HOST failed phase LAUNCH: <answer>}. Must be cheap: starters that ask an outside
   * system cache the answer. The default reports a pilot that {@link #isAlive} says is gone.
   */
  default String launchProblem(PilotHandle handle) {
    return isAlive(handle) ? null
        : "its pilot exited before dialling in (" + handle.describe() + ")";
  }
}
