package org.lambdagrid.grc.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.TestGrc;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.GuestsState;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.PrebuiltGuests;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;

/** Guests built at a reservation's start and adopted by its first job, over fake CRMs. */
class PrebuildsTest {
  private static final Duration WAIT = Duration.ofSeconds(20);

  private final TestGrc grc = new TestGrc(Clock.systemUTC(), Duration.ofMillis(500),
      Duration.ofSeconds(2), TestGrc.SETTINGS);
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
    return ReservationSpec.newBuilder().putSiteNodes("a", 2).putSiteNodes("b", 1)
        .setDuration(ProtoTime.toProto(Duration.ofHours(1))).setUser("alice");
  }

  private static JobSpec job(String reservation) {
    return JobSpec.newBuilder().setReservationId(reservation).addArgv("true")
        .setWorkingDirectory("/").setUser("alice").build();
  }

  private PrebuiltGuests guests(Reservation r) {
    return grc.reservations.get(r.getId()).getGuests();
  }

  private PrebuiltGuests awaitGuests(Reservation r, GuestsState state) {
    await().atMost(WAIT).until(() -> guests(r).getState() == state);
    return guests(r);
  }

  private Job awaitEnd(Job j) {
    await().atMost(WAIT).until(() -> JobStates.MACHINE.isTerminal(
        grc.coordinator.get(j.getId()).getState()));
    return grc.coordinator.get(j.getId());
  }

  /** What site {@code s} was asked, in order, as "Method" for the calls of the share. */
  private List<String> calls(FakeSite s) {
    return grc.fakes.log().stream().filter(l -> l.startsWith(s.name() + " "))
        .map(l -> l.split(" ")[1]).toList();
  }

  @Test
  void theGuestsAreBuiltAtTheStartAndTheFirstJobOnlyRunsItsCommand() {
    Reservation r = grc.reservations.reserve(spec().build());
    PrebuiltGuests ready = awaitGuests(r, GuestsState.GUESTS_READY);
    String share = ready.getShareId();
    assertThat(share).matches("w-[0-9a-f]{8}");
    assertThat(ready.getMessage()).matches("3 guests ready, built in .+");
    // The whole build ran before any job: keys exchanged, every guest started.
    assertThat(calls(a)).containsSubsequence("OpenShare", "SetupNodes", "CollectKeys",
        "InstallTrust", "StartGuests");
    assertThat(a.bundle(share).getNodesCount()).isEqualTo(3);
    assertThat(b.bundle(share).getNodesCount()).isEqualTo(3);

    Job j = grc.coordinator.submit(job(r.getId()));
    Job done = awaitEnd(j);
    assertThat(done.getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    // The command ran in the pre-built share, and the job's end tore it down.
    assertThat(a.exec(share).getArgvList()).containsExactly("true");
    assertThat(a.exec(j.getId())).isNull();
    assertThat(a.released()).contains(share);
    assertThat(b.released()).contains(share);
    List<Event> events = grc.coordinator.job(j.getId()).events();
    assertThat(events).anyMatch(e -> e.getJobState() == JobState.JOB_SETTING_UP
        && e.getMessage().startsWith("adopting the 3 guests ready, built in "));
    assertThat(grc.coordinator.hosts(j.getId())).extracting(n -> n.getHostname())
        .containsExactly("a-0", "a-1", "b-0");
    assertThat(guests(r).getState()).isEqualTo(GuestsState.GUESTS_RELEASED);
    assertThat(guests(r).getMessage()).isEqualTo("torn down with job " + j.getId());

    // A second job in the same reservation builds its own guests.
    Job second = grc.coordinator.submit(job(r.getId()));
    assertThat(awaitEnd(second).getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(a.exec(second.getId()).getArgvList()).containsExactly("true");
    assertThat(a.released()).contains(second.getId());
  }

  @Test
  void withoutPrebuildNothingIsBuiltBeforeTheJob() throws Exception {
    Reservation r = grc.reservations.reserve(spec().setPrebuild(false).build());
    Thread.sleep(300); // the start timer has fired (the window starts now)
    assertThat(guests(r).getState()).isEqualTo(GuestsState.GUESTS_STATE_UNSPECIFIED);
    assertThat(a.shares()).isEmpty();
    Job j = grc.coordinator.submit(job(r.getId()));
    assertThat(awaitEnd(j).getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(a.exec(j.getId())).isNotNull();
  }

  @Test
  void aFailedBuildIsReleasedAndSaysWhy_thenTheJobBuildsItsOwn() {
    b.failOn("SetupNodes", Status.ABORTED.withDescription("node b-0 failed phase SETUP: no"
        + " space left"));
    Reservation r = grc.reservations.reserve(spec().build());
    PrebuiltGuests failed = awaitGuests(r, GuestsState.GUESTS_FAILED);
    assertThat(failed.getMessage()).isEqualTo("building failed: site 'b' failed phase SETUP:"
        + " node b-0 failed phase SETUP: no space left; released, the next job builds its own"
        + " guests");
    assertThat(failed.getShareId()).isEmpty();
    String share = grc.fakes.log().contains("a OpenShare") ? a.released().get(0) : "";
    assertThat(share).startsWith("w-");
    assertThat(b.released()).contains(share);
    assertThat(a.shares()).isEmpty();
    assertThat(b.shares()).isEmpty();

    b.clearFailure("SetupNodes");
    Job j = grc.coordinator.submit(job(r.getId()));
    assertThat(awaitEnd(j).getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(a.exec(j.getId())).isNotNull();
  }

  @Test
  void aNodeLostWhileTheGuestsWaitMakesTheJobBuildItsOwn() {
    Reservation r = grc.reservations.reserve(spec().build());
    String share = awaitGuests(r, GuestsState.GUESTS_READY).getShareId();
    a.loseNode(share, "a-1", "node a-1: its pilot's stream broke");
    Job j = grc.coordinator.submit(job(r.getId()));
    assertThat(awaitEnd(j).getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(a.exec(j.getId())).isNotNull();
    assertThat(a.exec(share)).isNull();
    assertThat(a.released()).contains(share, j.getId());
    assertThat(b.released()).contains(share, j.getId());
    // The pre-built share was released as well as the job's own.
    assertThat(grc.fakes.log()).contains("a ReleaseShare");
  }

  @Test
  void cancellingTheReservationTearsTheWaitingGuestsDown() {
    Reservation r = grc.reservations.reserve(spec().build());
    String share = awaitGuests(r, GuestsState.GUESTS_READY).getShareId();
    grc.reservations.cancel(r.getId());
    assertThat(a.shares()).doesNotContainKey(share);
    assertThat(b.shares()).doesNotContainKey(share);
    assertThat(guests(r).getState()).isEqualTo(GuestsState.GUESTS_RELEASED);
    assertThat(a.reservationStates()).containsEntry(r.getId(), "RELEASED");
  }

  @Test
  void aJobBoundBeforeTheWindowStartsBuildsItsOwnGuestsAtTheStart() {
    Reservation r = grc.reservations.reserve(spec().setStart(ProtoTime.toProto(
        Instant.now().plusSeconds(2))).build());
    Job j = grc.coordinator.submit(job(r.getId()));
    assertThat(awaitEnd(j).getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(a.exec(j.getId())).isNotNull();
    assertThat(guests(r).getState()).isEqualTo(GuestsState.GUESTS_STATE_UNSPECIFIED);
    assertThat(grc.fakes.log().stream().filter(l -> l.equals("a OpenShare")).count())
        .isEqualTo(1);
  }

  @Test
  void aJobStartedWhileTheGuestsAreStillBuildingWaitsForThemAndAdoptsThem() throws Exception {
    a.hangOn("StartGuests");
    Reservation r = grc.reservations.reserve(spec().build());
    awaitGuests(r, GuestsState.GUESTS_BUILDING);
    await().atMost(WAIT).until(() -> grc.fakes.log().contains("a StartGuests"));
    Job j = grc.coordinator.submit(job(r.getId()));
    Thread.sleep(300);
    // It waits for the build (still PENDING) rather than building guests of its own.
    assertThat(grc.coordinator.get(j.getId()).getState()).isEqualTo(JobState.JOB_PENDING);
    assertThat(a.shares()).doesNotContainKey(j.getId());
    a.unhang("StartGuests");
    Job done = awaitEnd(j);
    assertThat(done.getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    String share = a.released().stream().filter(s -> s.startsWith("w-")).findFirst()
        .orElseThrow();
    assertThat(a.exec(share)).isNotNull();
  }

  @Test
  void aJobCancelledWhileWaitingForTheBuildLeavesTheGuestsToTheNextJob() {
    a.hangOn("StartGuests");
    Reservation r = grc.reservations.reserve(spec().build());
    await().atMost(WAIT).until(() -> grc.fakes.log().contains("a StartGuests"));
    Job first = grc.coordinator.submit(job(r.getId()));
    await().atMost(WAIT).until(() -> grc.coordinator.get(first.getId()).getState()
        == JobState.JOB_PENDING && grc.fakes.log().contains("a StartGuests"));
    grc.coordinator.cancel(first.getId());
    assertThat(grc.coordinator.get(first.getId()).getState()).isEqualTo(JobState.JOB_CANCELLED);
    a.unhang("StartGuests");
    String share = awaitGuests(r, GuestsState.GUESTS_READY).getShareId();
    Job second = grc.coordinator.submit(job(r.getId()));
    assertThat(awaitEnd(second).getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(a.exec(share)).isNotNull();
    assertThat(a.exec(first.getId())).isNull();
  }
}
