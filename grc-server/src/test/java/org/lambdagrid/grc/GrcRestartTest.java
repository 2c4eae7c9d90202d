package org.lambdagrid.grc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.GuestsState;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.PrebuiltGuests;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;

/**
 * A GRC that stops without its orderly shutdown (as after kill -9) and starts again on the same
 * state database: sites, committed reservations (with their leases, node and link holds), and
 * finished jobs come back; unfinished jobs end FAILED naming the phase and their shares are
 * released; a reservation caught in the two-phase commit is released at every site and its
 * lease freed only once every site confirmed. A clean stop ({@link GrcServer#close}) fails live
 * jobs but keeps committed reservations the same way, and aborts one still in its two-phase
 * commit; without durable state it ends every reservation. The crash case also runs on a real
 * PostgreSQL (skipped without scripts/postgres-local).
 */
class GrcRestartTest {
  @TempDir Path dir;
  private final List<AutoCloseable> closeMe = new ArrayList<>();
  /** The state database when a test chose one; otherwise the default H2 file in {@code dir}. */
  private TestDatabase db;

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeMe.size() - 1; i >= 0; i--) {
      closeMe.get(i).close();
    }
  }

  private GrcConfig config() {
    GrcConfig.TopologyConfig t = new GrcConfig.TopologyConfig(List.of("a", "b", "core"), List.of(
        new GrcConfig.LinkConfig("a", "core", "1G"), new GrcConfig.LinkConfig("b", "core", "1G")));
    return new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms", null, null,
        t, new GrcConfig.NetworkConfig(null, null, "2s"), null, dir.toString(),
        db == null ? null : db.stateConfig(), null);
  }

  /** The first GRC: its core over fake CRMs, dropped without shutdown. */
  private TestGrc firstLife() {
    TestGrc g = new TestGrc(Clock.systemUTC(), Duration.ofMillis(500), Duration.ofSeconds(2),
        TestGrc.SETTINGS, GrcState.open(config()));
    g.registry.register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/24"), 1);
    g.registry.register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/24"), 1);
    return g;
  }

  /** kill -9: nothing is ended or released; whatever the dying threads still write is lost. */
  private static void crash(TestGrc g) {
    g.state.close();
    g.close();
  }

  private GrcServer secondLife(TestGrc first, String name) throws Exception {
    return secondLife(first.fakes, name);
  }

  private GrcServer secondLife(FakeSites fakes, String name) throws Exception {
    GrcServer s = new GrcServer(config(), Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(name).directExecutor(), GrcState.open(config()));
    closeMe.add(s);
    s.start();
    return s;
  }

  private static JobSpec.Builder job(int a, int b) {
    return JobSpec.newBuilder().putSiteNodes("a", a).putSiteNodes("b", b).addArgv("app")
        .setWorkingDirectory("/tmp").setUser("alice");
  }

  private static ReservationSpec.Builder reservation() {
    return ReservationSpec.newBuilder().putSiteNodes("a", 2).putSiteNodes("b", 1)
        .setBandwidthBps(300_000_000L).setStart(ProtoTime.toProto(Instant.now().plusSeconds(600)))
        .setDuration(ProtoTime.toProto(Duration.ofHours(1))).setUser("alice");
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void committedReservationsAndFinishedJobsSurvive_unfinishedJobsFail(StoreBackend backend)
      throws Exception {
    db = TestDatabase.create(backend, dir, "grc");
    closeMe.add(0, db); // dropped last
    TestGrc first = firstLife();
    FakeSite a = first.fakes.add("a").stdout("hello\n");
    FakeSite b = first.fakes.add("b");
    Job done = first.coordinator.submit(job(1, 1).build());
    await().atMost(Duration.ofSeconds(20)).until(() ->
        first.coordinator.get(done.getId()).getState() == JobState.JOB_SUCCEEDED);
    Reservation kept = first.reservations.reserve(reservation().build());
    a.hangOn("StartGuests");
    Job running = first.coordinator.submit(job(1, 1).build());
    await().atMost(Duration.ofSeconds(20)).until(() ->
        first.coordinator.get(running.getId()).getState() == JobState.JOB_STARTING);
    String runningReservation = first.coordinator.get(running.getId()).getReservationId();
    crash(first);

    GrcServer second = secondLife(first, "grc-restart");
    assertThat(second.registry().list()).extracting(Site::name).containsExactly("a", "b");
    Job d = second.coordinator().get(done.getId());
    assertThat(d.getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    List<String> out = new ArrayList<>();
    second.coordinator().job(done.getId()).output().readAll()
        .forEach(p -> out.add(p.chunk().getData().toStringUtf8()));
    assertThat(out).contains("hello\n");

    Job r = second.coordinator().get(running.getId());
    assertThat(r.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(r.getFailedPhase()).isEqualTo(Phase.PHASE_RUN);
    assertThat(r.getMessage()).startsWith("the GRC restarted during phase RUN");
    // ... and counted as one, with the time it spent STARTING (until the restart's end of it).
    var scrape = second.metrics().registry().scrape();
    assertThat(scrape.stream().filter(m -> m.getMetadata().getName()
        .equals("lambdagrid_grc_jobs_finished")).findFirst().orElseThrow().getDataPoints()
        .stream().filter(p -> p.getLabels().get("state").equals("FAILED"))
        .mapToDouble(p -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot
            .CounterDataPointSnapshot) p).getValue()).sum()).isEqualTo(1.0);
    assertThat(b.released()).contains(running.getId());
    // The reservation made for the failed job ends with it and is released everywhere.
    await().atMost(Duration.ofSeconds(20)).until(() -> second.reservations()
        .get(runningReservation).getState() == ReservationState.RESERVATION_ENDED);
    assertThat(a.reservationStates()).containsEntry(runningReservation, "RELEASED");

    // The committed reservation is there, holding its lease, nodes and bandwidth again.
    Reservation k = second.reservations().get(kept.getId());
    assertThat(k.getState()).isEqualTo(ReservationState.RESERVATION_RESERVED);
    assertThat(k.getSiteRangesMap()).isEqualTo(kept.getSiteRangesMap());
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
        assertThat(second.allocator().holders()).containsExactly(kept.getId()));
    Instant inWindow = ProtoTime.fromProto(kept.getStart()).plusSeconds(1);
    assertThat(second.coAllocator().nodesInUse("a", inWindow)).isEqualTo(2);
    assertThat(second.coAllocator().bandwidthInUse("a<->core", inWindow))
        .isEqualTo(300_000_000L);
    // Nothing it holds is handed out again: a full-site request in its window is refused.
    assertThat(second.coAllocator().freeNodes("a", new org.lambdagrid.common.reservation.Window(
        inWindow, inWindow.plusSeconds(60)))).isEqualTo(2);
    Reservation other = second.reservations().reserve(reservation().build());
    assertThat(Ipv4Cidr.parse(other.getSiteRangesOrThrow("a").getCidr()).overlaps(
        Ipv4Cidr.parse(kept.getSiteRangesOrThrow("a").getCidr()))).isFalse();
    second.reservations().cancel(kept.getId());
    assertThat(a.reservationStates()).containsEntry(kept.getId(), "RELEASED");
  }

  /** A GRC server on the state in {@code dir} (or in memory), with sites a and b registered. */
  private GrcServer server(FakeSites fakes, String name, boolean durable) throws Exception {
    GrcServer s = new GrcServer(config(), Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(name).directExecutor(),
        durable ? GrcState.open(config()) : null).start();
    s.registry().register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/24"), 1);
    s.registry().register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/24"), 1);
    return s;
  }

  private static long count(FakeSites fakes, String call) {
    return fakes.log().stream().filter(call::equals).count();
  }

  @Test
  void aCleanStopFailsLiveJobsButKeepsCommittedReservations_whichComeBackOnTheNextStart()
      throws Exception {
    FakeSites fakes = new FakeSites();
    FakeSite a = fakes.add("a").holdExit();
    FakeSite b = fakes.add("b");
    GrcServer first = server(fakes, "grc-stop-1", true);
    Reservation later = first.reservations().reserve(reservation().build());
    Reservation now = first.reservations().reserve(ReservationSpec.newBuilder()
        .putSiteNodes("a", 1).putSiteNodes("b", 1).setDuration(ProtoTime.toProto(
            Duration.ofHours(1))).setUser("alice").setPrebuild(false).build());
    Job inReservation = first.coordinator().submit(job(0, 0).clearSiteNodes()
        .setReservationId(now.getId()).build());
    Job ownReservation = first.coordinator().submit(job(1, 1).build());
    await().atMost(Duration.ofSeconds(20)).until(() ->
        first.coordinator().get(inReservation.getId()).getState() == JobState.JOB_RUNNING
            && first.coordinator().get(ownReservation.getId()).getState()
                == JobState.JOB_RUNNING);
    String own = first.coordinator().get(ownReservation.getId()).getReservationId();

    first.close();

    // The jobs failed, and the reservation made for one of them ended with it ...
    for (Job j : List.of(inReservation, ownReservation)) {
      Job f = first.coordinator().get(j.getId());
      assertThat(f.getState()).isEqualTo(JobState.JOB_FAILED);
      assertThat(f.getMessage()).isEqualTo("the GRC shut down");
      assertThat(a.released()).contains(j.getId());
      assertThat(b.released()).contains(j.getId());
    }
    assertThat(a.reservationStates()).containsEntry(own, "RELEASED");
    // ... but the standalone ones were left committed everywhere.
    for (Reservation r : List.of(later, now)) {
      assertThat(a.reservationStates()).containsEntry(r.getId(), "COMMITTED");
      assertThat(b.reservationStates()).containsEntry(r.getId(), "COMMITTED");
    }
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> first.reservations().reserve(reservation().build()))
        .matches(e -> e.code() == Status.Code.UNAVAILABLE)
        .withMessage("the GRC is shutting down; no reservation was made (try again once it is"
            + " back)");
    long commitsBefore = count(fakes, "a Commit");

    GrcServer second = secondLife(fakes, "grc-stop-2");
    for (Reservation r : List.of(later, now)) {
      Reservation k = second.reservations().get(r.getId());
      assertThat(k.getState()).isIn(ReservationState.RESERVATION_RESERVED,
          ReservationState.RESERVATION_ACTIVE);
      assertThat(k.getSiteRangesMap()).isEqualTo(r.getSiteRangesMap());
      assertThat(k.getJobIdsList()).isEqualTo(first.reservations().get(r.getId())
          .getJobIdsList());
    }
    assertThat(second.reservations().get(own).getState())
        .isEqualTo(ReservationState.RESERVATION_ENDED);
    assertThat(second.coordinator().get(inReservation.getId()).getMessage())
        .isEqualTo("the GRC shut down");
    assertThat(second.allocator().holders()).containsExactlyInAnyOrder(later.getId(),
        now.getId());
    Instant inWindow = ProtoTime.fromProto(later.getStart()).plusSeconds(1);
    assertThat(second.coAllocator().nodesInUse("a", inWindow)).isEqualTo(2 + 1);
    assertThat(second.coAllocator().bandwidthInUse("a<->core", inWindow))
        .isEqualTo(300_000_000L);
    // Their commits are sent again (idempotent at the CRMs), which still hold them.
    await().atMost(Duration.ofSeconds(20)).until(() ->
        count(fakes, "a Commit") >= commitsBefore + 2 && count(fakes, "b Commit") >= 4);
    assertThat(a.reservationStates()).containsEntry(later.getId(), "COMMITTED")
        .containsEntry(now.getId(), "COMMITTED");
    // The reservation that was in use takes a new job.
    a.exitCode(0);
    Job again = second.coordinator().submit(job(0, 0).clearSiteNodes()
        .setReservationId(now.getId()).build());
    assertThat(again.getReservationId()).isEqualTo(now.getId());
    second.reservations().cancel(later.getId());
    assertThat(a.reservationStates()).containsEntry(later.getId(), "RELEASED");
  }

  @Test
  void preBuiltGuestsAreReleasedByACleanStop_andAfterACrashByTheNextStart_thenBuiltAgain()
      throws Exception {
    FakeSites fakes = new FakeSites();
    FakeSite a = fakes.add("a");
    FakeSite b = fakes.add("b");
    GrcServer first = server(fakes, "grc-pre-1", true);
    Reservation r = first.reservations().reserve(ReservationSpec.newBuilder()
        .putSiteNodes("a", 1).putSiteNodes("b", 1).setDuration(ProtoTime.toProto(
            Duration.ofHours(1))).setUser("alice").build());
    String share1 = awaitGuests(first, r.getId(), GuestsState.GUESTS_READY).getShareId();
    first.close();
    // A clean stop releases them at every CRM (the reservation itself stays committed).
    assertThat(a.released()).contains(share1);
    assertThat(b.released()).contains(share1);
    assertThat(a.reservationStates()).containsEntry(r.getId(), "COMMITTED");

    GrcServer second = secondLife(fakes, "grc-pre-2");
    PrebuiltGuests again = awaitGuests(second, r.getId(), GuestsState.GUESTS_READY);
    assertThat(again.getShareId()).matches("w-[0-9a-f]{8}").isNotEqualTo(share1);
    assertThat(a.shares()).containsKey(again.getShareId());
    second.reservations().cancel(r.getId());
    assertThat(a.shares()).doesNotContainKey(again.getShareId());
    second.close();

    // kill -9 of the GRC with the guests READY: the next start finds the recorded share,
    // releases it at every CRM, and builds them again.
    TestGrc third = firstLife();
    third.fakes.add("a");
    third.fakes.add("b");
    Reservation r3 = third.reservations.reserve(ReservationSpec.newBuilder()
        .putSiteNodes("a", 1).putSiteNodes("b", 1).setDuration(ProtoTime.toProto(
            Duration.ofHours(1))).setUser("alice").build());
    await().atMost(Duration.ofSeconds(20)).until(() -> third.reservations.get(r3.getId())
        .getGuests().getState() == GuestsState.GUESTS_READY);
    String crashed = third.reservations.get(r3.getId()).getGuests().getShareId();
    crash(third);
    GrcServer fourth = secondLife(third, "grc-pre-4");
    PrebuiltGuests rebuilt = awaitGuests(fourth, r3.getId(), GuestsState.GUESTS_READY);
    assertThat(third.fakes.get("a").released()).contains(crashed);
    assertThat(third.fakes.get("b").released()).contains(crashed);
    assertThat(rebuilt.getShareId()).isNotEqualTo(crashed);
  }

  private static PrebuiltGuests awaitGuests(GrcServer s, String id, GuestsState state) {
    await().atMost(Duration.ofSeconds(20)).until(() ->
        s.reservations().get(id).getGuests().getState() == state);
    return s.reservations().get(id).getGuests();
  }

  @Test
  void aCleanStopAbortsAReservationStillInItsTwoPhaseCommit() throws Exception {
    FakeSites fakes = new FakeSites();
    FakeSite a = fakes.add("a");
    FakeSite b = fakes.add("b");
    GrcServer first = server(fakes, "grc-stop-3", true);
    a.hangOn("Prepare");
    java.util.concurrent.CompletableFuture<Reservation> making =
        java.util.concurrent.CompletableFuture.supplyAsync(() ->
            first.reservations().reserve(reservation().build()));
    await().atMost(Duration.ofSeconds(20)).until(() -> !b.reservations().isEmpty()
        && fakes.log().stream().anyMatch(c -> c.startsWith("a Prepare")));
    String id = b.reservations().keySet().iterator().next();

    first.close();

    assertThatExceptionOfType(java.util.concurrent.ExecutionException.class)
        .isThrownBy(() -> making.get(20, java.util.concurrent.TimeUnit.SECONDS))
        .havingCause().isInstanceOf(Errors.RequestException.class)
        .withMessage("the GRC is shutting down; reservation " + id + " was aborted, nothing is"
            + " held (try again once it is back)");
    assertThat(b.reservationStates()).containsEntry(id, "ABORTED");
    assertThat(a.reservationStates()).containsEntry(id, "ABORTED"); // a tombstone
    assertThat(first.allocator().leasesOf(id)).isEmpty();

    GrcServer second = secondLife(fakes, "grc-stop-4");
    assertThat(second.reservations().list("", true)).isEmpty();
    assertThat(second.allocator().holders()).isEmpty();
    assertThat(second.recovery().draining()).isEmpty();
  }

  @Test
  void withoutDurableStateAStopEndsEveryReservation() throws Exception {
    FakeSites fakes = new FakeSites();
    FakeSite a = fakes.add("a");
    FakeSite b = fakes.add("b");
    GrcServer s = server(fakes, "grc-stop-memory", false);
    Reservation r = s.reservations().reserve(reservation().build());
    assertThat(a.reservationStates()).containsEntry(r.getId(), "COMMITTED");
    s.close();
    assertThat(a.reservationStates()).containsEntry(r.getId(), "RELEASED");
    assertThat(b.reservationStates()).containsEntry(r.getId(), "RELEASED");
    Reservation ended = s.reservations().get(r.getId());
    assertThat(ended.getState()).isEqualTo(ReservationState.RESERVATION_ENDED);
    assertThat(ended.getMessage()).isEqualTo("the GRC shut down");
    assertThat(s.allocator().holders()).isEmpty();
  }

  @Test
  void aReservationCaughtInTheCommitIsReleasedAndItsLeaseFreedOnlyWhenEverySiteConfirmed()
      throws Exception {
    TestGrc first = firstLife();
    FakeSite a = first.fakes.add("a");
    first.fakes.add("b");
    // What make() did before the crash: leased, and prepared at site a; never recorded.
    Map<String, Ipv4Cidr> lease = first.addresses.allocate("r-0000abcd", Map.of(
        first.registry.get("a").orElseThrow(), 1, first.registry.get("b").orElseThrow(), 1));
    a.prepare(PrepareRequest.newBuilder().setReservationId("r-0000abcd").setNodeCount(1)
        .setRange(AddressRange.newBuilder().setCidr(lease.get("a").toString())).build());
    crash(first);

    a.failOn("Release", Status.UNAVAILABLE.withDescription("CRM a is down"));
    GrcServer second = secondLife(first, "grc-restart-2");
    assertThat(second.recovery().draining()).containsExactly("r-0000abcd");
    assertThat(second.allocator().leasesOf("r-0000abcd")).isEqualTo(lease);
    assertThat(second.reservations().list("", true)).isEmpty();
    Reservation r = second.reservations().reserve(reservation().build());
    assertThat(Ipv4Cidr.parse(r.getSiteRangesOrThrow("a").getCidr()).overlaps(lease.get("a")))
        .isFalse();

    a.clearFailure("Release");
    await().atMost(Duration.ofSeconds(20)).until(() -> second.recovery().draining().isEmpty());
    // The worker frees the lease just after it stops draining the reservation.
    await().atMost(Duration.ofSeconds(20))
        .until(() -> second.allocator().leasesOf("r-0000abcd").isEmpty());
    assertThat(a.reservationStates()).containsEntry("r-0000abcd", "RELEASED");
  }

  /**
   * The GRC records a reservation committed before every participant acknowledged the commit:
   * after a restart the commit is re-sent to the network as well as to the CRMs (an NSI
   * connection may still be held at the provider).
   */
  @Test
  void theCommitReSentAfterARestartReachesTheNetworkToo() throws Exception {
    TestGrc first = firstLife();
    first.fakes.add("a");
    first.fakes.add("b");
    Reservation kept = first.reservations.reserve(reservation().build());
    crash(first);

    TestGrc second = new TestGrc(Clock.systemUTC(), Duration.ofMillis(500),
        Duration.ofSeconds(2), TestGrc.SETTINGS, GrcState.open(config()));
    closeMe.add(second::close);
    closeMe.add(second.state::close);
    second.registry.register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/24"), 1);
    second.registry.register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/24"), 1);
    List<String> networkCalls = new java.util.concurrent.CopyOnWriteArrayList<>();
    org.lambdagrid.grc.reservation.NetworkResourceManager inner = second.network;
    org.lambdagrid.grc.reservation.NetworkResourceManager logged =
        new org.lambdagrid.grc.reservation.NetworkResourceManager() {
          @Override
          public String name() {
            return inner.name();
          }

          @Override
          public java.util.OptionalLong maxBandwidth(String x, String y) {
            return inner.maxBandwidth(x, y);
          }

          @Override
          public void restore(String id, org.lambdagrid.common.reservation.Window w,
              org.lambdagrid.common.reservation.Ask.Bandwidth ask) {
            networkCalls.add("restore " + id);
            inner.restore(id, w, ask);
          }

          @Override
          public java.util.concurrent.CompletableFuture<org.lambdagrid.common.reservation.Vote>
              prepare(String id, org.lambdagrid.common.reservation.Window w,
              org.lambdagrid.common.reservation.Ask ask) {
            return inner.prepare(id, w, ask);
          }

          @Override
          public java.util.concurrent.CompletableFuture<Void> commit(String id) {
            networkCalls.add("commit " + id);
            return inner.commit(id);
          }

          @Override
          public java.util.concurrent.CompletableFuture<Void> abort(String id) {
            return inner.abort(id);
          }

          @Override
          public java.util.concurrent.CompletableFuture<Void> release(String id) {
            return inner.release(id);
          }
        };
    var service = new org.lambdagrid.grc.reservation.ReservationService(second.registry,
        second.addresses, second.coAllocator, logged, second.clients,
        new org.lambdagrid.grc.reservation.JdbcReservationStore(second.state.database()),
        Clock.systemUTC(), second.timers, second.workers,
        new org.lambdagrid.grc.reservation.ReservationService.Settings(Duration.ofMillis(500),
            Duration.ofSeconds(2), TestGrc.SETTINGS.defaultDuration()));
    assertThat(service.recover()).contains(kept.getId());
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(networkCalls)
        .containsExactly("restore " + kept.getId(), "commit " + kept.getId()));
    assertThat(service.get(kept.getId()).getState())
        .isEqualTo(ReservationState.RESERVATION_RESERVED);
  }
}
