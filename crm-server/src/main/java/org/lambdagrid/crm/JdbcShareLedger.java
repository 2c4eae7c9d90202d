package org.lambdagrid.crm;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.store.Migration;
import org.lambdagrid.crm.site.ShareLedger;
import org.lambdagrid.crm.site.ShareSpec;

/** The CRM's {@link ShareLedger} in its state database (H2 file by default). Thread-safe. */
public final class JdbcShareLedger implements ShareLedger, AutoCloseable {
  static final List<Migration> MIGRATIONS = List.of(Migration.of(1, "shares",
      "CREATE TABLE shares (job_id VARCHAR(64) PRIMARY KEY, node_count INTEGER NOT NULL,"
          + " cidr VARCHAR(20) NOT NULL, start_ms BIGINT, end_ms BIGINT,"
          + " user_name VARCHAR(64) NOT NULL, started INTEGER NOT NULL,"
          + " recorded_at BIGINT NOT NULL)"));

  private final Database db;

  JdbcShareLedger(Database db) {
    this.db = db;
  }

  /**
   * Opens (creating or migrating) the database the config names.
   *
   * @throws org.lambdagrid.common.store.StoreException naming the URL when it cannot be opened
   *     or another CRM holds it
   */
  public static JdbcShareLedger open(CrmConfig config) {
    return new JdbcShareLedger(Database.open(config.stateUrl(), config.state().user(),
        config.state().password(), "crm", MIGRATIONS));
  }

  public String url() {
    return db.url();
  }

  @Override
  public void reserved(ShareSpec s) {
    db.execute("INSERT INTO shares (job_id, node_count, cidr, start_ms, end_ms, user_name,"
        + " started, recorded_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)", s.jobId(), s.nodeCount(),
        s.range().toString(), s.start() == null ? null : s.start().toEpochMilli(),
        s.end() == null ? null : s.end().toEpochMilli(), s.user() == null ? "" : s.user(),
        System.currentTimeMillis());
  }

  @Override
  public void started(String jobId) {
    db.execute("UPDATE shares SET started = 1 WHERE job_id = ? AND started = 0", jobId);
  }

  @Override
  public void released(String jobId) {
    db.execute("DELETE FROM shares WHERE job_id = ?", jobId);
  }

  @Override
  public List<Recorded> load() {
    return db.transaction(c -> {
      List<Recorded> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT job_id, node_count, cidr,"
          + " start_ms, end_ms, user_name, started FROM shares ORDER BY recorded_at, job_id");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          long start = rs.getLong(4);
          Instant s = rs.wasNull() ? null : Instant.ofEpochMilli(start);
          long end = rs.getLong(5);
          Instant e = rs.wasNull() ? null : Instant.ofEpochMilli(end);
          out.add(new Recorded(new ShareSpec(rs.getString(1), rs.getInt(2),
              Ipv4Cidr.parse(rs.getString(3)), s, e, rs.getString(6)), rs.getInt(7) != 0));
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
