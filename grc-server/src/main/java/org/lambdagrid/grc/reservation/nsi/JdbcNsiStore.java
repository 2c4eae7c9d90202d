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
    return db.transaction(c -> {
      List<NsiRecord> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT reservation_id, site_a, site_b, gri,"
          + " connection_id, state, start_ms, end_ms FROM nsi_connections"
          + " ORDER BY reservation_id, site_a, site_b");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new NsiRecord(rs.getString(1), SitePair.of(rs.getString(2), rs.getString(3)),
              rs.getString(4), rs.getString(5), NsiRecord.State.valueOf(rs.getString(6)),
              rs.getLong(7), rs.getLong(8)));
        }
      }
      return out;
    });
  }
}
