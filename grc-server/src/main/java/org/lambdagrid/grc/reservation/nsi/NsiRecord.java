package org.lambdagrid.grc.reservation.nsi;

import org.lambdagrid.common.reservation.SitePair;

/**
 * What the GRC knows of one NSI connection: the reservation and site pair it serves, the global
 * reservation id the GRC gave it (recorded before the reserve is sent, so a connection whose id
 * never reached the GRC can still be found by querySummary), the provider's connection id (null
 * until the provider acknowledged the reserve) and how far the GRC took it.
 */
public record NsiRecord(String reservationId, SitePair pair, String globalReservationId,
    String connectionId, State state, long startMillis, long endMillis) {

  /** How far the GRC took the connection; the NSI states it stands for are in the docs. */
  public enum State {
    /** reserve sent (connection id known once acknowledged), not yet confirmed */
    RESERVING,
    /** reserveConfirmed: ReserveHeld at the provider, awaiting the GRC's commit or abort */
    HELD,
    /** reserveCommitConfirmed: the reservation is the GRC's until it terminates it */
    COMMITTED,
    /** provisionConfirmed: the data plane is up during the window */
    PROVISIONED
  }

  public NsiRecord with(String id, State s) {
    return new NsiRecord(reservationId, pair, globalReservationId, id, s, startMillis, endMillis);
  }

  /** Committed at the provider: kept across a GRC restart. */
  public boolean committed() {
    return state == State.COMMITTED || state == State.PROVISIONED;
  }
}
