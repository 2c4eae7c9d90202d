package org.lambdagrid.grc.reservation;

import org.lambdagrid.grc.support.RecordStore;

/**
 * Where the GRC keeps its reservations: {@link JdbcReservationStore} in the daemon (durable:
 * {@link #add} and every later change of a record have committed when they return),
 * {@link InMemoryReservationStore} in process. Implementations are thread-safe.
 */
public interface ReservationStore extends RecordStore<ReservationRecord> {}
