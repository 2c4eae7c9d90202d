package org.lambdagrid.grc;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.store.Migration;
import org.lambdagrid.grc.job.JdbcJobStore;
import org.lambdagrid.grc.reservation.JdbcReservationStore;
import org.lambdagrid.grc.site.AddressAllocator;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.grc.site.SiteRegistry;

/**
 * The GRC's durable state: registered sites, address leases (keyed by reservation id),
 * reservations ({@link JdbcReservationStore}) and job records (with their events, host lists and
 * output) in one {@link Database}. The allocator and the registry write through
 * it ({@link #leases()}, {@link #saveSite}); {@link JdbcJobStore} writes the jobs. Every write has
 * committed when its method returns, so whatever a client was told has survived a crash.
 *
 * <p>Thread-safe (the database serialises transactions).
 */
public final class GrcState implements AutoCloseable {
  /** The GRC's schema. Never edit a released migration; append the next version. */
  static final List<Migration> MIGRATIONS = List.of(Migration.of(1, "sites, leases, jobs",
      "CREATE TABLE sites (name VARCHAR(32) PRIMARY KEY, crm_endpoint VARCHAR(300) NOT NULL,"
          + " node_capacity INTEGER NOT NULL, ranges VARCHAR(4000) NOT NULL,"
          + " slots_per_node INTEGER NOT NULL, registered_at BIGINT NOT NULL)",
      "CREATE TABLE leases (job_id VARCHAR(64) NOT NULL, site VARCHAR(32) NOT NULL,"
          + " cidr VARCHAR(20) NOT NULL, PRIMARY KEY (job_id, site))",
      "CREATE TABLE jobs (id VARCHAR(64) PRIMARY KEY, user_name VARCHAR(64) NOT NULL,"
          + " client_token VARCHAR(200) NOT NULL, created_at BIGINT NOT NULL,"
          + " state VARCHAR(32) NOT NULL, job ${bytes} NOT NULL, nodes ${bytes})",
      "CREATE TABLE job_events (job_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL,"
          + " event ${bytes} NOT NULL, PRIMARY KEY (job_id, seq))",
      "CREATE TABLE job_output (job_id VARCHAR(64) NOT NULL, seq INTEGER NOT NULL,"
          + " chunk ${bytes} NOT NULL, PRIMARY KEY (job_id, seq))"),
      Migration.of(2, "reservations",
          "CREATE TABLE reservations (id VARCHAR(64) PRIMARY KEY, user_name VARCHAR(64) NOT NULL,"
              + " client_token VARCHAR(200) NOT NULL, created_at BIGINT NOT NULL,"
              + " state VARCHAR(32) NOT NULL, own_job VARCHAR(64), pair_bps VARCHAR(4000) NOT NULL,"
              + " reservation ${bytes} NOT NULL)"),
      Migration.of(3, "output offsets: a finished job's output is read from here on demand",
          "ALTER TABLE job_output ADD COLUMN start_offset BIGINT",
          "ALTER TABLE job_output ADD COLUMN data_length INTEGER",
          "CREATE INDEX job_output_offset ON job_output (job_id, start_offset)"),
      Migration.of(4, "a routed site's overlay end (crm.yaml overlay:)",
          "ALTER TABLE sites ADD COLUMN overlay_endpoint VARCHAR(64)",
          "ALTER TABLE sites ADD COLUMN overlay_netns VARCHAR(64)",
          "ALTER TABLE sites ADD COLUMN overlay_mtu INTEGER"),
      Migration.of(5, "nsi connections: the nsi network provider's connection ids, for undo",
          "CREATE TABLE nsi_connections (reservation_id VARCHAR(64) NOT NULL,"
              + " site_a VARCHAR(32) NOT NULL, site_b VARCHAR(32) NOT NULL,"
              + " gri VARCHAR(100) NOT NULL, connection_id VARCHAR(200), state VARCHAR(16) NOT NULL,"
              + " start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL,"
              + " PRIMARY KEY (reservation_id, site_a, site_b))"));

  private final Database db;

  GrcState(Database db) {
    this.db = db;
  }

  /**
   * Opens (creating or migrating) the state database the config names.
   *
   * @throws org.lambdagrid.common.store.StoreException naming the URL when it cannot be opened
   *     or another GRC holds it
   */
  public static GrcState open(GrcConfig config) {
    return new GrcState(Database.open(config.stateUrl(), config.state().user(),
        config.state().password(), "grc", MIGRATIONS));
  }

  /** An in-memory database (tests): durable only while the named database is open. */
  public static GrcState inMemory(String name) {
    return new GrcState(Database.inMemory(name, "grc", MIGRATIONS));
  }

  /** The database itself, for the job and reservation stores. */
  public Database database() {
    return db;
  }

  public String url() {
    return db.url();
  }

  // ------------------------------------------------------------------ sites

  /** Writes a (re-)registered site; for {@link SiteRegistry}. */
  void saveSite(Site site) {
    db.transaction(c -> {
      Database.update(c, "DELETE FROM sites WHERE name = ?", site.name());
      Site.Overlay o = site.overlay();
      Database.update(c, "INSERT INTO sites (name, crm_endpoint, node_capacity, ranges,"
          + " slots_per_node, registered_at, overlay_endpoint, overlay_netns, overlay_mtu)"
          + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", site.name(),
          site.crmEndpoint().toString(), site.nodeCapacity(), site.ranges().stream().map(Object::toString)
              .collect(Collectors.joining(",")), site.slotsPerNode(),
          site.registeredAt().toEpochMilli(), o == null ? null : o.endpoint(), o == null ? null : o.netns(),
          o == null ? null : o.underlayMtu());
      return null;
    });
  }

  List<Site> loadSites() {
    return db.transaction(c -> {
      List<Site> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT name, crm_endpoint, node_capacity,"
          + " ranges, slots_per_node, registered_at, overlay_endpoint, overlay_netns, overlay_mtu"
          + " FROM sites ORDER BY name");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          List<Ipv4Cidr> ranges = Arrays.stream(rs.getString(4).split(","))
              .map(Ipv4Cidr::parse).collect(Collectors.toList());
          Site.Overlay o = rs.getString(7) == null ? null
              : new Site.Overlay(rs.getString(7), rs.getString(8) == null ? "" : rs.getString(8), rs.getInt(9));
          out.add(new Site(rs.getString(1), Endpoint.parse(rs.getString(2)), rs.getInt(3),
              ranges, rs.getInt(5), Instant.ofEpochMilli(rs.getLong(6)), o));
        }
      }
      return out;
    });
  }

  // ------------------------------------------------------------------ leases

  /** The allocator's ledger. */
  AddressAllocator.Ledger leases() {
    return new AddressAllocator.Ledger() {
      @Override
      public void leased(String reservationId, Map<String, Ipv4Cidr> blocks) {
        db.transaction(c -> {
          for (Map.Entry<String, Ipv4Cidr> e : blocks.entrySet()) {
            Database.update(c, "INSERT INTO leases (job_id, site, cidr) VALUES (?, ?, ?)",
                reservationId, e.getKey(), e.getValue().toString());
          }
          return null;
        });
      }

      @Override
      public void released(String reservationId) {
        db.execute("DELETE FROM leases WHERE job_id = ?", reservationId);
      }
    };
  }

  /** job id -> site -> block, as recorded. */
  Map<String, Map<String, Ipv4Cidr>> loadLeases() {
    return db.transaction(c -> {
      Map<String, Map<String, Ipv4Cidr>> out = new LinkedHashMap<>();
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT job_id, site, cidr FROM leases ORDER BY job_id, site");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.computeIfAbsent(rs.getString(1), k -> new TreeMap<>())
              .put(rs.getString(2), Ipv4Cidr.parse(rs.getString(3)));
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
