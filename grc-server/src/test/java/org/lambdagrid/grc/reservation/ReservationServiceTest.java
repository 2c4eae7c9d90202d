package org.lambdagrid.grc.reservation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.awaitility.Awaitility.await;
import static org.lambdagrid.grc.TestGrc.G;

import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.TestGrc;
import org.lambdagrid.grc.job.JobStates;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;

/** The GRC's reservation service over fake CRMs and the calendar network provider. */
class ReservationServiceTest {
  private static final Duration WAIT = Duration.ofSeconds(20);

  private final TestGrc grc = new TestGrc(Clock.systemUTC(), Duration.ofMillis(500),
      Duration.ofSeconds(2), TestGrc.SETTINGS);
  private final ReservationService service = grc.reservations;
  private FakeSite a;
  private FakeSite b;

  @BeforeEach
  void setUp() {
    a = grc.site("a");
    b = grc.site("b");
  }

  @AfterEach
  void tearDown() {
    grc.close();
  }

  private static ReservationSpec.Builder spec() {
    return ReservationSpec.newBuilder().putSiteNodes("a", 2).putSiteNodes("b", 2)
        .setBandwidthBps(200_000_000L).setDuration(ProtoTime.toProto(Duration.ofHours(1)))
        .setUser("alice");
  }

  private long linkInUse(String link) {
    return grc.coAllocator.bandwidthInUse(link, Instant.now().plusSeconds(1));
  }

  private void assertNothingHeldAnywhere() {
    assertThat(a.held()).as("site a").isEmpty();
    assertThat(b.held()).as("site b").isEmpty();
    assertThat(grc.network.table().snapshot().values()).as("network")
        .doesNotContain(HoldTable.State.PREPARED, HoldTable.State.COMMITTED);
    assertThat(linkInUse("a<->core")).isZero();
    assertThat(grc.coAllocator.reservations()).isEmpty();
    assertThat(grc.coAllocator.nodesInUse("a", Instant.now().plusSeconds(1))).isZero();
    assertThat(grc.addresses.holders()).isEmpty();
  }

  private void assertRefused(ReservationSpec.Builder s, Status.Code code, String message) {
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> service.reserve(s.build()))
        .matches(e -> e.code() == code, "code " + code)
        .withMessageContaining(message);
  }

  @Test
  void reservesNodesOnBothSitesAndBandwidthOnThePathAllOrNothing() {
    Reservation r = service.reserve(spec().build());
    assertThat(r.getId()).matches("r-[0-9a-f]{8}");
    assertThat(r.getState()).isIn(ReservationState.RESERVATION_RESERVED,
        ReservationState.RESERVATION_ACTIVE);
    assertThat(r.getSiteNodesMap()).containsEntry("a", 2).containsEntry("b", 2);
    assertThat(r.getSiteRangesMap()).containsOnlyKeys("a", "b");
    assertThat(r.getBandwidthBps()).isEqualTo(200_000_000L);
    assertThat(a.reservationStates()).containsEntry(r.getId(), "COMMITTED");
    assertThat(b.reservationStates()).containsEntry(r.getId(), "COMMITTED");
    assertThat(a.reservations().get(r.getId()).getRange()).isEqualTo(r.getSiteRangesOrThrow("a"));
    assertThat(linkInUse("a<->core")).isEqualTo(200_000_000L);
    assertThat(linkInUse("b<->core")).isEqualTo(200_000_000L);
    assertThat(service.nodesInUse("a")).isEqualTo(2);
  }

  @Test
  void routedSitesGetTheirOverlayEndsInTheirPrepareFromTheCalendarProvider() {
    Reservation plain = service.reserve(spec().build());
    assertThat(a.reservations().get(plain.getId()).hasOverlay()).as("layer-2 sites get none").isFalse();
    assertThat(plain.getSiteBridgesMap()).isEmpty();
    // Only a is routed: refused, naming b and where its endpoint would come from; nothing held.
    grc.registry.register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/16"), 1,
        new org.lambdagrid.grc.site.Site.Overlay("172.31.255.2", "", 1500));
    service.cancel(plain.getId());
    assertRefused(spec(), Status.Code.FAILED_PRECONDITION, "crm.yaml overlay.endpoint");
    assertNothingHeldAnywhere();
    grc.registry.register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/16"), 1,
        new org.lambdagrid.grc.site.Site.Overlay("172.31.255.6", "", 1550));
    Reservation r = service.reserve(spec().build());
    org.lambdagrid.proto.v1.ReservationOverlay ea = a.reservations().get(r.getId()).getOverlay();
    org.lambdagrid.proto.v1.ReservationOverlay eb = b.reservations().get(r.getId()).getOverlay();
    assertThat(ea.getVni()).isBetween(4096, 8191).isEqualTo(eb.getVni());
    assertThat(ea.getMtu()).as("the smaller underlay less 50").isEqualTo(1450);
    assertThat(ea.getLocalEndpoint()).isEqualTo("172.31.255.2");
    assertThat(ea.getTunnelsList()).extracting(t -> t.getPeerSite() + " " + t.getPeerEndpoint() + ":" + t.getPort()
        + " " + t.getRateBps()).containsExactly("b 172.31.255.6:4789 200000000");
    assertThat(eb.getTunnels(0).getPeerEndpoint()).isEqualTo("172.31.255.2");
    // The bridges the CRMs build are the ones the GRC sends in SetupNodes.
    assertThat(r.getSiteBridgesMap()).containsEntry("a", ea.getBridge()).containsEntry("b", eb.getBridge());
    assertThat(ea.getBridge()).startsWith("lgn");
    // A second live reservation gets another VNI.
    Reservation r2 = service.reserve(spec().build());
    assertThat(a.reservations().get(r2.getId()).getOverlay().getVni()).isNotEqualTo(ea.getVni());
    service.cancel(r.getId());
    service.cancel(r2.getId());
    assertNothingHeldAnywhere();
  }

  @Test
  void aSiteMayNotReRegisterWithFewerNodesThanItsReservationsHold() {
    Reservation r = service.reserve(spec().build());
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> grc.registry.register("a", FakeSites.endpoint("a"), 1,
            List.of("10.10.0.0/16"), 1))
        .withMessage("site 'a': node_capacity 1 is less than the 2 nodes its reservations hold");
    assertThat(grc.registry.register("a", FakeSites.endpoint("a"), 2, List.of("10.10.0.0/16"), 1)
        .nodeCapacity()).isEqualTo(2);
    service.cancel(r.getId());
    assertThat(grc.registry.register("a", FakeSites.endpoint("a"), 1, List.of("10.10.0.0/16"), 1)
        .nodeCapacity()).isEqualTo(1);
  }

  @Test
  void oneCrmRefusing_nothingIsHeldAnywhere() {
    b.failOn("Prepare", Status.FAILED_PRECONDITION.withDescription("site 'b' has 1 of 4 nodes"
        + " free"));
    assertRefused(spec(), Status.Code.FAILED_PRECONDITION, "reservation refused, nothing is held:"
        + " site:b refused (FAILED_PRECONDITION): site 'b' has 1 of 4 nodes free");
    assertThat(a.reservationStates().values()).containsOnly("ABORTED");
    assertThat(grc.fakes.log()).contains("a Abort", "b Abort");
    assertNothingHeldAnywhere();
    assertThat(service.list("", true)).isEmpty();
  }

  @Test
  void aCrmThatNeverAnswers_abortedAfterTheTimeoutAndTheOthersReleased() {
    b.hangOn("Prepare");
    long t0 = System.nanoTime();
    assertRefused(spec(), Status.Code.DEADLINE_EXCEEDED,
        "site:b did not answer prepare within PT0.5S");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
    assertThat(a.reservationStates().values()).containsOnly("ABORTED");
    assertThat(grc.fakes.log()).contains("b Abort");
    assertNothingHeldAnywhere();
  }

  @Test
  void anUnacknowledgedCommitIsRetriedBeforeTheHoldTimeRunsOut() {
    b.failOn("Commit", Status.UNAVAILABLE.withDescription("connection reset"));
    Reservation r = service.reserve(spec().build());
    assertThat(r.getMessage()).contains("commit not acknowledged yet (retrying)")
        .contains("site:b failed commit: connection reset");
    b.clearFailure("Commit");
    await().atMost(WAIT).until(() -> "COMMITTED".equals(b.reservationStates().get(r.getId())));
    await().atMost(WAIT).until(() -> service.get(r.getId()).getMessage().isEmpty());
    assertThat(service.get(r.getId()).getState()).isNotIn(ReservationState.RESERVATION_ENDED,
        ReservationState.RESERVATION_CANCELLED);
  }

  @Test
  void duplicatedMessagesChangeNothing() {
    Reservation r = service.reserve(spec().setClientToken("t1").build());
    Reservation again = service.reserve(spec().setClientToken("t1").build());
    assertThat(again.getId()).isEqualTo(r.getId());
    assertThat(grc.fakes.log().stream().filter(c -> c.equals("a Prepare "
        + r.getSiteRangesOrThrow("a").getCidr()))).hasSize(1);
    // The participants themselves: a repeated commit, and a repeated prepare, hold nothing more.
    grc.network.commit(r.getId()).join();
    assertThat(linkInUse("a<->core")).isEqualTo(200_000_000L);
    Reservation cancelled = service.cancel(r.getId());
    assertThat(service.cancel(r.getId())).isEqualTo(cancelled);
    assertThat(grc.fakes.log().stream().filter(c -> c.equals("a Release"))).hasSize(1);
    assertNothingHeldAnywhere();
  }

  @Test
  void cancelFreesExactlyWhatWasHeld() {
    Reservation r1 = service.reserve(spec().build());
    Reservation r2 = service.reserve(spec().putSiteNodes("a", 1).setBandwidthBps(300_000_000L)
        .build());
    assertThat(service.nodesInUse("a")).isEqualTo(3);
    assertThat(linkInUse("a<->core")).isEqualTo(500_000_000L);

    Reservation c = service.cancel(r1.getId());
    assertThat(c.getState()).isEqualTo(ReservationState.RESERVATION_CANCELLED);
    assertThat(c.getMessage()).contains("cancelled by its user");
    assertThat(service.nodesInUse("a")).isEqualTo(1);
    assertThat(linkInUse("a<->core")).isEqualTo(300_000_000L);
    assertThat(a.held()).containsExactly(r2.getId());
    assertThat(b.held()).containsExactly(r2.getId());
    assertThat(grc.addresses.holders()).containsExactly(r2.getId());
    assertThat(service.list("", false)).extracting(Reservation::getId).containsExactly(r2.getId());
  }

  @Test
  void theWindowEndStopsARunningJobWithAnEventAndReleasesEveryParticipant() {
    a.holdExit();
    Reservation r = service.reserve(spec().setDuration(ProtoTime.toProto(Duration.ofSeconds(3)))
        .setPrebuild(false).build());
    Job job = grc.coordinator.submit(JobSpec.newBuilder().setReservationId(r.getId())
        .addArgv("sleep").addArgv("600").setWorkingDirectory("/").setUser("alice").build());
    await().atMost(WAIT).until(() -> grc.coordinator.get(job.getId()).getState()
        == JobState.JOB_RUNNING);
    await().atMost(WAIT).until(() -> JobStates.MACHINE.isTerminal(
        grc.coordinator.get(job.getId()).getState()));
    Job done = grc.coordinator.get(job.getId());
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getMessage()).startsWith("reservation " + r.getId() + " ended (its window"
        + " ended at").endsWith("before the command finished; the job was stopped");
    List<Event> events = grc.coordinator.job(job.getId()).events();
    assertThat(events.get(events.size() - 1).getMessage()).isEqualTo(done.getMessage());
    await().atMost(WAIT).until(() -> service.get(r.getId()).getState()
        == ReservationState.RESERVATION_ENDED);
    assertThat(a.released()).contains(job.getId());
    // ENDED is recorded before the GRC frees its node holds and address leases (a restart in
    // between releases them again), on the timer's worker thread: wait for those too.
    await().atMost(WAIT).untilAsserted(this::assertNothingHeldAnywhere);
  }

  @Test
  void aJobRunsInItsReservationWhichOneJobUsesAtATime() {
    a.holdExit();
    Reservation r = service.reserve(spec().setPrebuild(false).build());
    Job job = grc.coordinator.submit(JobSpec.newBuilder().setReservationId(r.getId())
        .addArgv("true").setWorkingDirectory("/").setUser("alice").build());
    assertThat(job.getSpec().getSiteNodesMap()).containsEntry("a", 2).containsEntry("b", 2);
    assertThat(job.getSiteRangesMap()).isEqualTo(r.getSiteRangesMap());
    assertThat(job.getReservationId()).isEqualTo(r.getId());
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> grc.coordinator.submit(JobSpec.newBuilder().setReservationId(r.getId())
            .addArgv("true").setWorkingDirectory("/").setUser("alice").build()))
        .withMessageContaining("is in use by job " + job.getId());
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> grc.coordinator.submit(JobSpec.newBuilder().setReservationId(r.getId())
            .addArgv("true").setWorkingDirectory("/").setUser("bob").build()))
        .matches(e -> e.code() == Status.Code.NOT_FOUND)
        .withMessage("user 'bob' has no reservation '" + r.getId() + "'");
    await().atMost(WAIT).until(() -> a.isWatched(job.getId()));
    // Cancelling the reservation cancels the job in it, with an event saying why.
    service.cancel(r.getId());
    Job done = grc.coordinator.get(job.getId());
    assertThat(done.getState()).isEqualTo(JobState.JOB_CANCELLED);
    assertThat(done.getMessage()).isEqualTo("reservation " + r.getId() + " was cancelled; the"
        + " job was stopped");
    assertNothingHeldAnywhere();
  }

  @Test
  void badInputIsRefusedNamingFieldAndValue() {
    assertRefused(spec().setBandwidthBps(0), Status.Code.INVALID_ARGUMENT,
        "spec.bandwidth_bps: '0' must be positive");
    assertRefused(spec().setCpus(0), Status.Code.INVALID_ARGUMENT,
        "spec.cpus: '0' must be at least 1");
    assertRefused(spec().setMemoryBytes(0), Status.Code.INVALID_ARGUMENT,
        "spec.memory_bytes: '0' is less than the smallest memory limit");
    assertRefused(spec().setBandwidthBps(-5), Status.Code.INVALID_ARGUMENT,
        "spec.bandwidth_bps: '-5' must be positive");
    Instant start = Instant.now().plusSeconds(3600);
    assertRefused(spec().setStart(ProtoTime.toProto(start))
        .setDeadline(ProtoTime.toProto(start.minusSeconds(60))), Status.Code.INVALID_ARGUMENT,
        "spec.deadline: '" + start.minusSeconds(60) + "' is not after the start");
    assertRefused(spec().setStart(ProtoTime.toProto(Instant.now().minusSeconds(3600))),
        Status.Code.INVALID_ARGUMENT, "spec.start:");
    assertRefused(spec().setStart(ProtoTime.toProto(Instant.now().minusSeconds(3600))),
        Status.Code.INVALID_ARGUMENT, "is in the past");
    assertRefused(spec().putSiteNodes("tokyo", 1), Status.Code.NOT_FOUND,
        "site 'tokyo' is not registered (known sites: a, b)");
    assertRefused(spec().putSiteNodes("a", 9), Status.Code.INVALID_ARGUMENT,
        "spec.site_nodes[a]: '9' is more nodes than site 'a' has (capacity 4)");
    assertRefused(spec().setBandwidthBps(2 * G), Status.Code.INVALID_ARGUMENT,
        "spec.bandwidth_bps: '2 Gbit/s'");
    assertRefused(spec().setDuration(ProtoTime.toProto(Duration.ofSeconds(-1))),
        Status.Code.INVALID_ARGUMENT, "spec.duration");
    assertRefused(spec().clearSiteNodes(), Status.Code.INVALID_ARGUMENT, "spec.site_nodes");
    assertThat(grc.fakes.log()).isEmpty();
    assertNothingHeldAnywhere();
  }

  @Test
  void theEarliestWindowMovesPastABusySite() {
    Reservation first = service.reserve(spec().putSiteNodes("a", 4).clearBandwidthBps().build());
    Reservation second = service.reserve(spec().putSiteNodes("a", 1).clearBandwidthBps().build());
    assertThat(second.getStart()).isEqualTo(first.getEnd());
  }

  @Test
  void aWindowLongerThanMaxDurationOrStartingBeyondMaxHorizonIsRefusedNamingTheLimit() {
    // TestGrc runs with the default limits: max_duration 7d, max_horizon 90d.
    assertRefused(spec().setDuration(ProtoTime.toProto(Duration.ofDays(8))),
        Status.Code.INVALID_ARGUMENT,
        "spec.duration: '8d' is longer than the GRC grants (max_duration 7d)");
    assertRefused(spec().setDuration(ProtoTime.toProto(Duration.ofSeconds(Long.MAX_VALUE))),
        Status.Code.INVALID_ARGUMENT, "(max_duration 7d)");
    Instant far = Instant.now().plus(Duration.ofDays(91));
    assertRefused(spec().setStart(ProtoTime.toProto(far)), Status.Code.INVALID_ARGUMENT,
        "spec.start: '" + far + "' is further ahead than the GRC grants (max_horizon 90d");
    assertRefused(spec().setStart(com.google.protobuf.Timestamp.newBuilder()
        .setSeconds(Long.MAX_VALUE)), Status.Code.INVALID_ARGUMENT,
        "spec.start: '9223372036854775807s' is not a representable time");
    assertThat(grc.fakes.log()).isEmpty();
    assertNothingHeldAnywhere();
    // At the limits themselves it is granted.
    Reservation r = service.reserve(spec().setDuration(ProtoTime.toProto(Duration.ofDays(7)))
        .setStart(ProtoTime.toProto(Instant.now().plus(Duration.ofDays(89)))).build());
    assertThat(r.getState()).isEqualTo(ReservationState.RESERVATION_RESERVED);
  }

  @Test
  void aWindowTheCalendarsPushBeyondMaxHorizonIsRefused() {
    // Site a is busy for 91 days in 7-day windows; a request needing all of a must wait past 90d.
    Instant t = Instant.now().plusSeconds(5);
    for (int i = 0; i < 13; i++) {
      service.reserve(spec().putSiteNodes("a", 4).clearBandwidthBps()
          .setStart(ProtoTime.toProto(t)).setDuration(ProtoTime.toProto(Duration.ofDays(7)))
          .build());
      t = t.plus(Duration.ofDays(7));
    }
    assertRefused(spec().putSiteNodes("a", 1).clearBandwidthBps(),
        Status.Code.FAILED_PRECONDITION, "no window starts within max_horizon (90d");
  }

  @Test
  void limitsComeFromTheConfigFieldsAndAreCheckedThere() {
    assertThat(GrcConfig.defaults().limits()).isEqualTo(ReservationService.Limits.defaults());
    assertThat(GrcConfig.defaults().withLimits("1d", "2d").limits())
        .isEqualTo(new ReservationService.Limits(Duration.ofDays(1), Duration.ofDays(2)));
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> GrcConfig.defaults().withLimits("30m", "2d"))
        .hasMessage("default_duration: '1h' is longer than max_duration ('30m')");
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> GrcConfig.defaults().withLimits("0s", "2d"))
        .hasMessageContaining("max_duration: '0s' must be longer than zero");
  }
}
