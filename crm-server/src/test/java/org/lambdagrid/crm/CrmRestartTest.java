package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.crm.site.SiteReservations;
import org.lambdagrid.crm.site.SiteShares;
import org.lambdagrid.crm.testing.TestPilotStarter;

/**
 * A CRM that dies (no orderly close) and starts again on its state database: committed holds
 * stay until released, a prepared hold still expires at its original instant, tombstones still
 * refuse a late prepare, opened shares are bound again and started ones are dropped; nothing is
 * handed out twice. On the default H2 file and on a real PostgreSQL (skipped without
 * scripts/postgres-local).
 */
class CrmRestartTest {
  @TempDir Path dir;
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  /** The state database when a test chose one; otherwise the default H2 file in {@code dir}. */
  private TestDatabase db;

  @AfterEach
  void dropDatabase() {
    if (db != null) {
      db.close();
    }
  }

  private CrmConfig config() {
    return ConfigLoader.parse("crm.yaml", "site: a\nlisten: 127.0.0.1:0\ngrc: 127.0.0.1:1\n"
        + "node_capacity: 4\nranges: [10.10.0.0/24]\nhold_time: 30s\nstate_dir: " + dir + "\n"
        + (db == null ? "" : db.stateYaml()), CrmConfig.class);
  }

  private SiteShares site(JdbcSiteLedger ledger, Instant now) {
    return new SiteShares(config().siteSettings(), new TestPilotStarter(() -> null),
        () -> null, Clock.fixed(now, ZoneOffset.UTC), ledger);
  }

  private static Window hour() {
    return new Window(T0, T0.plusSeconds(3600));
  }

  private static Window later() {
    return new Window(T0.plusSeconds(7200), T0.plusSeconds(9000));
  }

  private static Ipv4Cidr cidr(String s) {
    return Ipv4Cidr.parse(s);
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void holdsAndSharesSurviveAKill(StoreBackend backend) {
    db = TestDatabase.create(backend, dir, "crm");
    assertThat(config().siteSettings().holdTime()).hasSeconds(30);
    JdbcSiteLedger first = JdbcSiteLedger.open(config());
    SiteShares before = site(first, T0);
    SiteReservations rs = before.reservations();
    rs.prepare("r-kept", hour(), 2, cidr("10.10.0.0/29"), "alice");
    rs.commit("r-kept");
    rs.prepare("r-started", hour(), 1, cidr("10.10.0.8/30"), "alice");
    rs.commit("r-started");
    rs.prepare("r-prep", hour(), 1, cidr("10.10.0.12/30"), "alice"); // expires at T0 + 30s
    rs.prepare("r-gone", later(), 1, cidr("10.10.0.16/30"), "alice");
    rs.abort("r-gone");
    before.openShare("j-kept", "r-kept", "alice");
    before.openShare("j-started", "r-started", "alice");
    first.shareStarted("j-started"); // what SetupNodes records before launching pilots
    first.close(); // kill -9: no release, no orderly close

    // Back within the hold time: the prepared hold is still there and can be committed.
    JdbcSiteLedger second = JdbcSiteLedger.open(config());
    SiteShares mid = site(second, T0.plusSeconds(10));
    assertThat(mid.recover()).containsExactly("j-kept");
    assertThat(mid.reservations().snapshot()).containsEntry("r-kept", HoldTable.State.COMMITTED)
        .containsEntry("r-started", HoldTable.State.COMMITTED)
        .containsEntry("r-prep", HoldTable.State.PREPARED)
        .containsEntry("r-gone", HoldTable.State.ABORTED);
    assertThat(mid.reservations().nodesHeldAt(T0.plusSeconds(10))).isEqualTo(4);
    assertThatThrownBy(() -> mid.reservations().prepare("r-gone", later(), 1,
        cidr("10.10.0.16/30"), "alice")).isInstanceOf(Errors.RequestException.class)
        .hasMessageContaining("ABORTED");
    second.close();

    // Back after the prepared hold's original instant: it expired, nothing else changed.
    JdbcSiteLedger third = JdbcSiteLedger.open(config());
    try {
      SiteShares after = site(third, T0.plusSeconds(31));
      assertThat(after.recover()).containsExactly("j-kept");
      assertThat(after.jobIds()).containsExactly("j-kept");
      SiteReservations ar = after.reservations();
      assertThat(ar.state("r-prep")).contains(HoldTable.State.EXPIRED);
      assertThat(ar.state("r-kept")).contains(HoldTable.State.COMMITTED);
      assertThat(ar.nodesHeldAt(T0.plusSeconds(31))).isEqualTo(3);
      assertThatThrownBy(() -> ar.prepare("r-new", hour(), 1, cidr("10.10.0.4/30"), "bob"))
          .isInstanceOf(Errors.RequestException.class)
          .hasMessageContaining("overlaps range 10.10.0.0/29");
      assertThatThrownBy(() -> ar.prepare("r-big", hour(), 2, cidr("10.10.0.32/29"), "bob"))
          .hasMessageContaining("1 of 4 nodes free");
      after.releaseReservation("r-kept", "done");
      assertThat(third.loadShares()).isEmpty();
      assertThat(third.loadHolds()).filteredOn(h -> h.state() == HoldTable.State.COMMITTED)
          .extracting(SiteLedgerHoldId::of).containsExactly("r-started");
    } finally {
      third.close();
    }
  }

  private static final class SiteLedgerHoldId {
    static String of(org.lambdagrid.crm.site.SiteLedger.Hold h) {
      return h.id();
    }
  }

  @Test
  void theDefaultDatabaseIsAFileInTheStateDir() {
    // The cross-process lock is checked by it/CrmCrashTest; here only the URL.
    try (JdbcSiteLedger l = JdbcSiteLedger.open(config())) {
      assertThat(l.url()).startsWith("jdbc:h2:file:" + dir.resolve("crm"));
      assertThat(l.loadHolds()).isEqualTo(List.of());
    }
  }
}
