package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.net.FakeKernel;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.crm.overlay.SiteOverlayTest;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.site.SiteReservations;
import org.lambdagrid.crm.site.SiteShares;
import org.lambdagrid.crm.testing.CrmStateFixture;
import org.lambdagrid.crm.testing.TestPilotStarter;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;
import org.lambdagrid.proto.v1.ReleaseRequest;
import org.lambdagrid.proto.v1.ReservationOverlay;
import org.lambdagrid.proto.v1.SiteServiceGrpc;

/**
 * A CRM that dies (no orderly close) and starts again on its state database: committed holds
 * stay until released, a prepared hold still expires at its original instant, tombstones still
 * refuse a late prepare, opened shares are bound again and started ones are dropped; nothing is
 * handed out twice; a routed site's hold whose overlay record was lost while the CRM was down
 * fails its Commit instead of building nothing. On the default H2 file and on a real PostgreSQL
 * (skipped without scripts/postgres-local).
 */
class CrmRestartTest {
  @TempDir Path dir;
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  /** The state database when a test chose one; otherwise the default H2 file in {@code dir}. */
  @RegisterExtension final CrmStateFixture state = new CrmStateFixture(() -> dir);

  private CrmConfig config() {
    return state.config("hold_time: 30s\n");
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
    state.database(backend);
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

  /** A routed CRM (overlay endpoint 172.31.255.2) on the state dir and database, its overlay on {@code kernel}. */
  private final class RoutedCrm implements AutoCloseable {
    final CrmServer server;
    final ManagedChannel channel;

    RoutedCrm(FakeKernel kernel) throws Exception {
      String name = "crm-restart-" + java.util.UUID.randomUUID();
      CrmConfig c = state.config("hold_time: 30s\nshutdown_wait: 1s\npilot: {run_as_user: false}\n"
          + "overlay: {endpoint: 172.31.255.2}\n");
      server = new CrmServer(c, new TestPilotStarter(() -> null), BatchReservations.NONE,
          InProcessServerBuilder.forName(name), req -> RegisterSiteResponse.getDefaultInstance(),
          JdbcSiteLedger.open(c), Clock.systemUTC(), kernel).start();
      channel = InProcessChannelBuilder.forName(name).build();
    }

    SiteServiceGrpc.SiteServiceBlockingStub site() {
      return SiteServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    Status commit(String id) {
      try {
        site().commit(CommitRequest.newBuilder().setReservationId(id).build());
        return Status.OK;
      } catch (StatusRuntimeException e) {
        return e.getStatus();
      }
    }

    @Override
    public void close() {
      channel.shutdownNow();
      server.close(); // closes the ledger: what a killed CRM leaves is on disk
    }
  }

  private static PrepareRequest prepare(String id, String range, ReservationOverlay.Builder overlay) {
    Instant start = Instant.now().plusSeconds(3600);
    PrepareRequest.Builder b = PrepareRequest.newBuilder().setReservationId(id).setNodeCount(1)
        .setRange(AddressRange.newBuilder().setCidr(range)).setUser("alice")
        .setStart(ProtoTime.toProto(start)).setEnd(ProtoTime.toProto(start.plusSeconds(3600)));
    return (overlay == null ? b : b.setOverlay(overlay)).build();
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void aHoldWhoseOverlayRecordWasLostWhileTheCrmWasDownFailsItsCommitNamingTheRecord(
      StoreBackend backend) throws Exception {
    state.database(backend);
    FakeKernel kernel = new FakeKernel();
    try (RoutedCrm first = new RoutedCrm(kernel)) {
      first.site().prepare(prepare("r-lost", "10.10.0.0/30", SiteOverlayTest.alphaEnd(4096, "abc111")));
      first.site().prepare(prepare("r-cut", "10.10.0.4/30", SiteOverlayTest.alphaEnd(4097, "abc222")));
      first.site().prepare(prepare("r-kept", "10.10.0.8/30", SiteOverlayTest.alphaEnd(4098, "abc333")));
      first.site().prepare(prepare("r-plain", "10.10.0.12/30", null));
    }
    // While the CRM is down one record is deleted and one is cut to nothing.
    Path lost = dir.resolve("overlay").resolve("r-lost.json");
    Path cut = dir.resolve("overlay").resolve("r-cut.json");
    assertThat(lost).exists();
    Files.delete(lost);
    Files.write(cut, new byte[0]);

    try (RoutedCrm second = new RoutedCrm(kernel)) {
      assertThat(second.server.overlay().recordsLostAtStart()).as("r-lost and r-cut").isEqualTo(2);
      Status st = second.commit("r-lost");
      assertThat(st.getCode()).isEqualTo(Status.Code.INTERNAL);
      assertThat(st.getDescription()).contains("reservation r-lost", "site 'a'", lost.toString(),
          "retries the Commit");
      st = second.commit("r-cut");
      assertThat(st.getCode()).isEqualTo(Status.Code.INTERNAL);
      assertThat(st.getDescription()).contains("reservation r-cut", "site 'a'", cut.toString(), "unreadable");
      assertThat(kernel.links).isEmpty();
      // The others commit as before: the recorded end is built, the plain hold builds nothing.
      assertThat(second.commit("r-kept").isOk()).isTrue();
      assertThat(second.commit("r-plain").isOk()).isTrue();
      assertThat(kernel.links).containsExactly("lgnabc333b0", "lgnabc333x0", "lgnabc333x1");
    }
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void aCommittedHoldWhoseOverlayRecordWasLostIsKeptAndItsRetriedCommitFails(StoreBackend backend)
      throws Exception {
    state.database(backend);
    FakeKernel kernel = new FakeKernel();
    try (RoutedCrm first = new RoutedCrm(kernel)) {
      first.site().prepare(prepare("r-built", "10.10.0.0/30", SiteOverlayTest.alphaEnd(4096, "abc111")));
      assertThat(first.commit("r-built").isOk()).isTrue();
    }
    Path lost = dir.resolve("overlay").resolve("r-built.json");
    Files.delete(lost);
    kernel.links.clear(); // and the host rebooted: nothing to rebuild from
    try (RoutedCrm second = new RoutedCrm(kernel)) {
      // Logged at ERROR; the hold stays (the GRC counts it committed) until it is released.
      assertThat(second.server.shares().reservations().state("r-built")).contains(HoldTable.State.COMMITTED);
      Status st = second.commit("r-built");
      assertThat(st.getCode()).isEqualTo(Status.Code.INTERNAL);
      assertThat(st.getDescription()).contains("reservation r-built", lost.toString());
      assertThat(kernel.links).isEmpty();
      assertThat(second.server.overlay().recordsLostAtStart()).isEqualTo(1);
      second.site().release(ReleaseRequest.newBuilder().setReservationId("r-built").build());
      assertThat(second.server.shares().reservations().state("r-built")).contains(HoldTable.State.RELEASED);
      assertThat(second.server.overlay().recordsLostAtStart()).as("counted until it ends").isZero();
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
