package org.lambdagrid.nsi;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;

/**
 * The OpenNSA that {@code scripts/opennsa-local up} runs, as its env file describes it, and a look
 * into OpenNSA's own database (the postgres-local one, as its env file describes it). Each env
 * file is {@code env} in the script's state directory: {@code $LAMBDAGRID_OPENNSA_DIR} (default
 * {@code /run/lambdagrid-opennsa}) and {@code $LAMBDAGRID_POSTGRES_DIR} (default
 * {@code /run/lambdagrid-postgres}), the same variables and defaults as the scripts.
 * Without that file (or the right to read its keys: root's) {@link #get} skips the test saying
 * why, unless {@code LAMBDAGRID_OPENNSA_REQUIRED=1} (scripts/test as root) makes it a failure.
 */
public record OpenNsa(Map<String, String> facts, Map<String, String> pg) {
  public static final String REQUESTER_NSA = "urn:ogf:network:lambdagrid.test:2026:nsa:grc";

  public static OpenNsa get() {
    Path env = envFile("LAMBDAGRID_OPENNSA_DIR", "/run/lambdagrid-opennsa");
    Path pgEnv = envFile("LAMBDAGRID_POSTGRES_DIR", "/run/lambdagrid-postgres");
    String why = null;
    Map<String, String> f = null;
    Map<String, String> p = null;
    try {
      f = read(env);
      p = read(pgEnv);
      if (!Files.isReadable(Path.of(f.get("NSI_REQUESTER_KEY")))) {
        why = "cannot read " + f.get("NSI_REQUESTER_KEY") + " (run as root)";
      }
    } catch (IOException e) {
      why = "no OpenNSA: " + e.getMessage() + " (run: scripts/opennsa-local up)";
    }
    if (why != null) {
      if ("1".equals(System.getenv("LAMBDAGRID_OPENNSA_REQUIRED"))) {
        throw new IllegalStateException(why);
      }
      Assumptions.abort(why);
    }
    return new OpenNsa(f, p);
  }

  /** {@code env} in the state directory {@code variable} names, or in {@code defaultDir}. */
  private static Path envFile(String variable, String defaultDir) {
    String dir = System.getenv(variable);
    return Path.of(dir == null || dir.isEmpty() ? defaultDir : dir, "env");
  }

  private static Map<String, String> read(Path file) throws IOException {
    Map<String, String> m = new HashMap<>();
    for (String line : Files.readAllLines(file)) {
      int eq = line.indexOf('=');
      if (eq > 0 && !line.startsWith("#")) {
        m.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
      }
    }
    return m;
  }

  public URI providerUrl() {
    return URI.create(facts.get("NSI_PROVIDER_URL"));
  }

  public String providerNsa() {
    return facts.get("NSI_PROVIDER_NSA");
  }

  /** The STP of a site's port (alpha .. hotel), any VLAN of its range. */
  public String stp(String port) {
    return facts.get("NSI_STP_PREFIX") + port + "?vlan=1780-1789";
  }

  public NsiTls tls() {
    return new NsiTls(Path.of(facts.get("NSI_REQUESTER_KEY")),
        Path.of(facts.get("NSI_REQUESTER_CRT")), Path.of(facts.get("NSI_CA")));
  }

  /** A requester config on a free loopback port. */
  public NsiRequester.Config config(Duration replyTimeout) {
    return new NsiRequester.Config(providerUrl(), providerNsa(), REQUESTER_NSA,
        URI.create("https://localhost:" + org.lambdagrid.common.testing.FreePorts.pick()
            + "/nsi/requester"), tls(), replyTimeout);
  }

  /**
   * The connection as OpenNSA's database holds it (service_connections, and the data plane of
   * its dud backend connection: the aggregator's own copy in sub_connections can be overwritten
   * by a stale save when the data plane comes up at once), or null:
   * "reservation/provision/lifecycle/dataPlaneActive", e.g. "ReserveStart/Provisioned/Created/true".
   */
  public String backendState(String connectionId) throws SQLException, IOException {
    return state("sc.connection_id", connectionId);
  }

  /** Like {@link #backendState}, for the connection with this global reservation id. */
  public String stateByGri(String gri) throws SQLException, IOException {
    return state("sc.global_reservation_id", gri);
  }

  /** The connections OpenNSA's database holds that are not terminated (id and states). */
  public java.util.List<String> liveConnections() throws SQLException, IOException {
    java.util.List<String> out = new java.util.ArrayList<>();
    try (Connection c = connect(); PreparedStatement st = c.prepareStatement("SELECT"
        + " connection_id, reservation_state, provision_state, lifecycle_state FROM"
        + " service_connections WHERE lifecycle_state <> 'Terminated'");
        ResultSet r = st.executeQuery()) {
      while (r.next()) {
        out.add(r.getString(1) + " " + r.getString(2) + "/" + r.getString(3) + "/" + r.getString(4));
      }
    }
    return out;
  }

  private Connection connect() throws SQLException, IOException {
    String url = "jdbc:postgresql://" + pg.get("LAMBDAGRID_PG_HOST") + ":"
        + pg.get("LAMBDAGRID_PG_PORT") + "/" + facts.get("NSI_DB");
    String pw = Files.readString(Path.of(pg.get("LAMBDAGRID_PG_PASSWORD_FILE"))).strip();
    return DriverManager.getConnection(url, pg.get("LAMBDAGRID_PG_USER"), pw);
  }

  private String state(String column, String value) throws SQLException, IOException {
    String url = "jdbc:postgresql://" + pg.get("LAMBDAGRID_PG_HOST") + ":"
        + pg.get("LAMBDAGRID_PG_PORT") + "/" + facts.get("NSI_DB");
    String pw = Files.readString(Path.of(pg.get("LAMBDAGRID_PG_PASSWORD_FILE"))).strip();
    try (Connection c = DriverManager.getConnection(url, pg.get("LAMBDAGRID_PG_USER"), pw);
        PreparedStatement st = c.prepareStatement("SELECT sc.reservation_state,"
            + " sc.provision_state, sc.lifecycle_state, coalesce(bool_or(b.data_plane_active),"
            + " false) FROM service_connections sc LEFT JOIN sub_connections sub"
            + " ON sub.service_connection_id = sc.id LEFT JOIN generic_backend_connections b"
            + " ON b.connection_id = sub.connection_id WHERE " + column + " = ? GROUP BY sc.id")) {
      st.setString(1, value);
      try (ResultSet r = st.executeQuery()) {
        return r.next() ? r.getString(1) + "/" + r.getString(2) + "/" + r.getString(3) + "/"
            + r.getBoolean(4) : null;
      }
    }
  }

  /**
   * Starts a requester on a free loopback port. The port is free when picked but another process
   * may take it before Jetty binds it (it happened in a run): then a new port, at most 5 tries.
   */
  public NsiRequester start(Duration replyTimeout, NsiEvents events) {
    return start(replyTimeout, events, List.of());
  }

  /** A requester that accepts the provider's certificate only for {@code providerIdentity}. */
  public NsiRequester start(Duration replyTimeout, NsiEvents events,
      List<String> providerIdentity) {
    for (int attempt = 1; ; attempt++) {
      try {
        NsiRequester.Config c = config(replyTimeout);
        return NsiRequester.start(new NsiRequester.Config(c.providerUrl(), c.providerNsa(),
            c.requesterNsa(), c.replyTo(), c.tls(), c.replyTimeout(), providerIdentity), events);
      } catch (NsiException e) {
        if (attempt == 5 || !inUse(e)) {
          throw e;
        }
      }
    }
  }

  private static boolean inUse(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.net.BindException
          || (t.getMessage() != null && t.getMessage().contains("in use"))) {
        return true;
      }
    }
    return false;
  }
}
