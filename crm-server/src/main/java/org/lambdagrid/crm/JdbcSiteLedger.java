package org.lambdagrid.crm;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.store.Migration;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.site.ShareSpec;
import org.lambdagrid.crm.site.SiteLedger;
import org.lambdagrid.crm.site.SiteReservations;

/**
 * The CRM's {@link SiteLedger} in its state database (H2 file {@code STATE_DIR/crm.mv.db} by
 * default): table {@code holds} (one row per reservation id this site has seen, with its state,
 * window, nodes, sub-range, expiry and end instants, and whether its Prepare carried an overlay
 * end), table {@code shares} (jobs bound to a
 * reservation) and table {@code batch_reservations} (the batch system reservations this CRM
 * made or was about to make, with what it asked for, until they are deleted). Thread-safe.
 */
public final class JdbcSiteLedger implements SiteLedger, AutoCloseable {
  /** The CRM's schema. Never edit a released migration; append the next version. */
  static final List<Migration> MIGRATIONS = List.of(Migration.of(1, "holds, shares",
      "CREATE TABLE holds (id VARCHAR(64) PRIMARY KEY, state VARCHAR(16) NOT NULL,"
          + " start_ms BIGINT, end_ms BIGINT, node_count INTEGER, cidr VARCHAR(20),"
          + " user_name VARCHAR(64), expires_ms BIGINT, ended_ms BIGINT,"
          + " recorded_at BIGINT NOT NULL)",
      "CREATE TABLE shares (job_id VARCHAR(64) PRIMARY KEY, reservation_id VARCHAR(64) NOT NULL,"
          + " user_name VARCHAR(64) NOT NULL, started INTEGER NOT NULL,"
          + " recorded_at BIGINT NOT NULL)"),
      Migration.of(2, "running shares",
          "ALTER TABLE shares ADD COLUMN guest_user VARCHAR(64)",
          "ALTER TABLE shares ADD COLUMN slots INTEGER",
          "ALTER TABLE shares ADD COLUMN reconnect_hashes VARCHAR(1000000)"),
      Migration.of(3, "batch system reservations",
          "CREATE TABLE batch_reservations (reservation_id VARCHAR(64) PRIMARY KEY,"
              + " name VARCHAR(200) NOT NULL, recorded_at BIGINT NOT NULL)"),
      // Rows of version 3 keep NULLs here: what was asked is unknown, the name is all there is.
      Migration.of(4, "what batch system reservations asked for",
          "ALTER TABLE batch_reservations ADD COLUMN start_ms BIGINT",
          "ALTER TABLE batch_reservations ADD COLUMN end_ms BIGINT",
          "ALTER TABLE batch_reservations ADD COLUMN batch_users VARCHAR(200)",
          "ALTER TABLE batch_reservations ADD COLUMN batch_account VARCHAR(200)",
          "ALTER TABLE batch_reservations ADD COLUMN batch_nodes INTEGER",
          "ALTER TABLE batch_reservations ADD COLUMN batch_partition VARCHAR(200)"),
      // Rows of version 4 get 0: their holds load without an overlay end (a routed site's
      // records of them still build; a lost one is not noticed, as before).
      Migration.of(5, "whether a hold was prepared with an overlay end",
          "ALTER TABLE holds ADD COLUMN overlay_end INTEGER DEFAULT 0 NOT NULL"));

  private final Database db;

  JdbcSiteLedger(Database db) {
    this.db = db;
  }

  /**
   * Opens (creating or migrating) the database the config names.
   *
   * @throws org.lambdagrid.common.store.StoreException naming the URL when it cannot be opened
   *     or another CRM holds it
   */
  public static JdbcSiteLedger open(CrmConfig config) {
    return new JdbcSiteLedger(Database.open(config.stateUrl(), config.state().user(),
        config.state().password(), "crm", MIGRATIONS));
  }

  public String url() {
    return db.url();
  }

  @Override
  public void holdPrepared(SiteReservations.Held h, Instant expiresAt) {
    db.transaction(c -> {
      try (PreparedStatement d = c.prepareStatement("DELETE FROM holds WHERE id = ?")) {
        Database.bind(d, h.id());
        d.executeUpdate();
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO holds (id, state, start_ms,"
          + " end_ms, node_count, cidr, user_name, expires_ms, ended_ms, recorded_at,"
          + " overlay_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)")) {
        Database.bind(ps, h.id(), HoldTable.State.PREPARED.name(), h.window().startMillis(),
            h.window().endMillis(), h.nodes(), h.range().toString(), h.user(),
            expiresAt.toEpochMilli(), System.currentTimeMillis(), h.overlay() ? 1 : 0);
        ps.executeUpdate();
      }
      return null;
    });
  }

  @Override
  public void holdChanged(String id, HoldTable.State state, Instant endedAt) {
    db.transaction(c -> {
      int n;
      try (PreparedStatement ps = c.prepareStatement(
          "UPDATE holds SET state = ?, ended_ms = ? WHERE id = ?")) {
        Database.bind(ps, state.name(), endedAt == null ? null : endedAt.toEpochMilli(), id);
        n = ps.executeUpdate();
      }
      if (n == 0) {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO holds (id, state, ended_ms,"
            + " recorded_at) VALUES (?, ?, ?, ?)")) {
          Database.bind(ps, id, state.name(), endedAt == null ? null : endedAt.toEpochMilli(),
              System.currentTimeMillis());
          ps.executeUpdate();
        }
      }
      return null;
    });
  }

  @Override
  public List<Hold> loadHolds() {
    return db.transaction(c -> {
      List<Hold> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT id, state, start_ms, end_ms,"
          + " node_count, cidr, user_name, expires_ms, ended_ms, overlay_end FROM holds"
          + " ORDER BY COALESCE(ended_ms, 0), recorded_at, id");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String id = rs.getString(1);
          HoldTable.State st = HoldTable.State.valueOf(rs.getString(2));
          long start = rs.getLong(3);
          boolean hasWindow = !rs.wasNull();
          SiteReservations.Held h = hasWindow ? new SiteReservations.Held(id,
              new Window(Instant.ofEpochMilli(start), Instant.ofEpochMilli(rs.getLong(4))),
              rs.getInt(5), Ipv4Cidr.parse(rs.getString(6)), rs.getString(7),
              rs.getInt(10) != 0) : null;
          long exp = rs.getLong(8);
          Instant expires = rs.wasNull() ? null : Instant.ofEpochMilli(exp);
          long ended = rs.getLong(9);
          Instant endedAt = rs.wasNull() ? null : Instant.ofEpochMilli(ended);
          out.add(new Hold(id, st, h, expires, endedAt));
        }
      }
      return out;
    });
  }

  @Override
  public void forgetHoldsEndedBefore(Instant t) {
    db.execute("DELETE FROM holds WHERE ended_ms IS NOT NULL AND ended_ms < ?", t.toEpochMilli());
  }

  @Override
  public void shareOpened(ShareSpec s) {
    db.transaction(c -> {
      try (PreparedStatement d = c.prepareStatement("DELETE FROM shares WHERE job_id = ?")) {
        Database.bind(d, s.jobId());
        d.executeUpdate();
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO shares (job_id,"
          + " reservation_id, user_name, started, recorded_at) VALUES (?, ?, ?, 0, ?)")) {
        Database.bind(ps, s.jobId(), s.reservationId(), s.user() == null ? "" : s.user(),
            System.currentTimeMillis());
        ps.executeUpdate();
      }
      return null;
    });
  }

  @Override
  public void shareStarted(String jobId) {
    db.execute("UPDATE shares SET started = 1 WHERE job_id = ? AND started = 0", jobId);
  }

  @Override
  public void shareRunning(String jobId, Running r) {
    db.execute("UPDATE shares SET guest_user = ?, slots = ?, reconnect_hashes = ?"
        + " WHERE job_id = ?", r.guestUser(), r.slots(), String.join(",", r.reconnectHashes()),
        jobId);
  }

  @Override
  public void shareReleased(String jobId) {
    db.execute("DELETE FROM shares WHERE job_id = ?", jobId);
  }

  @Override
  public List<BoundShare> loadShares() {
    return db.transaction(c -> {
      List<BoundShare> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT job_id, reservation_id, user_name,"
          + " started, guest_user, slots, reconnect_hashes FROM shares"
          + " ORDER BY recorded_at, job_id");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String hashes = rs.getString(7);
          Running running = hashes == null ? null : new Running(rs.getString(5), rs.getInt(6),
              List.of(hashes.split(",")));
          out.add(new BoundShare(rs.getString(1), rs.getString(2), rs.getString(3),
              rs.getInt(4) != 0, running));
        }
      }
      return out;
    });
  }

  @Override
  public void batchReserving(String reservationId, String name, BatchReservations.Asked a) {
    db.transaction(c -> {
      try (PreparedStatement d = c.prepareStatement(
          "DELETE FROM batch_reservations WHERE reservation_id = ?")) {
        Database.bind(d, reservationId);
        d.executeUpdate();
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO batch_reservations"
          + " (reservation_id, name, recorded_at, start_ms, end_ms, batch_users, batch_account,"
          + " batch_nodes, batch_partition) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
        Database.bind(ps, reservationId, name, System.currentTimeMillis(),
            a == null ? null : a.start().toEpochMilli(), a == null ? null : a.end().toEpochMilli(),
            a == null ? null : a.users(), a == null ? null : a.account(),
            a == null ? null : a.nodes(), a == null ? null : a.partition());
        ps.executeUpdate();
      }
      return null;
    });
  }

  @Override
  public void batchGone(String reservationId) {
    db.execute("DELETE FROM batch_reservations WHERE reservation_id = ?", reservationId);
  }

  @Override
  public java.util.Map<String, BatchRecord> loadBatchReservations() {
    return db.transaction(c -> {
      java.util.Map<String, BatchRecord> out = new java.util.LinkedHashMap<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT reservation_id, name, start_ms,"
          + " end_ms, batch_users, batch_account, batch_nodes, batch_partition FROM"
          + " batch_reservations ORDER BY recorded_at, reservation_id");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          long start = rs.getLong(3);
          BatchReservations.Asked asked = rs.wasNull() ? null : new BatchReservations.Asked(
              Instant.ofEpochMilli(start), Instant.ofEpochMilli(rs.getLong(4)), rs.getString(5),
              rs.getString(6), rs.getInt(7), rs.getString(8));
          out.put(rs.getString(1), new BatchRecord(rs.getString(2), asked));
        }
      }
      return out;
    });
  }

  @Override
  public void close() {
    db.close();
  }
}
