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
}
