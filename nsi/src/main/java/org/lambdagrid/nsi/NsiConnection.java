package org.lambdagrid.nsi;

/**
 * One connection as the provider reports it (querySummarySync): its id, the requester's global
 * reservation id, and the three NSI CS 2.0 state machines plus the data plane. State names are
 * the protocol's (ReserveHeld, ReserveStart, Provisioned, Released, Created, Terminated, ...).
 */
public record NsiConnection(String connectionId, String globalReservationId,
    String reservationState, String provisionState, String lifecycleState,
    boolean dataPlaneActive) {

  /** Terminated, or on its way there: nothing to undo. */
  public boolean terminated() {
    return "Terminated".equals(lifecycleState) || "Terminating".equals(lifecycleState)
        || "PassedEndTime".equals(lifecycleState);
  }
}
