package org.lambdagrid.grc.reservation.nsi;

import java.util.List;
import org.lambdagrid.common.reservation.SitePair;

/**
 * The GRC's durable record of its NSI connections (one per reservation and site pair). Every
 * write has committed when it returns: the nsi provider writes before it sends what the record
 * must let it undo. Thread-safe.
 */
public interface NsiStore {
  /** Inserts or replaces the record of (reservation, pair). */
  void put(NsiRecord r);

  void remove(String reservationId, SitePair pair);

  List<NsiRecord> all();

  default List<NsiRecord> of(String reservationId) {
    return all().stream().filter(r -> r.reservationId().equals(reservationId)).toList();
  }

  /** Not durable (tests, and a GRC without a state database). */
  static NsiStore inMemory() {
    return new NsiStore() {
      private final java.util.Map<String, NsiRecord> rows = new java.util.TreeMap<>();

      private String key(String id, SitePair p) {
        return id + "/" + p.a() + "/" + p.b();
      }

      @Override
      public synchronized void put(NsiRecord r) {
        rows.put(key(r.reservationId(), r.pair()), r);
      }

      @Override
      public synchronized void remove(String reservationId, SitePair pair) {
        rows.remove(key(reservationId, pair));
      }

      @Override
      public synchronized List<NsiRecord> all() {
        return List.copyOf(rows.values());
      }
    };
  }
}
