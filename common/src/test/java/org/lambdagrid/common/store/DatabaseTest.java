package org.lambdagrid.common.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestDatabase;

/**
 * The state database: migrations, transactions, durability of commits across a reopen, the
 * single-writer lock and, for H2, the append-only file and its compaction. The tests taking a
 * {@link StoreBackend} run on H2 and on a real PostgreSQL (skipped without
 * scripts/postgres-local, see {@link TestDatabase}).
 */
class DatabaseTest {
  @TempDir Path dir;
  private final List<TestDatabase> databases = new ArrayList<>();

  @AfterEach
  void dropDatabases() {
    databases.forEach(TestDatabase::close);
  }

  /** This test's database on {@code backend} (for H2: {@link #url()}). */
  private TestDatabase db(StoreBackend backend) {
    TestDatabase d = TestDatabase.create(backend, dir.resolve("sub"), "test");
    databases.add(d);
    return d;
  }

  private static final Migration V1 = Migration.of(1, "items",
      "CREATE TABLE items (id VARCHAR(40) PRIMARY KEY, data ${bytes})");
  private static final Migration V2 = Migration.of(2, "item sizes",
      "ALTER TABLE items ADD COLUMN size_bytes INTEGER");

  private String url() {
    return new StateConfig(null, null, null).effectiveUrl(dir.resolve("sub"), "test");
  }

  private static List<String> ids(Database db) {
    return db.transaction(c -> {
      List<String> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT id FROM items ORDER BY id");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getString(1));
        }
      }
      return out;
    });
  }

  @ParameterizedTest
  @EnumSource(StoreBackend.class)
  void migratesAndKeepsCommittedRowsAcrossAReopen(StoreBackend backend) {
    TestDatabase t = db(backend);
    try (Database db = t.open("test", List.of(V1))) {
      db.execute("INSERT INTO items (id, data) VALUES (?, ?)", "a", new byte[] {1, 2});
    }
    if (backend == StoreBackend.H2) {
      assertThat(dir.resolve("sub/test.mv.db")).exists();
    }
    try (Database db = t.open("test", List.of(V1, V2))) {
      db.execute("INSERT INTO items (id, data, size_bytes) VALUES (?, ?, ?)", "b", null, 3);
      assertThat(ids(db)).containsExactly("a", "b");
      int versions = db.transaction(c -> {
        try (ResultSet rs = c.createStatement().executeQuery(
            "SELECT COUNT(*) FROM schema_version WHERE schema_name = 'test'")) {
          rs.next();
          return rs.getInt(1);
        }
      });
      assertThat(versions).isEqualTo(2);
      byte[] data = db.transaction(c -> {
        try (ResultSet rs = c.createStatement().executeQuery(
            "SELECT data FROM items WHERE id = 'a'")) {
          rs.next();
          return rs.getBytes(1);
        }
      });
      assertThat(data).containsExactly(1, 2);
    }
  }

  @ParameterizedTest
  @EnumSource(StoreBackend.class)
  void aFailedTransactionLeavesNothingBehind(StoreBackend backend) {
    TestDatabase t = db(backend);
    try (Database db = t.open("test", List.of(V1))) {
      assertThatThrownBy(() -> db.transaction(c -> {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO items (id) VALUES (?)")) {
          ps.setString(1, "x");
          ps.executeUpdate();
        }
        throw new IllegalStateException("boom");
      })).hasMessage("boom");
      assertThat(ids(db)).isEmpty();
      assertThatThrownBy(() -> db.execute("INSERT INTO nowhere VALUES (1)"))
          .isInstanceOf(StoreException.class).hasMessageStartingWith("state database " + t.url());
      // The failed statement aborted its transaction only: the next one works.
      db.execute("INSERT INTO items (id) VALUES (?)", "y");
      assertThat(ids(db)).containsExactly("y");
    }
  }

  /** A null binds to a column of any type (PostgreSQL refuses a VARCHAR null for BIGINT). */
  @ParameterizedTest
  @EnumSource(StoreBackend.class)
  void nullsBindToColumnsOfEveryType(StoreBackend backend) {
    Migration typed = Migration.of(1, "typed", "CREATE TABLE typed (id VARCHAR(10) PRIMARY KEY,"
        + " n BIGINT, i INTEGER, b ${bytes}, s VARCHAR(10))");
    try (Database db = db(backend).open("test", List.of(typed))) {
      db.execute("INSERT INTO typed (id, n, i, b, s) VALUES (?, ?, ?, ?, ?)", "x", null, null,
          null, null);
      db.execute("UPDATE typed SET n = ?, b = ? WHERE id = ?", 5L, new byte[] {7}, "x");
      db.execute("UPDATE typed SET n = ?, i = ?, b = ? WHERE id = ?", null, 3, null, "x");
      String row = db.transaction(c -> {
        try (ResultSet rs = c.createStatement().executeQuery(
            "SELECT n, i, b, s FROM typed WHERE id = 'x'")) {
          rs.next();
          return rs.getObject(1) + " " + rs.getInt(2) + " " + rs.getBytes(3) + " "
              + rs.getString(4);
        }
      });
      assertThat(row).isEqualTo("null 3 null null");
    }
  }

  @ParameterizedTest
  @EnumSource(StoreBackend.class)
  void refusesASchemaNewerThanTheProgram(StoreBackend backend) {
    TestDatabase t = db(backend);
    t.open("test", List.of(V1, V2)).close();
    assertThatThrownBy(() -> t.open("test", List.of(V1)))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining("has test schema version 2, newer than this program's 1");
  }

  /**
   * PostgreSQL: a second opener of a database in use is refused, naming the holder, until the
   * first closes; another schema name (a GRC beside a CRM) may share the database. (H2's lock
   * is per process: it/crash/GrcCrashTest and CrmCrashTest check it with a second JVM.)
   */
  @Test
  void aSecondOpenerOfAPostgresqlDatabaseIsRefusedUntilTheFirstCloses() {
    TestDatabase t = db(StoreBackend.POSTGRESQL);
    try (Database first = t.open("test", List.of(V1))) {
      assertThatThrownBy(() -> t.open("test", List.of(V1)))
          .isInstanceOf(StoreException.class)
          .hasMessageStartingWith("state database " + t.url() + " is locked by another process:")
          .hasMessageContaining("(PostgreSQL backend pid ");
      t.open("other", List.of()).close();
      first.execute("INSERT INTO items (id) VALUES (?)", "kept");
    }
    try (Database again = t.open("test", List.of(V1))) {
      assertThat(ids(again)).containsExactly("kept");
    }
  }

  /**
   * PostgreSQL: when the server ends the daemon's session, the write in flight fails (a
   * StoreException naming the URL), the next transaction opens a new session, which takes the
   * lock again, and nothing committed before is lost.
   */
  @Test
  void aPostgresqlSessionEndedByTheServerIsReopenedWithItsLock() throws Exception {
    TestDatabase t = db(StoreBackend.POSTGRESQL);
    try (Database db = t.open("test", List.of(V1))) {
      db.execute("INSERT INTO items (id) VALUES (?)", "before");
      try (java.sql.Connection admin = t.connect();
          ResultSet rs = admin.createStatement().executeQuery("SELECT pg_terminate_backend(pid)"
              + " FROM pg_stat_activity WHERE datname = current_database()"
              + " AND application_name = 'lambdagrid test'")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getBoolean(1)).isTrue();
      }
      assertThatThrownBy(() -> db.execute("INSERT INTO items (id) VALUES (?)", "lost"))
          .isInstanceOf(StoreException.class).hasMessageStartingWith("state database " + t.url());
      db.execute("INSERT INTO items (id) VALUES (?)", "after");
      assertThat(ids(db)).containsExactly("after", "before");
      assertThatThrownBy(() -> t.open("test", List.of(V1)))
          .hasMessageContaining("is locked by another process");
    }
  }

  /**
   * PostgreSQL: a session cut off without the server noticing (a network break) still holds the
   * lock; the daemon's next session ends it and goes on, instead of being refused for hours.
   */
  @Test
  void aPostgresqlSessionLostUnnoticedIsEndedByTheDaemonsNextOne() throws Exception {
    TestDatabase t = db(StoreBackend.POSTGRESQL);
    try (Database db = t.open("test", List.of(V1))) {
      db.execute("INSERT INTO items (id) VALUES (?)", "before");
      try (java.sql.Connection stale = db.dropSessionUnclosed()) {
        db.execute("INSERT INTO items (id) VALUES (?)", "after");
        assertThat(ids(db)).containsExactly("after", "before");
        assertThat(stale.isValid(5)).as("the old session was ended").isFalse();
      }
      assertThatThrownBy(() -> t.open("test", List.of(V1)))
          .hasMessageContaining("is locked by another process");
    }
  }

  @Test
  void namesTheUrlWhenItCannotOpen() {
    assertThatThrownBy(() -> Database.open("jdbc:postgresql://127.0.0.1:1/none", "u", "p",
        "test", List.of(V1)))
        .isInstanceOf(StoreException.class)
        .hasMessageStartingWith("cannot open state database jdbc:postgresql://127.0.0.1:1/none: ")
        .hasMessageNotContaining("\n");
  }

  @ParameterizedTest
  @EnumSource(StoreBackend.class)
  void aWrongPasswordIsOneLineNamingTheUrl(StoreBackend backend) {
    TestDatabase t = db(backend);
    t.open("test", List.of(V1)).close(); // H2: the file and its user exist
    assertThatThrownBy(() -> Database.open(t.url(), "lambdagrid", "wrong", "test", List.of(V1)))
        .isInstanceOf(StoreException.class)
        .hasMessageStartingWith("cannot open state database " + t.url())
        .hasMessageNotContaining("\n");
  }

  @Test
  void configRejectsOtherDatabasesAndRelativePasswordFiles() {
    assertThatThrownBy(() -> new StateConfig("jdbc:mysql://x/y", null, null))
        .hasMessageStartingWith("url: 'jdbc:mysql://x/y' is neither");
    assertThatThrownBy(() -> new StateConfig(null, null, "pw"))
        .hasMessage("password_file: 'pw' is not an absolute path");
    assertThat(StateConfig.defaults().effectiveUrl(Path.of("/var/lib/lg"), "grc"))
        .isEqualTo("jdbc:h2:file:/var/lib/lg/grc");
    assertThatThrownBy(() -> new StateConfig(null, "u", dir.resolve("none").toString()).password())
        .isInstanceOf(StoreException.class)
        .hasMessage("state.password_file: " + dir.resolve("none") + " does not exist");
  }

  @Test
  void aPasswordFileOthersMayReadIsRefused_anOwnOneIsRead() throws Exception {
    Path pw = dir.resolve("db.password");
    java.nio.file.Files.writeString(pw, "secret\nignored\n");
    java.nio.file.Files.setPosixFilePermissions(pw,
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    assertThatThrownBy(() -> new StateConfig(null, "u", pw.toString()).password())
        .isInstanceOf(StoreException.class)
        .hasMessage("state.password_file: " + pw + " is readable by group and others; make it"
            + " the daemon user's alone: chmod 600 " + pw);
    java.nio.file.Files.setPosixFilePermissions(pw,
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    assertThat(new StateConfig(null, "u", pw.toString()).password()).isEqualTo("secret");
  }

  /** A kill -9 at this instant, as far as the file goes: a copy of what the OS has. */
  private Path crashCopy(String name) throws Exception {
    Path copy = dir.resolve("crash-" + name);
    java.nio.file.Files.createDirectories(copy);
    java.nio.file.Files.copy(dir.resolve("sub/test.mv.db"), copy.resolve("test.mv.db"));
    return copy;
  }

  private static int count(Database db) {
    return db.transaction(c -> {
      try (ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM items")) {
        rs.next();
        return rs.getInt(1);
      }
    });
  }

  private static void commits(Database db, int from, int to) {
    byte[] payload = new byte[200];
    for (int i = from; i < to; i++) {
      db.execute("INSERT INTO items (id, data) VALUES (?, ?)", "i" + i, payload);
      db.execute("UPDATE items SET data = ? WHERE id = ?", payload, "i" + (i / 2));
    }
  }

  @Test
  void anAppendOnlyFileIsCompactedWhileOpenAndAKilledCopyKeepsEveryCommit() throws Exception {
    long compactAt = 1L << 20;
    Path file = dir.resolve("sub/test.mv.db");
    try (Database db = Database.open(url(), null, null, "test", List.of(V1), compactAt)) {
      assertThat(db.url()).contains(";REUSE_SPACE=FALSE").contains(";AUTO_COMPACT_FILL_RATE=0")
          .contains(";WRITE_DELAY=0");
      long max = 0;
      for (int round = 0; round < 10; round++) {
        commits(db, round * 300, (round + 1) * 300);
        max = Math.max(max, java.nio.file.Files.size(file));
      }
      // 6000 commits of a few KiB each: without compaction tens of MiB.
      assertThat(db.compactions()).isGreaterThanOrEqualTo(3);
      assertThat(max).as("largest file size seen").isLessThan(compactAt + (256 << 10));
      assertThat(count(db)).isEqualTo(3000);
      Path afterCompactions = crashCopy("a");
      commits(db, 3000, 3100);
      Path later = crashCopy("b");
      // Opening a copy is what a restart after kill -9 sees: nothing acknowledged is lost.
      try (Database back = Database.open(new StateConfig(null, null, null)
          .effectiveUrl(afterCompactions, "test"), null, null, "test", List.of(V1))) {
        assertThat(count(back)).isEqualTo(3000);
      }
      try (Database back = Database.open(new StateConfig(null, null, null)
          .effectiveUrl(later, "test"), null, null, "test", List.of(V1))) {
        assertThat(count(back)).isEqualTo(3100);
        assertThat(ids(back)).contains("i3099", "i0");
      }
      assertThat(count(db)).isEqualTo(3100);
    }
    try (Database db = Database.open(url(), null, null, "test", List.of(V1))) {
      assertThat(count(db)).isEqualTo(3100);
    }
  }

  @Test
  void withoutCompactionTheFileGrowsWithEveryCommit() throws Exception {
    Path file = dir.resolve("sub/test.mv.db");
    try (Database db = Database.open(url(), null, null, "test", List.of(V1), Long.MAX_VALUE)) {
      commits(db, 0, 10);
      long before = java.nio.file.Files.size(file);
      commits(db, 10, 510);
      long perCommit = (java.nio.file.Files.size(file) - before) / 1000;
      // What the bound is for: each commit appends at least a block.
      assertThat(perCommit).isGreaterThanOrEqualTo(2048);
      assertThat(db.compactions()).isZero();
    }
  }
}
