package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.site.SiteLedger;
import org.lambdagrid.crm.site.SiteReservations;
import org.lambdagrid.crm.testing.CrmStateFixture;
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
  @RegisterExtension final CrmStateFixture state = new CrmStateFixture(() -> dir);

  /** A database as a CRM of schema version 3 left it, with one batch reservation row. */
  private void olderCrmRecorded(String id, String name) {
    TestDatabase db = state.db();
    try (Database v3 = Database.open(db.url(), db.user(), db.password(), "crm",
        JdbcSiteLedger.MIGRATIONS.subList(0, 3))) {
      v3.execute("INSERT INTO batch_reservations (reservation_id, name, recorded_at)"
          + " VALUES (?, ?, ?)", id, name, 1L);
    }
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void anOlderCrmsRowHasNoAskedAndNewRowsKeepWhatWasAsked(StoreBackend backend) {
    state.database(backend);
    olderCrmRecorded("r-old", "lg-a-r-old");
    BatchReservations.Asked all = new BatchReservations.Asked(T0, T0.plusSeconds(1800),
        "alice", "physics", 2, "grid");
    BatchReservations.Asked some = new BatchReservations.Asked(T0, T0.plusSeconds(60), "bob",
        null, 1, null);
    try (JdbcSiteLedger ledger = state.openLedger()) { // migrates to version 4
      ledger.batchReserving("r-all", "lg-a-r-all", all);
      ledger.batchReserving("r-some", "lg-a-r-some", some);
    }
    try (JdbcSiteLedger ledger = state.openLedger()) {
      assertThat(ledger.loadBatchReservations()).containsExactly(
          Map.entry("r-old", new SiteLedger.BatchRecord("lg-a-r-old", null)),
          Map.entry("r-all", new SiteLedger.BatchRecord("lg-a-r-all", all)),
          Map.entry("r-some", new SiteLedger.BatchRecord("lg-a-r-some", some)));
    }
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void aNameAnOlderCrmRecordedIsDeletedByNameAsBefore(StoreBackend backend) {
    state.database(backend);
    olderCrmRecorded("r-1", "lg-a-r-1");
    FakeBatchReservations batch = new FakeBatchReservations("a");
    // What that CRM asked for is unknown, so the name is all there is to go by.
    batch.foreign("lg-a-r-1", new BatchReservations.Spec("r-1", T0, T0.plusSeconds(60), 1,
        "operator"));
    TestClock clock = new TestClock(T0);
    try (JdbcSiteLedger ledger = state.openLedger()) {
      SiteReservations rs = new SiteReservations(state.config().siteSettings(), clock,
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
