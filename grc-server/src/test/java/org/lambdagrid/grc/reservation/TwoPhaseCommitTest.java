package org.lambdagrid.grc.reservation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.lambdagrid.grc.reservation.CoAllocatorTest.G;
import static org.lambdagrid.grc.reservation.CoAllocatorTest.HOUR;
import static org.lambdagrid.grc.reservation.CoAllocatorTest.NOW;
import static org.lambdagrid.grc.reservation.CoAllocatorTest.at;

import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.reservation.HoldTable.State;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.grc.reservation.TwoPhaseCommit.Decision;
import org.lambdagrid.grc.reservation.TwoPhaseCommit.Outcome;
import org.lambdagrid.grc.reservation.TwoPhaseCommit.Participant;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.reservation.Vote;

class TwoPhaseCommitTest {
  static final Duration TIMEOUT = Duration.ofSeconds(5);
  static final Window W = new Window(NOW, at(1));

  /** Timers that fire only when the test says so. */
  static final class ManualDelayer implements TwoPhaseCommit.Delayer {
    final List<CompletableFuture<Void>> pending = new ArrayList<>();

    @Override
    public synchronized CompletableFuture<Void> after(Duration d) {
      CompletableFuture<Void> f = new CompletableFuture<>();
      pending.add(f);
      return f;
    }

    void fireAll() {
      List<CompletableFuture<Void>> now;
      synchronized (this) {
        now = new ArrayList<>(pending);
        pending.clear();
      }
      now.forEach(f -> f.complete(null));
    }
  }

  /** A participant that never answers prepare; records the other calls. */
  static final class SilentManager implements ResourceManager {
    final List<String> calls = new ArrayList<>();
    final boolean answersPhaseTwo;

    SilentManager(boolean answersPhaseTwo) {
      this.answersPhaseTwo = answersPhaseTwo;
    }

    @Override
    public String name() {
      return "site:silent";
    }

    @Override
    public CompletableFuture<Vote> prepare(String id, Window w, Ask a) {
      calls.add("prepare " + id);
      return new CompletableFuture<>();
    }

    @Override
    public CompletableFuture<Void> commit(String id) {
      calls.add("commit " + id);
      return answersPhaseTwo ? CompletableFuture.completedFuture(null) : new CompletableFuture<>();
    }

    @Override
    public CompletableFuture<Void> abort(String id) {
      calls.add("abort " + id);
      return answersPhaseTwo ? CompletableFuture.completedFuture(null) : new CompletableFuture<>();
    }

    @Override
    public CompletableFuture<Void> release(String id) {
      calls.add("release " + id);
      return CompletableFuture.completedFuture(null);
    }
  }

  final TestClock clock = new TestClock(NOW);
  final ManualDelayer delayer = new ManualDelayer();
  final TwoPhaseCommit coordinator = new TwoPhaseCommit(TIMEOUT, delayer);
  final CoAllocator grc = new CoAllocator(CoAllocatorTest.star());
  final CalendarSiteResourceManager crmA = new CalendarSiteResourceManager("a", 8, clock, HoldTable.DEFAULT_HOLD_TIME);
  final CalendarSiteResourceManager crmB = new CalendarSiteResourceManager("b", 8, clock, HoldTable.DEFAULT_HOLD_TIME);
  final CalendarNetworkResourceManager net =
      new CalendarNetworkResourceManager("network:grc", grc, clock, HoldTable.DEFAULT_HOLD_TIME);

  List<Participant> ask(int a, int b, long bps) {
    return List.of(new Participant(crmA, new Ask.Nodes("a", a)), new Participant(crmB, new Ask.Nodes("b", b)),
        new Participant(net, new Ask.Bandwidth(Map.of(SitePair.of("a", "b"), bps))));
  }

  @Test
  void allPreparedCommitsEverywhere() {
    Outcome o = coordinator.run("r1", W, ask(3, 4, 2 * G)).join();
    assertThat(o.decision()).isEqualTo(Decision.COMMITTED);
    assertThat(o.problems()).isEmpty();
    assertThat(o.votes().values()).allMatch(Vote::isPrepared);
    assertThat(crmA.state("r1")).contains(State.COMMITTED);
    assertThat(net.state("r1")).contains(State.COMMITTED);
    assertThat(crmB.nodesInUse(NOW)).isEqualTo(4);
    assertThat(grc.bandwidthInUse("a<->hub", NOW)).isEqualTo(2 * G);
    // Committed holds do not expire.
    clock.advance(Duration.ofMinutes(10));
    assertThat(crmA.nodesInUse(NOW)).isEqualTo(3);
  }

  @Test
  void oneRefusalAbortsAndNothingIsHeldAnywhere() {
    coordinator.run("busy", W, List.of(new Participant(crmB, new Ask.Nodes("b", 6)))).join();
    Outcome o = coordinator.run("r1", W, ask(3, 4, 2 * G)).join();
    assertThat(o.decision()).isEqualTo(Decision.ABORTED);
    assertThat(o.votes().get("site:b").code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(o.problems()).singleElement().asString()
        .contains("site:b refused (FAILED_PRECONDITION)", "site 'b' has 2 of 8 nodes free", "4 asked");
    assertThat(crmA.nodesInUse(NOW)).isZero();
    assertThat(crmB.nodesInUse(NOW)).isEqualTo(6); // only the other reservation
    assertThat(grc.bandwidthInUse("a<->hub", NOW)).isZero();
    assertThat(crmA.state("r1")).contains(State.ABORTED);
    assertThat(crmB.state("r1")).contains(State.ABORTED); // tombstone from the abort it was sent
    assertThat(net.state("r1")).contains(State.ABORTED);
  }

  @Test
  void aSilentManagerIsAbortedAfterTheTimeoutAndTheOthersAreReleased() {
    SilentManager silent = new SilentManager(true);
    List<Participant> ps = new ArrayList<>(ask(3, 4, G));
    ps.add(new Participant(silent, new Ask.Nodes("silent", 1)));
    CompletableFuture<Outcome> run = coordinator.run("r1", W, ps);
    assertThat(run).isNotDone();
    assertThat(crmA.nodesInUse(NOW)).isEqualTo(3); // prepared, waiting for the decision
    delayer.fireAll(); // the prepare deadline passes
    Outcome o = run.join();
    assertThat(o.decision()).isEqualTo(Decision.ABORTED);
    assertThat(o.votes().get("site:silent").kind()).isEqualTo(Vote.Kind.TIMED_OUT);
    assertThat(o.problems()).containsExactly("site:silent did not answer prepare within PT5S");
    assertThat(silent.calls).containsExactly("prepare r1", "abort r1");
    assertThat(crmA.nodesInUse(NOW)).isZero();
    assertThat(crmB.nodesInUse(NOW)).isZero();
    assertThat(grc.bandwidthInUse("b<->hub", NOW)).isZero();
  }

  @Test
  void aSilentManagerThatAlsoIgnoresTheAbortIsReportedAfterASecondTimeout() {
    SilentManager silent = new SilentManager(false);
    CompletableFuture<Outcome> run = coordinator.run("r1", W,
        List.of(new Participant(crmA, new Ask.Nodes("a", 2)), new Participant(silent, new Ask.Nodes("x", 1))));
    delayer.fireAll();
    assertThat(run).isNotDone(); // waiting for abort acknowledgements
    assertThat(crmA.nodesInUse(NOW)).isZero(); // but the abort was already applied
    delayer.fireAll();
    assertThat(run.join().problems()).containsExactly("site:silent did not answer prepare within PT5S",
        "site:silent did not acknowledge abort within PT5S (its hold, if any, expires by itself)");
  }

  @Test
  void holdsExpireByThemselvesWhenTheCoordinatorDiesBetweenPrepareAndCommit() {
    // The coordinator sends prepare to all, then dies: nobody calls commit or abort.
    for (Participant p : ask(3, 4, 2 * G)) {
      assertThat(p.manager().prepare("r1", W, p.ask()).join().isPrepared()).isTrue();
    }
    clock.advance(Duration.ofSeconds(119));
    assertThat(crmA.nodesInUse(NOW)).isEqualTo(3);
    assertThat(net.state("r1")).contains(State.PREPARED);
    clock.advance(Duration.ofSeconds(1)); // the 120 s hold time is over
    assertThat(crmA.nodesInUse(NOW)).isZero();
    assertThat(crmB.state("r1")).contains(State.EXPIRED);
    assertThat(net.state("r1")).contains(State.EXPIRED);
    assertThat(grc.bandwidthInUse("a<->hub", NOW)).isZero();
    // A coordinator that comes back and commits is told why it is too late.
    assertThat(crmA.commit("r1")).failsWithin(Duration.ZERO).withThrowableOfType(Exception.class)
        .withMessageContaining("expired at 2030-01-01T00:02:00Z (hold time PT2M) before the commit came");
  }

  @Test
  void theHoldTimeIsConfigurable() {
    CalendarSiteResourceManager quick = new CalendarSiteResourceManager("a", 8, clock, Duration.ofSeconds(10));
    quick.prepare("r1", W, new Ask.Nodes("a", 8)).join();
    clock.advance(Duration.ofSeconds(10));
    assertThat(quick.state("r1")).contains(State.EXPIRED);
    assertThat(quick.prepare("r2", W, new Ask.Nodes("a", 8)).join().isPrepared()).isTrue();
  }

  @Test
  void duplicatedMessagesChangeNothing() {
    Ask.Nodes three = new Ask.Nodes("a", 3);
    assertThat(crmA.prepare("r1", W, three).join().isPrepared()).isTrue();
    assertThat(crmA.prepare("r1", W, three).join().isPrepared()).isTrue();
    assertThat(crmA.nodesInUse(NOW)).isEqualTo(3);
    Vote other = crmA.prepare("r1", W, new Ask.Nodes("a", 5)).join();
    assertThat(other.code()).isEqualTo(Status.Code.ALREADY_EXISTS);
    crmA.commit("r1").join();
    crmA.commit("r1").join();
    assertThat(crmA.prepare("r1", W, three).join().isPrepared()).isTrue(); // late duplicate prepare
    assertThat(crmA.nodesInUse(NOW)).isEqualTo(3);
    crmA.release("r1").join();
    crmA.release("r1").join();
    assertThat(crmA.nodesInUse(NOW)).isZero();
    assertThat(crmA.state("r1")).contains(State.RELEASED);

    // Abort twice; a prepare duplicated after the abort cannot resurrect the hold.
    Ask.Bandwidth bw = new Ask.Bandwidth(Map.of(SitePair.of("a", "b"), G));
    net.prepare("r2", W, bw).join();
    net.abort("r2").join();
    net.abort("r2").join();
    Vote late = net.prepare("r2", W, bw).join();
    assertThat(late.kind()).isEqualTo(Vote.Kind.REFUSED);
    assertThat(late.code()).isEqualTo(Status.Code.ABORTED);
    assertThat(grc.bandwidthInUse("a<->hub", NOW)).isZero();

    // An abort that overtakes its prepare leaves a tombstone.
    crmB.abort("r3").join();
    assertThat(crmB.prepare("r3", W, new Ask.Nodes("b", 1)).join().code()).isEqualTo(Status.Code.ABORTED);
    assertThat(crmB.nodesInUse(NOW)).isZero();

    // A whole run repeated: the second run sees PREPARED/COMMITTED and commits nothing new.
    assertThat(coordinator.run("r4", W, ask(1, 1, G)).join().committed()).isTrue();
    assertThat(coordinator.run("r4", W, ask(1, 1, G)).join().committed()).isTrue();
    assertThat(crmA.nodesInUse(NOW)).isEqualTo(1);
    assertThat(grc.bandwidthInUse("a<->hub", NOW)).isEqualTo(G);
  }

  @Test
  void committingAnUnknownOrAbortedHoldFailsWithAReason() {
    assertThat(crmA.commit("nope")).failsWithin(Duration.ZERO).withThrowableOfType(Exception.class)
        .withMessageContaining("no hold for reservation nope");
    crmA.abort("r1").join();
    assertThat(crmA.commit("r1")).failsWithin(Duration.ZERO).withThrowableOfType(Exception.class)
        .withMessageContaining("reservation r1 is ABORTED; it cannot be committed");
    crmA.prepare("r2", W, new Ask.Nodes("a", 1)).join();
    crmA.commit("r2").join();
    assertThat(crmA.abort("r2")).failsWithin(Duration.ZERO).withThrowableOfType(Exception.class)
        .withMessageContaining("is committed; release it instead of aborting");
  }

  @Test
  void aManagerThatThrowsOrAsksForTheWrongThingCountsAsARefusal() {
    Outcome o = coordinator.run("r1", W, List.of(new Participant(crmA, new Ask.Nodes("b", 1)),
        new Participant(net, new Ask.Bandwidth(Map.of(SitePair.of("a", "d"), G))))).join();
    assertThat(o.decision()).isEqualTo(Decision.ABORTED);
    assertThat(o.votes().get("site:a").code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(o.votes().get("network:grc").reason()).contains("no network path joins the two sites");
  }
}
