package org.lambdagrid.grc;

import java.util.List;
import java.util.Optional;

/**
 * Where the GRC keeps its reservations. In memory for now ({@link InMemoryReservationStore});
 * a durable store goes behind the same interface. Implementations are thread-safe.
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
