package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.site.SiteLedger;
import org.lambdagrid.crm.site.SiteReservations;
import org.lambdagrid.crm.testing.FakeBatchReservations;

/**
 * The ledger's batch system reservations across schema version 4, which added what was asked
 * for under each name: a row an older CRM wrote (version 3) has only its name and is still
 * deleted by name, unchecked, as that CRM did; rows written now keep the window, users, account,
 * node count and partition.
 */
class JdbcSiteLedgerBatchTest {
  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  @TempDir Path dir;
  private TestDatabase db;

  @AfterEach
  void dropDatabase() {
    if (db != null) {
      db.close();
    }
  }

  private CrmConfig config() {
    return ConfigLoader.parse("crm.yaml", "site: a\nlisten: 127.0.0.1:0\ngrc: 127.0.0.1:1\n"
        + "node_capacity: 4\nranges: [10.10.0.0/24]\nstate_dir: " + dir + "\n"
        + db.stateYaml(), CrmConfig.class);
  }

  /** A database as a CRM of schema version 3 left it, with one batch reservation row. */
  private void olderCrmRecorded(String id, String name) {
    try (Database v3 = Database.open(db.url(), db.user(), db.password(), "crm",
        JdbcSiteLedger.MIGRATIONS.subList(0, 3))) {
      v3.execute("INSERT INTO batch_reservations (reservation_id, name, recorded_at)"
          + " VALUES (?, ?, ?)", id, name, 1L);
    }
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void anOlderCrmsRowHasNoAskedAndNewRowsKeepWhatWasAsked(StoreBackend backend) {
    db = TestDatabase.create(backend, dir, "crm");
    olderCrmRecorded("r-old", "lg-a-r-old");
    BatchReservations.Asked all = new BatchReservations.Asked(T0, T0.plusSeconds(1800),
        "alice", "physics", 2, "grid");
    BatchReservations.Asked some = new BatchReservations.Asked(T0, T0.plusSeconds(60), "bob",
        null, 1, null);
    try (JdbcSiteLedger ledger = JdbcSiteLedger.open(config())) { // migrates to version 4
      ledger.batchReserving("r-all", "lg-a-r-all", all);
      ledger.batchReserving("r-some", "lg-a-r-some", some);
    }
    try (JdbcSiteLedger ledger = JdbcSiteLedger.open(config())) {
      assertThat(ledger.loadBatchReservations()).containsExactly(
          Map.entry("r-old", new SiteLedger.BatchRecord("lg-a-r-old", null)),
          Map.entry("r-all", new SiteLedger.BatchRecord("lg-a-r-all", all)),
          Map.entry("r-some", new SiteLedger.BatchRecord("lg-a-r-some", some)));
    }
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void aNameAnOlderCrmRecordedIsDeletedByNameAsBefore(StoreBackend backend) {
    db = TestDatabase.create(backend, dir, "crm");
    olderCrmRecorded("r-1", "lg-a-r-1");
    FakeBatchReservations batch = new FakeBatchReservations("a");
    // What that CRM asked for is unknown, so the name is all there is to go by.
    batch.foreign("lg-a-r-1", new BatchReservations.Spec("r-1", T0, T0.plusSeconds(60), 1,
        "operator"));
    TestClock clock = new TestClock(T0);
    try (JdbcSiteLedger ledger = JdbcSiteLedger.open(config())) {
      SiteReservations rs = new SiteReservations(config().siteSettings(), clock,
          Duration.ofSeconds(30), ledger, batch);
      assertThat(rs.recover(T0)).isEmpty();
      assertThat(batch.existing()).isEmpty();
      assertThat(batch.calls()).containsExactly("exists lg-a-r-1", "delete lg-a-r-1");
      clock.advance(SiteReservations.IN_DOUBT.plusSeconds(1));
      assertThat(rs.sweepBatch()).isZero();
      assertThat(ledger.loadBatchReservations()).isEmpty();
    }
  }
}
