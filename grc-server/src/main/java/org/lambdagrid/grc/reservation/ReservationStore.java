package org.lambdagrid.grc.reservation;

import java.util.List;
import java.util.Optional;

/**
 * Where the GRC keeps its reservations: {@link JdbcReservationStore} in the daemon (durable:
 * {@link #add} and every later change of a record have committed when they return),
 * {@link InMemoryReservationStore} in process. Implementations are thread-safe.
 */
public interface ReservationStore {
  /** Adds a new reservation; its id must be unused. */
  void add(ReservationRecord reservation);

  Optional<ReservationRecord> get(String id);

  boolean contains(String id);

  /** Every reservation, newest first. */
  List<ReservationRecord> list();

  /** The reservation a user made with this client token, if any. */
  Optional<ReservationRecord> byClientToken(String user, String token);
}
