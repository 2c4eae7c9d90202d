package org.lambdagrid.common.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A daemon's state database over JDBC: embedded H2 (a file in the state directory, the
 * default) or PostgreSQL. Opening it creates or migrates the schema (a {@code schema_version}
 * table records each applied {@link Migration}); every read and write then runs in
 * {@link #transaction}, which commits before it returns, so a caller that replies after it
 * replies only about durable state.
 *
 * <p>Durability: H2 is opened with {@code WRITE_DELAY=0} and every transaction on a file
 * database ends with a {@code CHECKPOINT}, so the commit is in the file (the OS's page cache)
 * before {@code transaction} returns and survives a killed process. (Without the checkpoint, a
 * commit that finds H2's store busy leaves the write to a later one: the GRC crash test lost
 * a few hundred milliseconds of acknowledged commits that way.) It does not fsync per commit,
 * so a power loss may lose the last commits. PostgreSQL commits as its
 * server is configured ({@code synchronous_commit}).
 *
 * <p>Growth: the H2 file is append-only (see {@link #open}), so it grows with every commit.
 * When it reaches {@link #compactAt} (and twice its size after the last compaction), the next
 * commit is followed, on the database's thread and so between transactions, by
 * {@code SHUTDOWN COMPACT} and a reopen: H2 closes the store cleanly, writes a compacted copy
 * to a temporary file and renames it over the original, so a process killed at any moment
 * leaves either the closed original or the complete copy, each holding every commit. Callers
 * wait for that (tens of milliseconds for a small state). The file thus stays below about
 * twice its live size or {@code compactAt}, whichever is larger.
 *
 * <p>Single writer: an H2 file can be open in one process only; a second daemon on the same
 * file fails to open it with a message that says so. On PostgreSQL the connection holds a
 * session-level advisory lock named by the schema ({@code grc}, {@code crm}) and the connection's
 * {@code current_schema()} for as long as it lives (taken again on every reconnection), so a
 * second daemon on the same database and schema is refused the same way; the server frees the
 * lock when the session ends, which a killed daemon's does at once (its socket closes).
 *
 * <p>Thread-safe: transactions are serialised on one connection (the daemons' write rates are
 * small) and run on the database's own thread, so interrupting a caller (a job's runner is
 * cancelled by interrupting it) never interrupts H2's file I/O, which would close the database;
 * the caller waits for its transaction uninterruptibly and keeps its interrupt. A broken
 * connection is reopened at the next transaction.
 */
public final class Database implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Database.class);
  /** An H2 file is compacted while running once it has grown past this (and doubled). */
  public static final long DEFAULT_COMPACT_AT = 16L << 20;

  /** What a {@link #transaction} runs. */
  @FunctionalInterface
  public interface Work<T> {
    T run(Connection c) throws SQLException;
  }

  /** The SQL flavour; only the binary column type differs. */
  public enum Dialect {
    H2("VARBINARY"), POSTGRESQL("BYTEA");

    private final String bytes;

    Dialect(String bytes) {
      this.bytes = bytes;
    }
  }

  private final String url;
  private final String user;
  private final String password;
  private final String schema;
  private final Dialect dialect;
  private final boolean checkpointEachCommit;
  private final Path h2File; // the .mv.db file of an H2 file database, else null
  private final long compactAt;
  private long compactedSize; // guarded by this: the file's size after the last compaction
  private int compactions; // guarded by this
  private final java.util.concurrent.ExecutorService thread;
  private volatile Thread dbThread;
  private Connection connection; // guarded by this
  private boolean closed; // guarded by this

  private Database(String url, String user, String password, String schema, Dialect dialect,
      long compactAt) {
    this.url = url;
    this.user = user;
    this.password = password;
    this.schema = schema;
    this.dialect = dialect;
    this.checkpointEachCommit = url.startsWith("jdbc:h2:file:");
    this.h2File = checkpointEachCommit ? Path.of(h2Path(url) + ".mv.db") : null;
    this.compactAt = compactAt;
    this.thread = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "state-db");
      t.setDaemon(true);
      dbThread = t;
      return t;
    });
  }

  /**
   * Opens (creating the file for H2) and migrates the schema.
   *
   * @param schema names the schema in the version table and in logs ("grc", "crm")
   * @throws StoreException naming the URL: cannot be opened, locked by another process, or a
   *     schema newer than this program
   */
  public static Database open(String url, String user, String password, String schema,
      List<Migration> migrations) {
    return open(url, user, password, schema, migrations, DEFAULT_COMPACT_AT);
  }

  /** As {@link #open(String, String, String, String, List)}, compacting at {@code compactAt}. */
  public static Database open(String url, String user, String password, String schema,
      List<Migration> migrations, long compactAt) {
    Dialect dialect = url.startsWith("jdbc:postgresql:") ? Dialect.POSTGRESQL : Dialect.H2;
    String effective = url;
    if (dialect == Dialect.H2) {
      createParent(url);
      if (!url.toUpperCase(java.util.Locale.ROOT).contains(";WRITE_DELAY=")) {
        effective = effective + ";WRITE_DELAY=0";
      }
      // Append only: with H2 reusing file space (chunks freed more than its 45 s retention ago),
      // a daemon killed after it had run for a minute lost its last acknowledged writes on
      // reopening (CrmCrashTest with -Dlambdagrid.crash.kill_after=50000,70000: an acknowledged
      // commit PREPARED, an acknowledged release COMMITTED). No background compaction either,
      // which would move chunks. The file grows with each commit; it is compacted whole (a new
      // file renamed over it) once grown, and on close.
      if (url.startsWith("jdbc:h2:file:")) {
        String upper = url.toUpperCase(java.util.Locale.ROOT);
        if (!upper.contains(";REUSE_SPACE=")) {
          effective = effective + ";REUSE_SPACE=FALSE";
        }
        if (!upper.contains(";AUTO_COMPACT_FILL_RATE=")) {
          effective = effective + ";AUTO_COMPACT_FILL_RATE=0";
        }
      }
    }
    Database db = new Database(effective, user, password, schema, dialect, compactAt);
    try {
      db.transaction(c -> null); // opens the connection (on the database's thread)
      db.migrate(schema, migrations);
    } catch (StoreException e) {
      db.close();
      throw e;
    }
    return db;
  }

  /** Test helper: an H2 database in memory, named so two opens in one JVM share it. */
  public static Database inMemory(String name, String schema, List<Migration> migrations) {
    return open("jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1", null, null, schema, migrations);
  }

  /** The database path of an H2 file URL, without settings or the .mv.db suffix. */
  private static String h2Path(String url) {
    String file = url.substring("jdbc:h2:file:".length());
    int semi = file.indexOf(';');
    return semi >= 0 ? file.substring(0, semi) : file;
  }

  private static void createParent(String url) {
    if (!url.startsWith("jdbc:h2:file:")) {
      return;
    }
    Path parent = Path.of(h2Path(url)).toAbsolutePath().getParent();
    try {
      Files.createDirectories(parent);
    } catch (IOException e) {
      throw new StoreException("state database " + url + ": cannot create directory " + parent
          + ": " + e, e);
    }
  }

  public Dialect dialect() {
    return dialect;
  }

  /** The URL as opened (for logs and messages; it carries no password). */
  public String url() {
    return url;
  }

  /**
   * Runs {@code work} in one transaction and commits it before returning; rolls back and throws
   * if the work throws. Not reentrant across threads: transactions are serialised.
   *
   * @throws StoreException when the database fails (the message names the URL)
   */
  public <T> T transaction(Work<T> work) {
    if (Thread.currentThread() == dbThread) {
      return transactionHere(work);
    }
    java.util.concurrent.Future<T> f;
    try {
      f = thread.submit(() -> transactionHere(work));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      throw new StoreException("state database " + url + " is closed", e);
    }
    boolean interrupted = false;
    try {
      while (true) {
        try {
          return f.get();
        } catch (InterruptedException e) {
          interrupted = true;
        } catch (java.util.concurrent.ExecutionException e) {
          if (e.getCause() instanceof RuntimeException r) {
            throw r;
          }
          if (e.getCause() instanceof Error err) {
            throw err;
          }
          throw new StoreException("state database " + url + ": " + e.getCause(), e.getCause());
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private synchronized <T> T transactionHere(Work<T> work) {
    Connection c = connection();
    try {
      T result = work.run(c);
      c.commit();
      if (checkpointEachCommit) {
        try (Statement st = c.createStatement()) {
          st.execute("CHECKPOINT");
        }
        compactIfGrown();
      }
      return result;
    } catch (SQLException e) {
      rollback(c);
      throw new StoreException("state database " + url + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      rollback(c);
      throw e;
    }
  }

  /**
   * After a commit (on the database's thread, so no transaction is open): compacts the H2 file
   * when it has grown past {@code compactAt} and doubled since the last compaction. The commit
   * is already in the file; a failed compaction or reopen is logged and the next transaction
   * opens the file again.
   */
  private void compactIfGrown() {
    long size;
    try {
      size = Files.size(h2File);
    } catch (IOException e) {
      return;
    }
    if (size < compactAt || size < 2 * compactedSize) {
      return;
    }
    long t0 = System.nanoTime();
    try (Statement st = connection.createStatement()) {
      st.execute("SHUTDOWN COMPACT");
    } catch (SQLException e) {
      log.warn("state database {}: compacting failed: {}", url, e.getMessage());
    }
    closeConnection();
    compactions++;
    try {
      connection();
      compactedSize = Files.size(h2File);
    } catch (RuntimeException | IOException e) {
      compactedSize = size / 2; // try again after as much growth
      log.warn("state database {}: reopening after compaction failed: {}", url, e.getMessage());
      return;
    }
    log.info("state database {}: compacted {} KiB to {} KiB in {} ms", url, size >> 10,
        compactedSize >> 10, (System.nanoTime() - t0) / 1_000_000);
  }

  /** How often the file was compacted while open (tests, diagnostics). */
  public synchronized int compactions() {
    return compactions;
  }

  /** Runs statements that need no result, in one transaction. */
  public void execute(String sql, Object... args) {
    transaction(c -> update(c, sql, args));
  }

  /** Runs one statement with {@link #bind}ed arguments on {@code c}; the rows it changed. */
  public static int update(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      bind(ps, args);
      return ps.executeUpdate();
    }
  }

  /**
   * Binds arguments by position: String, Integer, Long, byte[], Boolean, or null, which fits any
   * column type (an untyped NULL: PostgreSQL refuses a VARCHAR null for a BIGINT or BYTEA
   * column).
   */
  public static void bind(PreparedStatement ps, Object... args) throws SQLException {
    for (int i = 0; i < args.length; i++) {
      Object a = args[i];
      if (a == null) {
        ps.setNull(i + 1, java.sql.Types.NULL);
      } else if (a instanceof byte[] b) {
        ps.setBytes(i + 1, b);
      } else {
        ps.setObject(i + 1, a);
      }
    }
  }

  private void rollback(Connection c) {
    try {
      c.rollback();
    } catch (SQLException e) {
      log.warn("state database {}: rollback failed: {}", url, e.getMessage());
      closeConnection();
    }
  }

  private Connection connection() {
    if (closed) {
      throw new StoreException("state database " + url + " is closed", null);
    }
    try {
      if (connection != null && !connection.isClosed()) {
        return connection;
      }
    } catch (SQLException e) {
      closeConnection();
    }
    Properties p = new Properties();
    if (user != null && !user.isEmpty()) {
      p.setProperty("user", user);
    }
    if (password != null) {
      p.setProperty("password", password);
    }
    if (dialect == Dialect.POSTGRESQL) {
      p.setProperty("ApplicationName", "lambdagrid " + schema); // pg_stat_activity
      p.setProperty("tcpKeepAlive", "true"); // a half-open connection ends in time
    }
    Connection c;
    try {
      c = DriverManager.getConnection(url, p);
    } catch (SQLException e) {
      throw new StoreException(openFailure(e), e);
    }
    try {
      c.setAutoCommit(false);
      c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
      if (dialect == Dialect.POSTGRESQL) {
        lockOrRefuse(c);
      }
    } catch (SQLException | RuntimeException e) {
      try {
        c.close();
      } catch (SQLException ignored) {
        // the connection is dropped either way
      }
      if (e instanceof RuntimeException r) {
        throw r;
      }
      throw new StoreException("cannot open state database " + url + ": "
          + firstLine(e.getMessage()), e);
    }
    connection = c;
    return c;
  }

  /** The backend pid of this daemon's session that took the lock last (0: none yet). */
  private int ownBackend;

  /** How long a reconnect waits for its own ended earlier session to drop the lock. */
  private static final java.time.Duration LOCK_WAIT = java.time.Duration.ofSeconds(3);

  /** The advisory lock's first key: "lg"; the second is a hash of the schema (see the class). */
  private static final int LOCK_CLASS = 0x6c67;

  /**
   * Takes this daemon's session-level advisory lock on {@code c} (PostgreSQL) without waiting
   * for another daemon; a session of this same daemon that still holds it is ended first.
   *
   * @throws StoreException naming the holder's backend when another session has it
   */
  private void lockOrRefuse(Connection c) throws SQLException {
    boolean got = false;
    long deadline = 0; // set once this daemon's own earlier session was ended
    while (true) {
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT pg_try_advisory_lock(?, " + LOCK_KEY + ")")) {
        bind(ps, LOCK_CLASS, schema);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          got = rs.getBoolean(1);
        }
      }
      c.commit();
      if (got) {
        break;
      }
      if (deadline == 0 && ownBackend > 0 && holder(c).pid() == ownBackend) {
        // This daemon's own earlier session, cut off without the server noticing (a network
        // break): it would hold the lock until the server's keepalive gives up. End it, and
        // wait (a little) for its backend to drop the lock.
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_terminate_backend(?)")) {
          bind(ps, ownBackend);
          ps.executeQuery().close();
        }
        c.commit();
        log.warn("state database {}: ended this daemon's earlier session (backend pid {}), which"
            + " still held its lock", url, ownBackend);
        deadline = System.nanoTime() + LOCK_WAIT.toNanos();
        continue;
      }
      if (deadline == 0 || System.nanoTime() > deadline) {
        break; // another daemon's: refused at once
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    Holder h = got ? null : holder(c);
    c.commit(); // the lock is the session's: it outlives this transaction
    if (!got) {
      throw new StoreException("state database " + url + " is locked by another process: is"
          + " another daemon running with the same state.url?" + h.describe(), null);
    }
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
        "SELECT pg_backend_pid()")) {
      rs.next();
      ownBackend = rs.getInt(1);
    }
    c.commit();
  }

  /** The advisory lock's second key, from the schema: see the class. */
  private static final String LOCK_KEY = "hashtext(coalesce(current_schema(), '') || '.' || ?)";

  /** The backend that holds this daemon's lock (pid 0: none found), for messages. */
  private record Holder(int pid, String address) {
    String describe() {
      return pid == 0 ? "" : " (PostgreSQL backend pid " + pid
          + (address == null ? "" : ", client " + address) + " holds its lock)";
    }
  }

  private Holder holder(Connection c) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT l.pid, a.client_addr FROM pg_locks l"
        + " LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
        + " AND l.granted AND l.database = (SELECT oid FROM pg_database"
        + " WHERE datname = current_database()) AND l.classid = ? AND l.objsubid = 2"
        + " AND l.objid::text::bigint = (" + LOCK_KEY + "::bigint & 4294967295)")) {
      bind(ps, LOCK_CLASS, schema);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? new Holder(rs.getInt(1), rs.getString(2)) : new Holder(0, null);
      }
    }
  }

  /**
   * For tests: forgets the session without closing it, as a network break that the server has
   * not noticed yet would; returns it (the caller closes it).
   */
  Connection dropSessionUnclosed() throws Exception {
    return thread.submit(() -> {
      Connection c = connection;
      connection = null;
      return c;
    }).get();
  }

  /** A sentence an operator can act on for a failed open. */
  private String openFailure(SQLException e) {
    String state = e.getSQLState() == null ? "" : e.getSQLState();
    if (dialect == Dialect.H2 && (state.equals("90020") || e.getErrorCode() == 90020)) {
      return "state database " + url + " is locked by another process: is another daemon"
          + " running with the same state_dir or state.url? (" + firstLine(e.getMessage()) + ")";
    }
    String why = firstLine(e.getMessage());
    Throwable cause = e.getCause();
    if (cause != null && cause.getMessage() != null && !why.contains(cause.getMessage())) {
      why = why + " (" + cause.getClass().getSimpleName() + ": " + firstLine(cause.getMessage())
          + ")"; // e.g. PostgreSQL's "The connection attempt failed." for an unknown host
    }
    return "cannot open state database " + url + ": " + why;
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  private void migrate(String schema, List<Migration> migrations) {
    transaction(c -> {
      try (Statement st = c.createStatement()) {
        st.executeUpdate("CREATE TABLE IF NOT EXISTS schema_version (schema_name VARCHAR(64) NOT"
            + " NULL, version INTEGER NOT NULL, description VARCHAR(200) NOT NULL, applied_at"
            + " BIGINT NOT NULL, PRIMARY KEY (schema_name, version))");
      }
      return null;
    });
    int current = transaction(c -> {
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT MAX(version) FROM schema_version WHERE schema_name = ?")) {
        ps.setString(1, schema);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          return rs.getInt(1);
        }
      }
    });
    int newest = migrations.stream().mapToInt(Migration::version).max().orElse(0);
    if (current > newest) {
      throw new StoreException("state database " + url + " has " + schema + " schema version "
          + current + ", newer than this program's " + newest + "; run the newer version", null);
    }
    for (Migration m : migrations) {
      if (m.version() <= current) {
        continue;
      }
      transaction(c -> {
        try (Statement st = c.createStatement()) {
          for (String sql : m.statements()) {
            st.executeUpdate(sql.replace("${bytes}", dialect.bytes));
          }
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO schema_version (schema_name,"
            + " version, description, applied_at) VALUES (?, ?, ?, ?)")) {
          bind(ps, schema, m.version(), m.description(), System.currentTimeMillis());
          ps.executeUpdate();
        }
        return null;
      });
      log.info("state database {}: {} schema migrated to version {} ({})", url, schema,
          m.version(), m.description());
    }
  }

  private void closeConnection() {
    if (connection != null) {
      if (dialect == Dialect.POSTGRESQL) {
        // The server drops a closed session's locks only when its backend has exited, after
        // close returns: unlock here, so a daemon started right after this one is not refused.
        try (Statement st = connection.createStatement()) {
          st.execute("SELECT pg_advisory_unlock_all()");
          connection.commit();
        } catch (SQLException ignored) {
          // a broken session: its backend ends and drops the lock by itself
        }
      }
      try {
        connection.close();
      } catch (SQLException ignored) {
        // closing a broken connection
      }
      connection = null;
    }
  }

  /**
   * Closes the connection (an H2 file is compacted first, and its lock released); later
   * transactions fail with a StoreException. Idempotent.
   */
  @Override
  public void close() {
    if (Thread.currentThread() != dbThread) {
      try {
        thread.submit(this::closeHere).get();
      } catch (java.util.concurrent.RejectedExecutionException e) {
        return; // already closed
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (java.util.concurrent.ExecutionException e) {
        log.warn("state database {}: close failed: {}", url, e.getCause().toString());
      }
      thread.shutdown();
    } else {
      closeHere();
    }
  }

  private synchronized void closeHere() {
    if (!closed && checkpointEachCommit && connection != null) {
      // The file only grows while the daemon runs (see open); compact it on a clean stop.
      try (Statement st = connection.createStatement()) {
        st.execute("SHUTDOWN COMPACT");
      } catch (SQLException e) {
        log.warn("state database {}: compacting on close failed: {}", url, e.getMessage());
      }
    }
    closed = true;
    closeConnection();
  }
}
