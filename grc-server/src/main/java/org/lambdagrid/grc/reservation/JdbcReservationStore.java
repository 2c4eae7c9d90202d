package org.lambdagrid.grc.reservation;

import com.google.protobuf.InvalidProtocolBufferException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.store.StoreException;
import org.lambdagrid.grc.support.InMemoryRecords;
import org.lambdagrid.proto.v1.Reservation;

/**
 * The GRC's reservations in its state database (table {@code reservations}, beside the jobs and
 * the leases): one row per reservation with its protobuf snapshot (spec, window, nodes, ranges,
 * bridges, state, message, jobs), the job it was made for and the bandwidth held per site pair.
 * {@link #add} and every later change of a record have committed when they return, so a client
 * told "committed" can rely on it. Reads come from memory (loaded at construction). Thread-safe.
 */
public final class JdbcReservationStore extends InMemoryRecords<ReservationRecord> implements ReservationStore {
  private final Database db;
  /** The records themselves; this class adds the writes. */

  /** @param db the GRC's state database, with its tables created */
  public JdbcReservationStore(Database db) {
    super("reservation");
    this.db = db;
    load();
  }

  @Override
  public void add(ReservationRecord r) {
    if (contains(r.id())) {
      throw new IllegalStateException("reservation id " + r.id() + " is already used");
    }
    Reservation p = r.toProto();
    db.transaction(c -> {
      Database.update(c, "INSERT INTO reservations (id, user_name, client_token, created_at,"
          + " state, own_job, pair_bps, reservation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", r.id(),
          r.user(), r.spec().getClientToken(), r.createdAt().toEpochMilli(), p.getState().name(),
          r.ownJob(), formatPairs(r.pairBps()), p.toByteArray());
      return null;
    });
    super.add(r);
    r.persistWith(this::write);
  }

  /** Writes the record's current snapshot; called under its monitor after each change. */
  private void write(ReservationRecord r) {
    Reservation p = r.toProto();
    db.execute("UPDATE reservations SET state = ?, reservation = ? WHERE id = ?",
        p.getState().name(), p.toByteArray(), r.id());
  }

  private void load() {
    db.transaction(c -> {
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT id, own_job, pair_bps, reservation FROM reservations ORDER BY created_at, id");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          Reservation p;
          try {
            p = Reservation.parseFrom(rs.getBytes(4));
          } catch (InvalidProtocolBufferException e) {
            throw new StoreException("reservation " + rs.getString(1) + " in " + db.url()
                + " cannot be read: " + e.getMessage(), e);
          }
          ReservationRecord r = ReservationRecord.restore(p, rs.getString(2),
              parsePairs(rs.getString(3)));
          super.add(r);
          r.persistWith(this::write);
        }
      }
      return null;
    });
  }

  static String formatPairs(Map<SitePair, Long> bps) {
    return bps.entrySet().stream().map(e -> e.getKey().a() + "," + e.getKey().b() + "="
        + e.getValue()).collect(Collectors.joining(";"));
  }

  static Map<SitePair, Long> parsePairs(String s) {
    Map<SitePair, Long> out = new TreeMap<>();
    if (s == null || s.isEmpty()) {
      return out;
    }
    for (String part : s.split(";")) {
      String[] kv = part.split("=");
      String[] ab = kv[0].split(",");
      out.put(SitePair.of(ab[0], ab[1]), Long.parseLong(kv[1]));
    }
    return out;
  }
}
