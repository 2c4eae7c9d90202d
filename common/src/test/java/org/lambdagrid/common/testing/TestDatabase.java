package org.lambdagrid.common.testing;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.store.Migration;
import org.lambdagrid.common.store.StateConfig;

/**
 * One test's state database on a {@link StoreBackend}.
 *
 * <ul>
 *   <li>H2: the file a daemon whose {@code state_dir} is DIR opens by default, {@code DIR/NAME}
 *       ({@code DIR/NAME.mv.db}); the daemon's config needs no {@code state:} section.
 *   <li>PostgreSQL: a fresh database of its own ({@code lgt_NAME_RANDOM}) on the server that
 *       {@code scripts/postgres-local} runs, created here and dropped by {@link #close}, together
 *       with any session a killed daemon left in it, so tests never see each other's data and
 *       leave none behind.
 * </ul>
 *
 * <p>PostgreSQL's connection facts are read from the file postgres-local writes: {@code env} in
 * its state directory, {@code $LAMBDAGRID_POSTGRES_DIR} (default {@code /run/lambdagrid-postgres},
 * the same variable and default as scripts/postgres-local).
 * Without that file, or without the right to read its password file (root's), {@link #create}
 * skips the test saying why (a JUnit assumption), unless {@code LAMBDAGRID_POSTGRES_REQUIRED=1}
 * (set by scripts/test as root) makes that a failure. A server that the file names but that
 * does not answer always fails the test. Not thread-safe; one per test.
 */
public final class TestDatabase implements AutoCloseable {
  /** scripts/postgres-local's state directory unless {@code LAMBDAGRID_POSTGRES_DIR} is set. */
  private static final String DEFAULT_DIR = "/run/lambdagrid-postgres";
  private static final SecureRandom RANDOM = new SecureRandom();

  private final StoreBackend backend;
  private final String url;
  private final String user;
  private final String password;
  private final String passwordFile;
  private final Server server; // PostgreSQL only
  private final String name; // PostgreSQL only: the database created for this test
  private boolean dropped;

  private TestDatabase(StoreBackend backend, String url, String user, String password,
      String passwordFile, Server server, String name) {
    this.backend = backend;
    this.url = url;
    this.user = user;
    this.password = password;
    this.passwordFile = passwordFile;
    this.server = server;
    this.name = name;
  }

  /** The postgres-local server as its env file describes it. */
  private record Server(String host, String port, String user, String adminUrl,
      String passwordFile, String password) {
    String url(String database) {
      return "jdbc:postgresql://" + host + ":" + port + "/" + database;
    }

    Connection admin() throws SQLException {
      return DriverManager.getConnection(adminUrl, user, password);
    }
  }

  /**
   * The database for one test.
   *
   * @param stateDir the daemon's {@code state_dir} (H2's file lives there)
   * @param name the daemon's database name ({@code grc}, {@code crm}, ...)
   */
  public static TestDatabase create(StoreBackend backend, Path stateDir, String name) {
    if (backend == StoreBackend.H2) {
      return new TestDatabase(backend, StateConfig.defaults().effectiveUrl(stateDir, name), null,
          null, null, null, null);
    }
    Server s = server();
    String db = "lgt_" + name.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]", "_")
        .replaceAll("^(.{0,30}).*", "$1") + "_" + HexFormat.of().toHexDigits(RANDOM.nextInt());
    try (Connection c = s.admin(); Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + db);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot create database " + db + " on " + s.adminUrl()
          + " (is scripts/postgres-local up? try: scripts/postgres-local status): "
          + e.getMessage(), e);
    }
    return new TestDatabase(backend, s.url(db), s.user(), s.password(), s.passwordFile(), s, db);
  }

  private static Server server() {
    String dir = System.getenv("LAMBDAGRID_POSTGRES_DIR");
    Path file = Path.of(dir == null || dir.isEmpty() ? DEFAULT_DIR : dir, "env");
    Map<String, String> facts = new HashMap<>();
    try {
      for (String line : Files.readAllLines(file)) {
        int eq = line.indexOf('=');
        if (eq > 0 && !line.startsWith("#")) {
          facts.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
        }
      }
    } catch (NoSuchFileException e) {
      skip("no PostgreSQL server for the tests: " + file + " is missing (as root: "
          + "scripts/postgres-local up, which scripts/test does)");
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + file + ": " + e, e);
    }
    String passwordFile = require(facts, file, "LAMBDAGRID_PG_PASSWORD_FILE");
    String password = null;
    try {
      password = Files.readAllLines(Path.of(passwordFile)).get(0);
    } catch (AccessDeniedException e) {
      skip("the PostgreSQL test server's password file " + passwordFile + " is root's; run the"
          + " tests as root");
    } catch (IOException | IndexOutOfBoundsException e) {
      throw new IllegalStateException("cannot read the password file " + passwordFile + " that "
          + file + " names: " + e, e);
    }
    return new Server(require(facts, file, "LAMBDAGRID_PG_HOST"),
        require(facts, file, "LAMBDAGRID_PG_PORT"), require(facts, file, "LAMBDAGRID_PG_USER"),
        require(facts, file, "LAMBDAGRID_PG_URL"), passwordFile, password);
  }

  private static String require(Map<String, String> facts, Path file, String key) {
    String v = facts.get(key);
    if (v == null || v.isEmpty()) {
      throw new IllegalStateException(file + " has no " + key + " (written by an older"
          + " scripts/postgres-local? run: scripts/postgres-local down; scripts/postgres-local up)");
    }
    return v;
  }

  private static void skip(String why) {
    if ("1".equals(System.getenv("LAMBDAGRID_POSTGRES_REQUIRED"))) {
      throw new IllegalStateException(why + " (LAMBDAGRID_POSTGRES_REQUIRED=1: not skipped)");
    }
    Assumptions.abort(why);
  }

  public StoreBackend backend() {
    return backend;
  }

  /** The JDBC URL as a daemon's config gives it (H2: the default for the state dir). */
  public String url() {
    return url;
  }

  /** null for H2. */
  public String user() {
    return user;
  }

  /** null for H2. */
  public String password() {
    return password;
  }

  /**
   * The daemon's {@code state:} section as YAML (ending in a newline), or "" for H2, whose
   * daemon finds its file from {@code state_dir}.
   */
  public String stateYaml() {
    if (backend == StoreBackend.H2) {
      return "";
    }
    return "state: {url: '" + url + "', user: " + user + ", password_file: " + passwordFile
        + "}\n";
  }

  /** The same as a {@link StateConfig} (H2: the defaults). */
  public StateConfig stateConfig() {
    return backend == StoreBackend.H2 ? StateConfig.defaults()
        : new StateConfig(url, user, passwordFile);
  }

  /** A plain JDBC connection (auto-commit), e.g. to check what a killed daemon left. */
  public Connection connect() throws SQLException {
    return user == null ? DriverManager.getConnection(url)
        : DriverManager.getConnection(url, user, password);
  }

  /** Opens it as a daemon does. */
  public Database open(String schema, List<Migration> migrations) {
    return Database.open(url, user, password, schema, migrations);
  }

  /**
   * PostgreSQL: drops the database, ending any session still in it. H2: nothing (the file is in
   * the test's temporary directory). Idempotent.
   */
  @Override
  public void close() {
    if (server == null || dropped) {
      return;
    }
    try (Connection c = server.admin(); Statement st = c.createStatement()) {
      st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
      dropped = true;
    } catch (SQLException e) {
      throw new IllegalStateException("cannot drop the test database " + name + ": "
          + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return backend + " " + url;
  }
}
