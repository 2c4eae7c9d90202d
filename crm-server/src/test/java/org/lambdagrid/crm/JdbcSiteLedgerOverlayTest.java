package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.crm.site.SiteLedger;
import org.lambdagrid.crm.site.SiteReservations;
import org.lambdagrid.crm.testing.CrmStateFixture;

/**
 * The ledger's holds across schema version 5, which added whether a hold was prepared with an
 * overlay end: holds an older CRM (version 4) recorded load without one; holds recorded now keep
 * it, and a restarted site lists the live ones that have one.
 */
class JdbcSiteLedgerOverlayTest {
  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  @TempDir Path dir;
  @RegisterExtension final CrmStateFixture state = new CrmStateFixture(() -> dir);

  private SiteReservations site(JdbcSiteLedger ledger) {
    return new SiteReservations(state.config().siteSettings(), Clock.fixed(T0, ZoneOffset.UTC),
        Duration.ofSeconds(30), ledger);
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void holdsAnOlderCrmRecordedLoadWithoutAnOverlayEndAndNewOnesKeepIt(StoreBackend backend) {
    state.database(backend);
    Window w = new Window(T0.plusSeconds(60), T0.plusSeconds(3600));
    // A database as a CRM of schema version 4 left it: a committed hold and a prepared one.
    TestDatabase db = state.db();
    try (Database v4 = Database.open(db.url(), db.user(), db.password(), "crm",
        JdbcSiteLedger.MIGRATIONS.subList(0, 4))) {
      v4.execute("INSERT INTO holds (id, state, start_ms, end_ms, node_count, cidr, user_name,"
          + " expires_ms, ended_ms, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)", "r-old",
          "COMMITTED", w.startMillis(), w.endMillis(), 1, "10.10.0.0/30", "alice", null, 1L);
      v4.execute("INSERT INTO holds (id, state, start_ms, end_ms, node_count, cidr, user_name,"
          + " expires_ms, ended_ms, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)", "r-prep",
          "PREPARED", w.startMillis(), w.endMillis(), 1, "10.10.0.4/30", "alice",
          T0.plusSeconds(30).toEpochMilli(), 2L);
    }
    try (JdbcSiteLedger ledger = state.openLedger()) { // migrates to version 5
      assertThat(ledger.loadHolds()).extracting(h -> h.id() + " " + h.state() + " " + h.held().overlay())
          .containsExactly("r-old COMMITTED false", "r-prep PREPARED false");
      SiteReservations rs = site(ledger);
      assertThat(rs.recover(T0)).containsExactly("r-old", "r-prep");
      assertThat(rs.withOverlay()).isEmpty();
      rs.prepare("r-new", w, 1, Ipv4Cidr.parse("10.10.0.8/30"), "bob", true,
          SiteReservations.answerBy(null));
      rs.prepare("r-plain", w, 1, Ipv4Cidr.parse("10.10.0.12/30"), "bob");
      rs.commit("r-new");
    }
    try (JdbcSiteLedger ledger = state.openLedger()) {
      assertThat(ledger.loadHolds()).filteredOn(h -> h.held() != null)
          .extracting(h -> h.id() + " " + h.held().overlay())
          .containsExactlyInAnyOrder("r-old false", "r-prep false", "r-new true", "r-plain false");
      SiteReservations rs = site(ledger);
      rs.recover(T0);
      assertThat(rs.withOverlay()).containsExactly("r-new");
      // An abort of an id never prepared is a tombstone without one; an ended hold is not listed.
      ledger.holdChanged("r-never", HoldTable.State.ABORTED, T0);
      rs.release("r-new");
      assertThat(rs.withOverlay()).isEmpty();
      assertThat(ledger.loadHolds()).extracting(SiteLedger.Hold::id).contains("r-never");
    }
  }
}
