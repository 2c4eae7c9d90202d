package org.lambdagrid.common.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatabaseTest {
  @TempDir Path dir;

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

  @Test
  void createsTheFileMigratesAndKeepsCommittedRowsAcrossAReopen() {
    try (Database db = Database.open(url(), null, null, "test", List.of(V1))) {
      db.execute("INSERT INTO items (id, data) VALUES (?, ?)", "a", new byte[] {1, 2});
    }
    assertThat(dir.resolve("sub/test.mv.db")).exists();
    try (Database db = Database.open(url(), null, null, "test", List.of(V1, V2))) {
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
    }
  }

  @Test
  void aFailedTransactionLeavesNothingBehind() {
    try (Database db = Database.open(url(), null, null, "test", List.of(V1))) {
      assertThatThrownBy(() -> db.transaction(c -> {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO items (id) VALUES (?)")) {
          ps.setString(1, "x");
          ps.executeUpdate();
        }
        throw new IllegalStateException("boom");
      })).hasMessage("boom");
      assertThat(ids(db)).isEmpty();
      assertThatThrownBy(() -> db.execute("INSERT INTO nowhere VALUES (1)"))
          .isInstanceOf(StoreException.class).hasMessageContaining("state database jdbc:h2:file:");
    }
  }

  @Test
  void refusesASchemaNewerThanTheProgram() {
    Database.open(url(), null, null, "test", List.of(V1, V2)).close();
    assertThatThrownBy(() -> Database.open(url(), null, null, "test", List.of(V1)))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining("has test schema version 2, newer than this program's 1");
  }

  @Test
  void namesTheUrlWhenItCannotOpen() {
    assertThatThrownBy(() -> Database.open("jdbc:postgresql://127.0.0.1:1/none", "u", "p",
        "test", List.of(V1)))
        .isInstanceOf(StoreException.class)
        .hasMessageStartingWith("cannot open state database jdbc:postgresql://127.0.0.1:1/none: ");
  }

  @Test
  void configRejectsOtherDatabasesAndRelativePasswordFiles() {
    assertThatThrownBy(() -> new StateConfig("jdbc:mysql://x/y", null, null))
        .hasMessageStartingWith("url: 'jdbc:mysql://x/y' is neither");
    assertThatThrownBy(() -> new StateConfig(null, null, "pw"))
        .hasMessage("password_file: 'pw' is not an absolute path");
    assertThat(StateConfig.defaults().effectiveUrl(Path.of("/var/lib/lg"), "grc"))
        .isEqualTo("jdbc:h2:file:/var/lib/lg/grc");
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
