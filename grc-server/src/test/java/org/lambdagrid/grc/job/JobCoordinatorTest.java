package org.lambdagrid.grc.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.TestGrc;
import org.lambdagrid.grc.site.AddressAllocator;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.TrustBundle;

class JobCoordinatorTest {
  private static final Duration WAIT = Duration.ofSeconds(20);

  private final TestGrc grc = new TestGrc(Clock.systemUTC(), Duration.ofSeconds(2),
      Duration.ofSeconds(120), TestGrc.SETTINGS);
  private final FakeSites fakes = grc.fakes;
  private FakeSite a;
  private FakeSite b;
  private final AddressAllocator allocator = grc.addresses;
  private final SiteRegistry registry = grc.registry;
  private JobCoordinator coordinator;

  @BeforeEach
  void setUp() {
    a = fakes.add("a");
    b = fakes.add("b");
    registry.register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/16"), 2);
    registry.register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/16"), 1);
    coordinator = grc.coordinator;
  }

  @AfterEach
  void tearDown() {
    grc.close();
  }

  private static JobSpec.Builder spec() {
    return JobSpec.newBuilder().putSiteNodes("a", 2).putSiteNodes("b", 2)
        .addArgv("mpirun").addArgv("./app").putEnv("X", "1")
        .setWorkingDirectory("/home/alice/run").setUser("alice");
  }

  private Job awaitState(String id, JobState state) {
    await().atMost(WAIT).until(() -> coordinator.get(id).getState() == state);
    return coordinator.get(id);
  }

  private Job awaitTerminal(String id) {
    await().atMost(WAIT).until(() -> JobStates.MACHINE.isTerminal(coordinator.get(id).getState()));
    return coordinator.get(id);
  }

  /** The job's shares were released, and the reservation made for it ended everywhere. */
  private void assertNothingHeld(String id) {
    String r = coordinator.get(id).getReservationId();
    assertThat(r).startsWith("r-");
    assertThat(allocator.leasesOf(r)).isEmpty();
    assertThat(allocator.holders()).isEmpty();
    assertThat(grc.coAllocator.reservations()).isEmpty();
    assertThat(a.released()).contains(id);
    assertThat(b.released()).contains(id);
    assertThat(a.held()).isEmpty();
    assertThat(b.held()).isEmpty();
  }

  @Test
  void runsThePhasesInOrderAndSucceeds() {
    a.stdout("hello\n");
    Job job = coordinator.submit(spec().build());
    assertThat(job.getId()).matches("j-[0-9a-f]{8}");
    assertThat(job.getState()).isEqualTo(JobState.JOB_PENDING);
    Ipv4Cidr ra = Ipv4Cidr.parse(job.getSiteRangesOrThrow("a").getCidr());
    Ipv4Cidr rb = Ipv4Cidr.parse(job.getSiteRangesOrThrow("b").getCidr());
    assertThat(ra.overlaps(rb)).isFalse();

    Job done = awaitTerminal(job.getId());
    assertThat(done.getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(done.getHasExitCode()).isTrue();
    assertThat(done.getExitCode()).isZero();
    assertThat(done.getFirstNode()).isEqualTo("a-0");

    List<String> order = new ArrayList<>();
    for (String call : fakes.log()) {
      String method = call.split(" ")[1];
      if (order.isEmpty() || !order.get(order.size() - 1).equals(method)) {
        order.add(method);
      }
    }
    assertThat(order).containsSubsequence("Prepare", "Commit", "OpenShare", "WatchShare",
        "SetupNodes", "CollectKeys", "InstallTrust", "StartGuests", "ExecCommand", "ReleaseShare",
        "Release");
    // Each barrier completes on both sites before the next phase starts anywhere.
    List<String> log = fakes.log();
    assertThat(log.indexOf("a CollectKeys")).isGreaterThan(log.indexOf("b SetupNodes " + ra));
    assertThat(log).contains("a SetupNodes " + rb, "b SetupNodes " + ra);
    assertThat(log).contains("a ExecCommand a-0").doesNotContain("b ExecCommand b-0");
    assertNothingHeld(job.getId());

    // The same bundle went to every site, with 4 nodes in site-then-index order.
    TrustBundle bundle = a.bundle(job.getId());
    assertThat(b.bundle(job.getId())).isEqualTo(bundle);
    assertThat(bundle.getNodesList()).extracting(n -> n.getHostname())
        .containsExactly("a-0", "a-1", "b-0", "b-1");
    String a0 = Ipv4Cidr.formatAddress(ra.hostAddress(0));
    String b1 = Ipv4Cidr.formatAddress(rb.hostAddress(1));
    assertThat(bundle.getHostfile().lines()).containsExactly(a0 + " slots=2",
        Ipv4Cidr.formatAddress(ra.hostAddress(1)) + " slots=2",
        Ipv4Cidr.formatAddress(rb.hostAddress(0)) + " slots=1", b1 + " slots=1");
    assertThat(bundle.getKnownHosts().lines()).hasSize(4)
        .contains("a-0," + a0 + " ssh-ed25519 HOST-a-0", "b-1," + b1 + " ssh-ed25519 HOST-b-1");
    assertThat(bundle.getAuthorizedKeys().lines()).containsExactly("ssh-ed25519 USER-a-0",
        "ssh-ed25519 USER-a-1", "ssh-ed25519 USER-b-0", "ssh-ed25519 USER-b-1");
    assertThat(bundle.getHosts().lines()).contains(a0 + " a-0", b1 + " b-1");

    assertThat(a.exec(job.getId()).getArgvList()).containsExactly("mpirun", "./app");
    assertThat(a.exec(job.getId()).getUser()).isEqualTo("alice");
    assertThat(a.exec(job.getId()).getWorkingDirectory()).isEqualTo("/home/alice/run");
    assertThat(a.exec(job.getId()).getEnvMap()).containsEntry("X", "1");

    List<Event> events = coordinator.job(job.getId()).events();
    for (int i = 0; i < events.size(); i++) {
      assertThat(events.get(i).getSequence()).isEqualTo(i + 1);
      assertThat(events.get(i).getJobId()).isEqualTo(job.getId());
    }
    assertThat(events.stream().filter(Event::hasJobState).map(Event::getJobState))
        .containsExactly(JobState.JOB_PENDING, JobState.JOB_SETTING_UP, JobState.JOB_EXCHANGING,
            JobState.JOB_STARTING, JobState.JOB_RUNNING, JobState.JOB_SUCCEEDED);
    assertThat(events).anyMatch(e -> e.getNodeState() == NodeState.NODE_READY
        && e.getHostname().equals("b-1"));
    // The end of SETUP counts nodes per site; each node's address is in the host list.
    assertThat(events.stream().filter(e -> e.getJobState() == JobState.JOB_EXCHANGING)
        .map(Event::getMessage)).containsExactly("addresses aggregated: 4 nodes on 2 sites"
            + " (a 2, b 2)");
    assertThat(coordinator.hosts(job.getId())).extracting(n -> n.getHostname() + "="
        + n.getAddress()).contains("a-0=" + a0, "b-1=" + b1).hasSize(4);
    assertThat(output(job.getId())).isEqualTo("hello\n");
  }

  @Test
  void nonZeroExitFailsTheJobWithTheExitCode() {
    a.exitCode(3);
    Job done = awaitTerminal(coordinator.submit(spec().build()).getId());
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getExitCode()).isEqualTo(3);
    assertThat(done.getMessage()).isEqualTo("command exited with code 3");
    assertNothingHeld(done.getId());
  }

  @Test
  void setupFailureOnOneSiteFailsNamingNodeAndPhaseAndReleasesEverySite() {
    b.failOn("SetupNodes", Status.ABORTED.withDescription("node b-1 missed phase SETUP after 2s"));
    Job done = awaitTerminal(coordinator.submit(spec().build()).getId());
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getFailedPhase()).isEqualTo(Phase.PHASE_SETUP);
    assertThat(done.getMessage()).contains("node b-1 missed phase SETUP").contains("site 'b'");
    assertThat(done.getHasExitCode()).isFalse();
    assertNothingHeld(done.getId());
    assertThat(fakes.log()).doesNotContain("a CollectKeys", "b CollectKeys");
    assertThat(grc.reservations.nodesInUse("a")).isZero();
    assertThat(allocator.leasedOn("a")).isEmpty();
    assertThat(coordinator.job(done.getId()).events().get(
        coordinator.job(done.getId()).events().size() - 1).getJobState())
        .isEqualTo(JobState.JOB_FAILED);
  }

  @Test
  void aSiteThatNeverAnswersFailsThePhaseAtItsTimeout() {
    a.hangOn("CollectKeys");
    Job done = awaitTerminal(coordinator.submit(spec().build()).getId());
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getFailedPhase()).isEqualTo(Phase.PHASE_KEYS);
    assertThat(done.getMessage()).isEqualTo("site 'a' did not finish phase KEYS within PT2S");
    assertNothingHeld(done.getId());
  }

  @Test
  void nodeLostWhileRunningFailsTheJobNamingTheNode() {
    a.holdExit();
    Job job = coordinator.submit(spec().build());
    awaitState(job.getId(), JobState.JOB_RUNNING);
    await().atMost(WAIT).until(() -> fakes.log().contains("a ExecCommand a-0"));
    b.loseNode(job.getId(), "b-1", "pilot stream broke");
    Job done = awaitTerminal(job.getId());
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getFailedPhase()).isEqualTo(Phase.PHASE_EXEC);
    assertThat(done.getMessage()).isEqualTo("node b-1 was lost in phase EXEC: pilot stream broke");
    assertNothingHeld(job.getId());
  }

  // ------------------------------------------------------------- a CRM restarting under a job

  private static final String LOST_A = "lost contact with the CRM of site 'a' (UNAVAILABLE:"
      + " io exception); waiting up to 1m for it to come back";
  private static final String BACK_A = "the CRM of site 'a' is back; its share continues";

  private static List<String> messages(JobRecord job) {
    return job.events().stream().map(Event::getMessage).toList();
  }

  private long count(String call) {
    return fakes.log().stream().filter(call::equals).count();
  }

  /** A job RUNNING on a and b with the command started on a-0, its exit held back. */
  private Job running(JobCoordinator c, FakeSite first) {
    first.holdExit();
    Job job = c.submit(spec().build());
    await().atMost(WAIT).until(() -> c.get(job.getId()).getState() == JobState.JOB_RUNNING
        && first.exec(job.getId()) != null);
    return job;
  }

  @Test
  void aRunningJobWaitsForItsCrmToComeBack_andTheExitOnTheNewStreamEndsIt() {
    Job job = running(coordinator, a);
    String id = job.getId();
    a.failNextWatches(Status.UNAVAILABLE.withDescription("connection refused"));
    a.breakWatch(id, Status.UNAVAILABLE.withDescription("io exception"));
    // The first retry fails (still down), the second one is accepted.
    await().atMost(WAIT).until(() -> a.isWatched(id));
    assertThat(count("a WatchShare")).isEqualTo(3);
    assertThat(coordinator.get(id).getState()).isEqualTo(JobState.JOB_RUNNING);
    assertThat(messages(coordinator.job(id))).contains(LOST_A).doesNotContain(BACK_A);

    a.exit(id, "a-0", 0);
    a.exit(id, "a-0", 0); // a CRM may send it again after a restart: harmless
    Job done = awaitTerminal(id);
    assertThat(done.getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(done.getExitCode()).isZero();
    List<Event> events = coordinator.job(id).events();
    List<String> msgs = messages(coordinator.job(id));
    assertThat(msgs).containsSubsequence(LOST_A, BACK_A, "command exited with code 0");
    assertThat(msgs.stream().filter(LOST_A::equals)).hasSize(1);
    assertThat(msgs.stream().filter(BACK_A::equals)).hasSize(1);
    Event lost = events.get(msgs.indexOf(LOST_A));
    assertThat(lost.getSite()).isEqualTo("a");
    assertThat(lost.getPhase()).isEqualTo(Phase.PHASE_EXEC);
    assertThat(lost.hasJobState()).isFalse();
    assertThat(events.stream().filter(Event::hasJobState).map(Event::getJobState))
        .containsExactly(JobState.JOB_PENDING, JobState.JOB_SETTING_UP, JobState.JOB_EXCHANGING,
            JobState.JOB_STARTING, JobState.JOB_RUNNING, JobState.JOB_SUCCEEDED);
    // The ending closed the re-established stream (and b's); the broken ones were forgotten.
    assertThat(count("a CloseWatch")).isEqualTo(1);
    assertThat(count("b CloseWatch")).isEqualTo(1);
    assertThat(a.isWatched(id)).isFalse();
    assertNothingHeld(id);
  }

  @Test
  void aStreamStoppedByItsCrm_thenOutputOnTheNewStream_endsTheOutage_andALaterLossWaitsAgain() {
    Job job = running(coordinator, a);
    String id = job.getId();
    // A CRM stopping cleanly resets its streams: the GRC sees CANCELLED.
    b.breakWatch(id, Status.CANCELLED.withDescription(
        "RST_STREAM closed stream. HTTP/2 error code: CANCEL"));
    await().atMost(WAIT).until(() -> b.isWatched(id));
    b.output(id, "b-0", OutputChunk.Stream.STDOUT, "still here\n");
    await().atMost(WAIT).until(() -> messages(coordinator.job(id)).contains(
        "the CRM of site 'b' is back; its share continues"));
    assertThat(messages(coordinator.job(id))).contains("lost contact with the CRM of site 'b'"
        + " (CANCELLED: RST_STREAM closed stream. HTTP/2 error code: CANCEL); waiting up to 1m"
        + " for it to come back");
    // A second loss is a new outage with its own event.
    b.breakWatch(id, Status.UNAVAILABLE.withDescription("io exception"));
    await().atMost(WAIT).until(() -> b.isWatched(id));
    b.output(id, "b-0", OutputChunk.Stream.STDOUT, "and again\n");
    await().atMost(WAIT).until(() -> messages(coordinator.job(id)).stream()
        .filter(m -> m.startsWith("the CRM of site 'b' is back")).count() == 2);
    a.exit(id, "a-0", 0);
    assertThat(awaitTerminal(id).getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(messages(coordinator.job(id)).stream()
        .filter(m -> m.startsWith("lost contact with the CRM of site 'b'"))).hasSize(2);
    assertThat(output(id)).isEqualTo("still here\nand again\n");
    assertNothingHeld(id);
  }

  /** The job's output so far, as text. */
  private String output(String id) {
    StringBuilder out = new StringBuilder();
    coordinator.job(id).output().readAll()
        .forEach(p -> out.append(p.chunk().getData().toStringUtf8()));
    return out.toString();
  }

  @Test
  void aWatchAgainDropsWhatTheSameCrmProcessAlreadyDelivered_butTakesANewProcessesUpdates() {
    Job job = running(coordinator, a);
    String id = job.getId();
    b.stampedOutput(id, "crm1", 1, "b-0", "one\n");
    b.stampedOutput(id, "crm1", 2, "b-0", "two\n");
    // The stream breaks although the CRM lives (a network blip): the new watch replays 1 and 2.
    b.breakWatch(id, Status.UNAVAILABLE.withDescription("io exception"));
    await().atMost(WAIT).until(() -> b.isWatched(id));
    b.stampedOutput(id, "crm1", 1, "b-0", "one\n");
    b.stampedOutput(id, "crm1", 2, "b-0", "two\n");
    // A replay alone shows the CRM is there: the outage is over.
    await().atMost(WAIT).until(() -> messages(coordinator.job(id)).contains(
        "the CRM of site 'b' is back; its share continues"));
    b.stampedOutput(id, "crm1", 3, "b-0", "three\n");
    // Then the CRM restarts: a new process numbers from 1 again.
    b.breakWatch(id, Status.UNAVAILABLE.withDescription("io exception"));
    await().atMost(WAIT).until(() -> b.isWatched(id));
    b.stampedOutput(id, "crm2", 1, "b-0", "four\n");
    a.exit(id, "a-0", 0);
    assertThat(awaitTerminal(id).getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(output(id)).isEqualTo("one\ntwo\nthree\nfour\n");
  }

  @Test
  void aCrmThatComesBackWithoutTheShareFailsTheJobNamingTheSite() {
    Job job = running(coordinator, a);
    String id = job.getId();
    a.failNextWatches(Status.NOT_FOUND.withDescription("job '" + id + "' holds no share on site"
        + " 'a'"));
    a.breakWatch(id, Status.UNAVAILABLE.withDescription("io exception"));
    Job done = awaitTerminal(id);
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getFailedPhase()).isEqualTo(Phase.PHASE_EXEC);
    assertThat(done.getMessage()).isEqualTo("the CRM of site 'a' came back without the job's"
        + " share (NOT_FOUND: job '" + id + "' holds no share on site 'a')");
    assertThat(done.getHasExitCode()).isFalse();
    assertThat(messages(coordinator.job(id))).contains(LOST_A).doesNotContain(BACK_A);
    assertNothingHeld(id);
  }

  @Test
  void aCrmThatDoesNotComeBackWithinTheGraceFailsTheJob() {
    TestGrc short_ = new TestGrc(Clock.systemUTC(), Duration.ofSeconds(2),
        Duration.ofSeconds(120), TestGrc.SETTINGS.withCrmGrace(Duration.ofMillis(1500)));
    try {
      FakeSite sa = short_.fakes.add("a");
      short_.fakes.add("b");
      short_.registry.register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/16"), 2);
      short_.registry.register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/16"), 1);
      JobCoordinator c = short_.coordinator;
      String id = running(c, sa).getId();
      sa.failWatches(Status.UNAVAILABLE.withDescription("connection refused"));
      sa.breakWatch(id, Status.UNAVAILABLE.withDescription("io exception"));
      await().atMost(WAIT).until(() -> JobStates.MACHINE.isTerminal(c.get(id).getState()));
      Job done = c.get(id);
      assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
      assertThat(done.getFailedPhase()).isEqualTo(Phase.PHASE_EXEC);
      assertThat(done.getMessage()).isEqualTo("the CRM of site 'a' did not come back within"
          + " 1500ms (lost: UNAVAILABLE: io exception)");
      assertThat(messages(c.job(id))).contains("lost contact with the CRM of site 'a'"
          + " (UNAVAILABLE: io exception); waiting up to 1500ms for it to come back");
      assertThat(sa.released()).contains(id);
      // No attempt after the job ended.
      long attempts = short_.fakes.log().stream().filter("a WatchShare"::equals).count();
      await().pollDelay(Duration.ofMillis(2500)).atMost(WAIT).until(() -> true);
      assertThat(short_.fakes.log().stream().filter("a WatchShare"::equals).count())
          .isEqualTo(attempts);
    } finally {
      short_.close();
    }
  }

  @Test
  void cancellingAJobWhileItsCrmIsAwayStopsTheRetries() {
    Job job = running(coordinator, a);
    String id = job.getId();
    b.failWatches(Status.UNAVAILABLE.withDescription("connection refused"));
    b.breakWatch(id, Status.UNAVAILABLE.withDescription("io exception"));
    await().atMost(WAIT).until(() -> count("b WatchShare") >= 2);
    assertThat(coordinator.cancel(id).getState()).isEqualTo(JobState.JOB_CANCELLED);
    long attempts = count("b WatchShare");
    await().pollDelay(Duration.ofMillis(2500)).atMost(WAIT).until(() -> true);
    assertThat(count("b WatchShare")).isEqualTo(attempts);
    assertThat(coordinator.get(id).getMessage()).isEqualTo("cancelled by the user");
    assertNothingHeld(id);
  }

  @Test
  void aBrokenStreamBeforeTheJobRunsStillFailsItAtOnce() {
    a.hangOn("SetupNodes");
    Job job = coordinator.submit(spec().build());
    String id = job.getId();
    await().atMost(WAIT).until(() -> a.isWatched(id)
        && coordinator.get(id).getState() == JobState.JOB_SETTING_UP);
    a.breakWatch(id, Status.UNAVAILABLE.withDescription("io exception"));
    Job done = awaitTerminal(id);
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getFailedPhase()).isEqualTo(Phase.PHASE_SETUP);
    assertThat(done.getMessage()).isEqualTo("lost the event stream of site 'a': io exception");
    assertThat(count("a WatchShare")).isEqualTo(1);
    assertThat(messages(coordinator.job(id))).noneMatch(m -> m.startsWith("lost contact"));
    assertNothingHeld(id);
  }

  @Test
  void aRunningJobWhoseStreamFailsWithAnotherCodeFailsAtOnce() {
    Job job = running(coordinator, a);
    String id = job.getId();
    b.breakWatch(id, Status.INTERNAL.withDescription("share watcher crashed"));
    Job done = awaitTerminal(id);
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getMessage()).isEqualTo(
        "lost the event stream of site 'b': share watcher crashed");
    assertThat(count("b WatchShare")).isEqualTo(1);
    assertNothingHeld(id);
  }

  @Test
  void cancelReleasesEverythingAndIsIdempotent() {
    a.holdExit();
    Job job = coordinator.submit(spec().build());
    awaitState(job.getId(), JobState.JOB_RUNNING);
    Job cancelled = coordinator.cancel(job.getId());
    assertThat(cancelled.getState()).isEqualTo(JobState.JOB_CANCELLED);
    assertNothingHeld(job.getId());
    assertThat(coordinator.cancel(job.getId()).getState()).isEqualTo(JobState.JOB_CANCELLED);
    // A late exit from the site changes nothing.
    a.exit(job.getId(), "a-0", 0);
    assertThat(coordinator.get(job.getId()).getState()).isEqualTo(JobState.JOB_CANCELLED);
  }

  @Test
  void cancelBeforeTheStartTimeNeverContactsThePhases() {
    Job job = coordinator.submit(spec().setStart(ProtoTime.toProto(Instant.now().plusSeconds(3600)))
        .build());
    assertThat(coordinator.cancel(job.getId()).getState()).isEqualTo(JobState.JOB_CANCELLED);
    assertThat(fakes.log()).noneMatch(c -> c.contains("SetupNodes"));
    assertNothingHeld(job.getId());
  }

  @Test
  void cancellingAFinishedJobIsAFailedPrecondition() {
    Job done = awaitTerminal(coordinator.submit(spec().build()).getId());
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> coordinator.cancel(done.getId()))
        .matches(e -> e.code() == Status.Code.FAILED_PRECONDITION);
  }

  @Test
  void theEndOfTheWindowStopsTheJob() {
    a.holdExit();
    Job job = coordinator.submit(spec().setDuration(ProtoTime.toProto(Duration.ofMillis(1500)))
        .build());
    Job done = awaitTerminal(job.getId());
    assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(done.getMessage()).contains("window ended");
    // The reservation's end stops the job first and releases the reservation after: the job is
    // terminal a moment before its reservation's leases are freed.
    await().atMost(WAIT).untilAsserted(() -> assertNothingHeld(job.getId()));
  }

  @Test
  void reservationRefusedBySiteReleasesWhatWasHeld() {
    b.failOn("Prepare", Status.FAILED_PRECONDITION.withDescription("site b is draining"));
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> coordinator.submit(spec().build()))
        .matches(e -> e.code() == Status.Code.FAILED_PRECONDITION)
        .withMessage("reservation refused, nothing is held: site:b refused"
            + " (FAILED_PRECONDITION): site b is draining");
    assertThat(allocator.holders()).isEmpty();
    assertThat(grc.coAllocator.reservations()).isEmpty();
    assertThat(fakes.log()).contains("a Abort", "b Abort");
    assertThat(a.held()).isEmpty();
    assertThat(coordinator.list("", true)).isEmpty();
  }

  @Test
  void theShapeGoesToEverySitesSetupNodesAndStaysWithTheJob() {
    Job job = coordinator.submit(spec().setCpus(1).setMemoryBytes(256L << 20).build());
    assertThat(job.getSpec().getCpus()).isEqualTo(1);
    assertThat(job.getSpec().getMemoryBytes()).isEqualTo(256L << 20);
    awaitTerminal(job.getId());
    for (FakeSite s : List.of(a, b)) {
      assertThat(s.setup(job.getId()).getCpus()).isEqualTo(1);
      assertThat(s.setup(job.getId()).getMemoryBytes()).isEqualTo(256L << 20);
    }
    Job plain = coordinator.submit(spec().build());
    awaitTerminal(plain.getId());
    assertThat(plain.getSpec().hasCpus()).isFalse();
    assertThat(a.setup(plain.getId()).getCpus()).isZero();
    assertThat(a.setup(plain.getId()).getMemoryBytes()).isZero();
  }

  @Test
  void aJobInAReservationRunsWithTheReservationsShape() {
    a.holdExit();
    org.lambdagrid.proto.v1.Reservation r = grc.reservations.reserve(
        org.lambdagrid.proto.v1.ReservationSpec.newBuilder().putSiteNodes("a", 1)
            .setUser("alice").setPrebuild(false).setCpus(2).build());
    JobSpec.Builder in = JobSpec.newBuilder().setReservationId(r.getId()).addArgv("true")
        .setWorkingDirectory("/").setUser("alice");
    assertRefused(in.clone().setCpus(1), Status.Code.INVALID_ARGUMENT,
        "spec.cpus: '1' does not match reservation " + r.getId() + " (2 per node); leave it"
            + " unset to use the reservation's");
    assertRefused(in.clone().setMemoryBytes(64L << 20), Status.Code.INVALID_ARGUMENT,
        "spec.memory_bytes: '67108864' does not match reservation " + r.getId() + " (no"
            + " limit)");
    Job job = coordinator.submit(in.clone().setCpus(2).build());
    assertThat(job.getSpec().getCpus()).isEqualTo(2);
    assertThat(job.getSpec().hasMemoryBytes()).isFalse();
    await().atMost(WAIT).until(() -> a.setup(job.getId()) != null);
    assertThat(a.setup(job.getId()).getCpus()).isEqualTo(2);
    coordinator.cancel(job.getId());
    grc.reservations.cancel(r.getId());
  }

  @Test
  void invalidSpecsAreRefusedNamingFieldAndValue() {
    assertRefused(spec().clearSiteNodes(), Status.Code.INVALID_ARGUMENT, "spec.site_nodes");
    assertRefused(spec().putSiteNodes("a", 0), Status.Code.INVALID_ARGUMENT,
        "spec.site_nodes[a]: '0' must be at least 1");
    assertRefused(spec().putSiteNodes("osaka", 1), Status.Code.NOT_FOUND,
        "site 'osaka' is not registered (known sites: a, b)");
    assertRefused(spec().putSiteNodes("a", 5), Status.Code.INVALID_ARGUMENT,
        "spec.site_nodes[a]: '5' is more nodes than site 'a' has (capacity 4)");
    assertRefused(spec().clearArgv(), Status.Code.INVALID_ARGUMENT, "spec.argv");
    assertRefused(spec().setWorkingDirectory("run"), Status.Code.INVALID_ARGUMENT,
        "spec.working_directory: 'run' is not an absolute path");
    assertRefused(spec().setUser(""), Status.Code.INVALID_ARGUMENT, "spec.user: ''");
    assertRefused(spec().setUser("Robert'); DROP"), Status.Code.INVALID_ARGUMENT, "spec.user");
    assertRefused(spec().setUser("root"), Status.Code.INVALID_ARGUMENT, "never run as root");
    assertRefused(spec().setDuration(ProtoTime.toProto(Duration.ZERO)),
        Status.Code.INVALID_ARGUMENT, "spec.duration");
    assertRefused(spec().setStart(ProtoTime.toProto(Instant.now().minusSeconds(600))),
        Status.Code.INVALID_ARGUMENT, "spec.start");
    assertRefused(spec().setBandwidthBps(-1), Status.Code.INVALID_ARGUMENT,
        "spec.bandwidth_bps: '-1'");
    assertRefused(spec().setCpus(0), Status.Code.INVALID_ARGUMENT,
        "spec.cpus: '0' must be at least 1");
    assertRefused(spec().setMemoryBytes(1 << 20), Status.Code.INVALID_ARGUMENT,
        "spec.memory_bytes: '1048576' is less than the smallest memory limit, 32 MiB");
    assertThat(allocator.holders()).isEmpty();
    assertThat(fakes.log()).isEmpty();
  }

  @Test
  void moreNodesThanFreeIsAFailedPrecondition() {
    a.holdExit();
    coordinator.submit(spec().putSiteNodes("a", 3).build());
    assertRefused(spec().putSiteNodes("a", 2), Status.Code.FAILED_PRECONDITION,
        "site 'a' has 1 nodes free, 2 asked");
  }

  @Test
  void clientTokenMakesSubmitIdempotent() {
    a.holdExit();
    Job first = coordinator.submit(spec().setClientToken("t1").build());
    Job again = coordinator.submit(spec().setClientToken("t1").build());
    assertThat(again.getId()).isEqualTo(first.getId());
    assertThat(fakes.log().stream().filter(c -> c.startsWith("a Prepare"))).hasSize(1);
  }

  @Test
  void hostsAreAFailedPreconditionUntilAddressesAreAggregated() {
    a.hangOn("SetupNodes");
    Job job = coordinator.submit(spec().build());
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> coordinator.hosts(job.getId()))
        .matches(e -> e.code() == Status.Code.FAILED_PRECONDITION);
    coordinator.cancel(job.getId());
  }

  private void assertRefused(JobSpec.Builder spec, Status.Code code, String message) {
    assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(() -> coordinator.submit(spec.build()))
        .matches(e -> e.code() == code, "code " + code)
        .withMessageContaining(message);
  }
}
