package org.lambdagrid.grc.reservation;

import org.lambdagrid.grc.support.InMemoryRecords;

/** A {@link ReservationStore} that forgets everything on restart. */
public final class InMemoryReservationStore extends InMemoryRecords<ReservationRecord> implements ReservationStore {
  public InMemoryReservationStore() {
    super("reservation");
  }
}
