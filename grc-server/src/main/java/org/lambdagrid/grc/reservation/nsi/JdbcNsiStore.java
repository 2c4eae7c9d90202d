package org.lambdagrid.grc.reservation.nsi;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.store.Database;

/** {@link NsiStore} in the GRC's state database (table {@code nsi_connections}). */
public final class JdbcNsiStore implements NsiStore {
  private final Database db;

  public JdbcNsiStore(Database db) {
    this.db = db;
  }

  @Override
  public void put(NsiRecord r) {
    db.transaction(c -> {
      Database.update(c, "DELETE FROM nsi_connections WHERE reservation_id = ? AND site_a = ?"
          + " AND site_b = ?", r.reservationId(), r.pair().a(), r.pair().b());
      Database.update(c, "INSERT INTO nsi_connections (reservation_id, site_a, site_b, gri,"
          + " connection_id, state, start_ms, end_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          r.reservationId(), r.pair().a(), r.pair().b(), r.globalReservationId(),
          r.connectionId(), r.state().name(), r.startMillis(), r.endMillis());
      return null;
    });
  }

  @Override
  public void remove(String reservationId, SitePair pair) {
    db.execute("DELETE FROM nsi_connections WHERE reservation_id = ? AND site_a = ? AND site_b = ?",
        reservationId, pair.a(), pair.b());
  }

  @Override
  public List<NsiRecord> all() {
    return select("", List.of());
  }

  /** One reservation's records: a look-up by the primary key's first column, not a scan. */
  @Override
  public List<NsiRecord> of(String reservationId) {
    return select(" WHERE reservation_id = ?", List.of(reservationId));
  }

  private List<NsiRecord> select(String where, List<Object> args) {
    return db.transaction(c -> {
      List<NsiRecord> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT reservation_id, site_a, site_b, gri,"
          + " connection_id, state, start_ms, end_ms FROM nsi_connections" + where
          + " ORDER BY reservation_id, site_a, site_b")) {
        for (int i = 0; i < args.size(); i++) {
          ps.setObject(i + 1, args.get(i));
        }
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new NsiRecord(rs.getString(1), SitePair.of(rs.getString(2), rs.getString(3)),
                rs.getString(4), rs.getString(5), NsiRecord.State.valueOf(rs.getString(6)),
                rs.getLong(7), rs.getLong(8)));
          }
        }
      }
      return out;
    });
  }
}
