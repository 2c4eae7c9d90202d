package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Errors.RequestException;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.crm.CrmConfig;
import org.lambdagrid.crm.JdbcSiteLedger;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.testing.CrmStateFixture;
import org.lambdagrid.crm.testing.FakeBatchReservations;
import org.lambdagrid.crm.testing.TestPilotStarter;

/**
 * The site's two-phase commit with a batch system that reserves too (a fake of
 * {@link BatchReservations}): prepare creates the batch reservation, commit keeps it, abort,
 * expiry and release delete it, a refusal there is the site's "no" and holds nothing, a name
 * that exists already is refused and left alone, so is one someone else made under a recorded
 * name (its window or user differs; the name is forgotten), a delete that fails is retried, the
 * pilots are launched into it, and a CRM killed between creating it and recording the hold
 * deletes it when it starts again (on the real ledger, H2).
 */
class BatchReservationsTest {
  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");

  @TempDir Path dir;
  @RegisterExtension final CrmStateFixture state = new CrmStateFixture(() -> dir);
  private final TestClock clock = new TestClock(T0);
  private final FakeBatchReservations batch = new FakeBatchReservations("a");
  private final TestPilotStarter starter = new TestPilotStarter(null);
  private final java.util.List<AutoCloseable> open = new java.util.ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : open) {
      c.close();
    }
  }

  private static SiteSettings settings() {
    return new SiteSettings("a", 4, List.of(Ipv4Cidr.parse("10.10.0.0/16")), 1,
        Duration.ofSeconds(5), Duration.ofSeconds(1), Duration.ofSeconds(120));
  }

  private SiteShares site(SiteLedger ledger) {
    SiteShares s = new SiteShares(settings(), starter, () -> new Endpoint("127.0.0.1", 7100),
        clock, ledger, batch);
    open.add(s);
    return s;
  }

  private SiteShares site() {
    return site(SiteLedger.NONE);
  }

  private static Window hours(int from, int to) {
    return new Window(T0.plusSeconds(3600L * from), T0.plusSeconds(3600L * to));
  }

  private static Ipv4Cidr cidr(String s) {
    return Ipv4Cidr.parse(s);
  }

  private static void assertRefused(Runnable call, Status.Code code, String message) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(RequestException.class, e -> {
      assertThat(e.code()).isEqualTo(code);
      assertThat(e.getMessage()).contains(message);
    });
  }

  @Test
  void prepareCreatesCommitKeepsAbortAndReleaseDelete() {
    SiteReservations rs = site().reservations();
    rs.prepare("r-1", hours(1, 2), 2, cidr("10.10.0.0/29"), "alice");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
    BatchReservations.Spec spec = batch.existing().get("lg-a-r-1");
    assertThat(spec).isEqualTo(new BatchReservations.Spec("r-1", hours(1, 2).start(),
        hours(1, 2).end(), 2, "alice"));
    rs.prepare("r-1", hours(1, 2), 2, cidr("10.10.0.0/29"), "alice"); // repeated: no new create
    rs.commit("r-1");
    rs.commit("r-1");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
    assertThat(rs.batchName("r-1")).isEqualTo("lg-a-r-1");

    rs.prepare("r-2", hours(1, 2), 1, cidr("10.10.0.8/29"), "bob");
    rs.abort("r-2");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
    assertThat(rs.batchName("r-2")).isNull();

    rs.release("r-1");
    assertThat(batch.existing()).isEmpty();
    assertThat(rs.batchReservations()).isEmpty();
    assertThat(batch.calls()).containsExactly("exists lg-a-r-1", "create lg-a-r-1",
        "exists lg-a-r-2", "create lg-a-r-2", "delete lg-a-r-2", "delete lg-a-r-1");
  }

  @Test
  void anExpiredHoldAndAReleasedReservationWithAShareLeaveNoBatchReservation() {
    SiteShares shares = site();
    SiteReservations rs = shares.reservations();
    rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice");
    clock.advance(Duration.ofSeconds(121));
    assertThat(rs.sweepBatch()).isZero(); // what the periodic sweep does: expire, then delete
    assertThat(rs.state("r-1")).contains(HoldTable.State.EXPIRED);
    assertThat(batch.existing()).isEmpty();

    rs.prepare("r-2", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice");
    rs.commit("r-2");
    shares.openShare("j-1", "r-2", "alice");
    shares.releaseReservation("r-2", "cancelled");
    assertThat(batch.existing()).isEmpty();
  }

  @Test
  void theBatchReservationIsForTheLocalAccountThePilotsRunAs() {
    SiteShares shares = new SiteShares(settings().withAccounts(new SiteAccounts(
        Map.of("alice", "al042"), "grid-", "", false)), starter,
        () -> new Endpoint("127.0.0.1", 7100), clock, SiteLedger.NONE, batch);
    open.add(shares);
    shares.reservations().prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice");
    shares.reservations().prepare("r-2", hours(1, 2), 1, cidr("10.10.0.8/29"), "bob");
    assertThat(batch.existing().get("lg-a-r-1").user()).isEqualTo("al042");
    assertThat(batch.existing().get("lg-a-r-2").user()).isEqualTo("grid-bob");
  }

  @Test
  void thePilotsAreSubmittedAsTheUserTheBatchReservationIsFor() {
    SiteShares shares = new SiteShares(settings().withAccounts(new SiteAccounts(
        Map.of("alice", "al042"), "", "", false)), starter,
        () -> new Endpoint("127.0.0.1", 7100), clock, SiteLedger.NONE, batch);
    open.add(shares);
    SiteReservations rs = shares.reservations();
    rs.prepare("r-1", hours(0, 1), 1, cidr("10.10.0.0/29"), "alice");
    rs.commit("r-1");
    shares.openShare("j-1", "r-1", "alice");
    starter.failStart(0, "recorded; stop here");
    assertThatThrownBy(() -> shares.setupNodes("j-1", new SetupParams("", List.of(),
        Duration.ofSeconds(5), 0))).hasMessageContaining("recorded; stop here");
    assertThat(starter.launches()).singleElement().satisfies(l -> {
      assertThat(l.batchReservation()).isEqualTo("lg-a-r-1");
      assertThat(l.user()).isEqualTo(batch.existing().get("lg-a-r-1").user()).isEqualTo("al042");
    });
  }

  @Test
  void aBatchSystemRefusalIsTheSitesNoAndHoldsNothing() {
    SiteReservations rs = site().reservations();
    batch.refuseNextCreate(Status.Code.FAILED_PRECONDITION, "Slurm cannot reserve 2 nodes of"
        + " partition lgtest ...: Error creating the reservation: Requested nodes are busy");
    assertRefused(() -> rs.prepare("r-1", hours(1, 2), 2, cidr("10.10.0.0/29"), "alice"),
        Status.Code.FAILED_PRECONDITION, "site:a: Slurm cannot reserve 2 nodes of partition"
            + " lgtest ...: Error creating the reservation: Requested nodes are busy");
    assertThat(rs.state("r-1")).isEmpty();
    assertThat(rs.nodesHeldAt(hours(1, 2).start())).isZero();
    assertThat(rs.batchReservations()).isEmpty();
    assertThat(batch.existing()).isEmpty();
    // The nodes and range are free for the next one.
    rs.prepare("r-2", hours(1, 2), 4, cidr("10.10.0.0/29"), "alice");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-2");
  }

  @Test
  void aNameTheBatchSystemHasAlreadyIsRefusedNamingItAndIsNeverDeleted() {
    SiteReservations rs = site().reservations();
    batch.foreign("lg-a-r-9");
    assertRefused(() -> rs.prepare("r-9", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.ALREADY_EXISTS, "ReservationName: 'lg-a-r-9'");
    assertThat(rs.state("r-9")).isEmpty();
    assertThat(rs.batchReservations()).isEmpty();
    rs.sweepBatch();
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-9");
    assertThat(batch.calls()).containsExactly("exists lg-a-r-9"); // never created nor deleted
    assertThat(rs.nodesHeldAt(hours(1, 2).start())).isZero();
  }

  @Test
  void aLookUpThatDoesNotAnswerRecordsNothingAndNeverDeletesTheName() {
    SiteReservations rs = site().reservations();
    batch.foreign("lg-a-r-9"); // someone else's, behind a batch system that does not answer
    batch.failExists(1);
    assertRefused(() -> rs.prepare("r-9", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.UNAVAILABLE, "cannot look for Slurm reservation lg-a-r-9");
    assertThat(rs.batchReservations()).isEmpty();
    assertThat(rs.state("r-9")).isEmpty();
    assertThat(rs.sweepBatch()).isZero();
    clock.advance(SiteReservations.IN_DOUBT.plusSeconds(1));
    assertThat(rs.sweepBatch()).isZero();
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-9");
    assertThat(batch.calls()).containsExactly("exists lg-a-r-9");
  }

  @Test
  void aCreateThatDoesNotAnswerIsResolvedByNameEvenWhenTheReservationAppearsLater() {
    SiteReservations rs = site().reservations();
    batch.timeOutNextCreate("later");
    assertRefused(() -> rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.UNAVAILABLE, "did not answer");
    assertThat(rs.nodesHeldAt(hours(1, 2).start())).isZero();
    assertThat(rs.batchReservations()).containsOnlyKeys("r-1"); // in doubt: kept
    assertThat(rs.sweepBatch()).isEqualTo(1); // not there (yet): still in doubt
    batch.madeLate(); // the batch system finishes the create the CRM gave up on
    assertThat(rs.sweepBatch()).isEqualTo(1);
    assertThat(batch.existing()).isEmpty(); // found by name and deleted
    clock.advance(SiteReservations.IN_DOUBT.plusSeconds(1));
    assertThat(rs.sweepBatch()).isZero();
    assertThat(rs.batchReservations()).isEmpty();
    // Each sweep looks it up and deletes it if it is there as asked (the fake's "delete").
    assertThat(batch.calls()).containsExactly("exists lg-a-r-1", "create lg-a-r-1",
        "delete lg-a-r-1", "delete lg-a-r-1", "delete lg-a-r-1");
  }

  @Test
  void aCreateThatMadeItsReservationButDidNotAnswerIsDeletedByTheSweep() {
    SiteReservations rs = site().reservations();
    batch.timeOutNextCreate("made");
    batch.failDeletes(1);
    assertRefused(() -> rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.UNAVAILABLE, "did not answer");
    assertThat(rs.sweepBatch()).isEqualTo(1); // the delete failed: tried again
    assertThat(rs.sweepBatch()).isEqualTo(1); // deleted; in doubt still
    assertThat(batch.existing()).isEmpty();
    // The GRC's retry of the prepare deletes nothing of anyone else and makes it again.
    clock.advance(SiteReservations.IN_DOUBT.plusSeconds(1));
    rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
    assertThat(rs.batchName("r-1")).isEqualTo("lg-a-r-1");
    assertThat(rs.sweepBatch()).isZero();
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
  }

  /** Captures what {@link SiteReservations} logs until the test ends. */
  private ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent>
      siteLog() {
    ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger)
        org.slf4j.LoggerFactory.getLogger(SiteReservations.class);
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> a =
        new ch.qos.logback.core.read.ListAppender<>();
    a.start();
    logger.addAppender(a);
    open.add(() -> logger.detachAppender(a));
    return a;
  }

  private static List<String> warnings(
      ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> log) {
    return log.list.stream().filter(e -> e.getLevel() == ch.qos.logback.classic.Level.WARN)
        .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage).toList();
  }

  @Test
  void aReservationSomeoneElseMadeUnderAnInDoubtNameIsLeftAloneAndTheNameForgotten() {
    JdbcSiteLedger ledger = openLedger();
    open.add(ledger);
    SiteReservations rs = site(ledger).reservations();
    for (String id : List.of("r-1", "r-2")) { // creates that did not answer and made nothing
      batch.timeOutNextCreate("never");
      assertRefused(() -> rs.prepare(id, hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
          Status.Code.UNAVAILABLE, "did not answer");
    }
    batch.timeOutNextCreate("made"); // one that did not answer but made ours
    assertRefused(() -> rs.prepare("r-3", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.UNAVAILABLE, "did not answer");
    // What was asked for is recorded with each name.
    assertThat(ledger.loadBatchReservations().get("r-1")).isEqualTo(new SiteLedger.BatchRecord(
        "lg-a-r-1", new BatchReservations.Asked(hours(1, 2).start(), hours(1, 2).end(),
            "alice", null, 1, null)));
    // Meanwhile an operator makes reservations of two of those names: another window, another
    // user.
    BatchReservations.Spec otherWindow = new BatchReservations.Spec("r-1", hours(5, 6).start(),
        hours(5, 6).end(), 1, "alice");
    BatchReservations.Spec otherUser = new BatchReservations.Spec("r-2", hours(1, 2).start(),
        hours(1, 2).end(), 1, "operator");
    batch.foreign("lg-a-r-1", otherWindow).foreign("lg-a-r-2", otherUser);
    var log = siteLog();

    assertThat(rs.sweepBatch()).isEqualTo(1); // r-3 (ours, deleted) stays in doubt
    assertThat(batch.existing()).containsExactly(Map.entry("lg-a-r-1", otherWindow),
        Map.entry("lg-a-r-2", otherUser));
    assertThat(rs.batchReservations()).containsOnlyKeys("r-3");
    assertThat(ledger.loadBatchReservations()).containsOnlyKeys("r-3");
    assertThat(warnings(log)).containsExactly(
        "reservation r-1: batch reservation lg-a-r-1 is not the one this CRM asked for: its"
            + " StartTime is 2030-01-01T05:00:00Z, not 2030-01-01T01:00:00Z; left alone"
            + " (someone else's) and its name forgotten",
        "reservation r-2: batch reservation lg-a-r-2 is not the one this CRM asked for: its"
            + " Users is operator, not alice; left alone (someone else's) and its name"
            + " forgotten");
    clock.advance(SiteReservations.IN_DOUBT.plusSeconds(1));
    assertThat(rs.sweepBatch()).isZero();
    assertThat(rs.batchReservations()).isEmpty();
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1", "lg-a-r-2");
    assertThat(batch.calls()).containsExactly("exists lg-a-r-1", "create lg-a-r-1",
        "exists lg-a-r-2", "create lg-a-r-2", "exists lg-a-r-3", "create lg-a-r-3",
        "delete lg-a-r-1", "delete lg-a-r-2", "delete lg-a-r-3", "delete lg-a-r-3");
  }

  @Test
  void aRetriedPrepareFindingSomeoneElsesReservationUnderItsNameIsRefusedAndLeavesIt() {
    JdbcSiteLedger ledger = openLedger();
    open.add(ledger);
    SiteReservations rs = site(ledger).reservations();
    batch.timeOutNextCreate("never");
    assertRefused(() -> rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.UNAVAILABLE, "did not answer");
    assertThat(ledger.loadBatchReservations()).containsOnlyKeys("r-1");
    BatchReservations.Spec theirs = new BatchReservations.Spec("r-1", hours(1, 2).start(),
        hours(1, 3).end(), 1, "alice");
    batch.foreign("lg-a-r-1", theirs);
    // The GRC retries the prepare: the recorded name is looked at before it is made again.
    assertRefused(() -> rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.ALREADY_EXISTS, "ReservationName: 'lg-a-r-1': the batch system has a"
            + " reservation of that name, which this CRM did not make for reservation r-1"
            + " (EndTime is 2030-01-01T03:00:00Z, not 2030-01-01T02:00:00Z)");
    assertThat(batch.existing()).containsExactly(Map.entry("lg-a-r-1", theirs));
    assertThat(rs.batchReservations()).isEmpty();
    assertThat(ledger.loadBatchReservations()).isEmpty(); // forgotten in the ledger too
    assertThat(rs.nodesHeldAt(hours(1, 2).start())).isZero();
    assertThat(rs.sweepBatch()).isZero();
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
  }

  @Test
  void aRetryAskingForSomethingElseWhileTheEarlierCreateIsInDoubtIsRefusedAndKeepsItsRecord() {
    JdbcSiteLedger ledger = openLedger();
    open.add(ledger);
    SiteReservations rs = site(ledger).reservations();
    batch.timeOutNextCreate("later"); // slurmctld may still make it as this attempt asked
    assertRefused(() -> rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.UNAVAILABLE, "did not answer");
    SiteLedger.BatchRecord first = new SiteLedger.BatchRecord("lg-a-r-1",
        new BatchReservations.Asked(hours(1, 2).start(), hours(1, 2).end(), "alice", null, 1,
            null));
    assertThat(ledger.loadBatchReservations()).containsExactly(Map.entry("r-1", first));
    // The retry asks for another window while the first create is in doubt: refused, and what
    // the first asked for stays recorded.
    assertRefused(() -> rs.prepare("r-1", hours(3, 4), 1, cidr("10.10.0.0/29"), "alice"),
        Status.Code.UNAVAILABLE, "site:a: the batch system reservation lg-a-r-1 of an earlier"
            + " attempt at reservation r-1 is in doubt until 2030-01-01T00:02:00Z (its create"
            + " did not answer, and the batch system may still make it); a prepare asking for"
            + " another window, node count or user can be made after that");
    assertThat(ledger.loadBatchReservations()).containsExactly(Map.entry("r-1", first));
    assertThat(rs.nodesHeldAt(hours(3, 4).start())).isZero();
    assertThat(batch.calls()).filteredOn("create lg-a-r-1"::equals).hasSize(1);
    // The first create lands: it is ours, so the sweep deletes it.
    batch.madeLate();
    assertThat(rs.sweepBatch()).isEqualTo(1); // deleted; in doubt still
    assertThat(batch.existing()).isEmpty();
    clock.advance(SiteReservations.IN_DOUBT.plusSeconds(1));
    assertThat(rs.sweepBatch()).isZero();
    assertThat(ledger.loadBatchReservations()).isEmpty();
    // After the doubt, the other window can be prepared.
    rs.prepare("r-1", hours(3, 4), 1, cidr("10.10.0.0/29"), "alice");
    assertThat(batch.existing().get("lg-a-r-1").start()).isEqualTo(hours(3, 4).start());
    assertThat(ledger.loadBatchReservations().get("r-1").asked().start())
        .isEqualTo(hours(3, 4).start());
  }

  @Test
  void aSlowBatchSystemHoldsUpOnlyThePrepareThatWaitsForIt() throws Exception {
    SiteReservations rs = site().reservations();
    java.util.concurrent.CountDownLatch waiting = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch slow = batch.holdCreates(waiting);
    java.util.concurrent.CompletableFuture<Void> first = java.util.concurrent.CompletableFuture
        .runAsync(() -> rs.prepare("r-1", hours(1, 2), 2, cidr("10.10.0.0/29"), "alice"));
    try {
      assertThat(waiting.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      // Meanwhile every other call on the site is answered (on another thread, so that a call
      // that waited for r-1's create fails the test instead of hanging it).
      java.util.concurrent.CompletableFuture.runAsync(() -> {
        assertRefused(() -> rs.prepare("r-1", hours(1, 2), 2, cidr("10.10.0.0/29"), "alice"),
            Status.Code.UNAVAILABLE, "still asking the batch system");
        // r-1's nodes and range are taken while it is asked.
        assertRefused(() -> rs.prepare("r-2", hours(1, 2), 3, cidr("10.10.0.8/29"), "bob"),
            Status.Code.FAILED_PRECONDITION, "has 2 of 4 nodes free");
        assertRefused(() -> rs.prepare("r-2", hours(1, 2), 1, cidr("10.10.0.0/29"), "bob"),
            Status.Code.FAILED_PRECONDITION, "overlaps range 10.10.0.0/29");
        rs.prepare("r-2", hours(1, 2), 2, cidr("10.10.0.8/29"), "bob");
        rs.commit("r-2");
        rs.abort("r-3");
        assertThat(rs.nodesHeldAt(hours(1, 2).start())).isEqualTo(4);
        rs.release("r-2");
        assertThat(rs.sweepBatch()).isZero();
      }).get(10, java.util.concurrent.TimeUnit.SECONDS);
    } finally {
      slow.countDown();
    }
    first.get(10, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(rs.state("r-1")).contains(HoldTable.State.PREPARED);
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
    assertThat(rs.nodesHeldAt(hours(1, 2).start())).isEqualTo(2);
  }

  @Test
  void anAbortWhileTheBatchSystemWorksEndsThePrepareAndDeletesWhatItMade() throws Exception {
    SiteReservations rs = site().reservations();
    java.util.concurrent.CountDownLatch waiting = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch slow = batch.holdCreates(waiting);
    java.util.concurrent.CompletableFuture<Void> first = java.util.concurrent.CompletableFuture
        .runAsync(() -> rs.prepare("r-1", hours(1, 2), 2, cidr("10.10.0.0/29"), "alice"));
    try {
      assertThat(waiting.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      java.util.concurrent.CompletableFuture.runAsync(() -> rs.abort("r-1"))
          .get(10, java.util.concurrent.TimeUnit.SECONDS); // the GRC gave up on the prepare
    } finally {
      slow.countDown();
    }
    assertThatThrownBy(() -> first.get(10, java.util.concurrent.TimeUnit.SECONDS))
        .hasCauseInstanceOf(RequestException.class).cause()
        .satisfies(e -> assertThat(((RequestException) e).code())
            .isEqualTo(Status.Code.ABORTED));
    assertThat(rs.state("r-1")).contains(HoldTable.State.ABORTED);
    assertThat(rs.nodesHeldAt(hours(1, 2).start())).isZero();
    assertThat(batch.existing()).isEmpty();
    assertThat(rs.batchReservations()).isEmpty();
  }

  @Test
  void thePrepareGivesTheBatchSystemOnlyTheTimeItsCallerHas() {
    SiteReservations rs = site().reservations();
    rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice",
        io.grpc.Deadline.after(3, java.util.concurrent.TimeUnit.SECONDS));
    assertThat(batch.deadlinesMillis()).hasSize(2).allMatch(ms -> ms > 0 && ms <= 3000);
    rs.prepare("r-2", hours(1, 2), 1, cidr("10.10.0.8/29"), "alice"); // no deadline: 8 s
    assertThat(batch.deadlinesMillis()).hasSize(4).last()
        .matches(ms -> ms > 3000 && ms <= SiteReservations.DEFAULT_ANSWER_TIME.toMillis());
    // A gRPC caller's deadline, less the margin for recording and answering.
    assertThat(SiteReservations.answerBy(io.grpc.Deadline.after(10,
        java.util.concurrent.TimeUnit.SECONDS)).timeRemaining(
        java.util.concurrent.TimeUnit.MILLISECONDS)).isBetween(8000L, 9000L);
  }

  @Test
  void aPrepareOverGrpcGivesTheBatchSystemTheCallsDeadlineLessTheMargin() throws Exception {
    CrmConfig config = ConfigLoader.parse("crm.yaml", CrmStateFixture.SITE_YAML, CrmConfig.class);
    String name = "batch-deadline-" + System.nanoTime();
    org.lambdagrid.crm.CrmServer crm = new org.lambdagrid.crm.CrmServer(config, starter, batch,
        io.grpc.inprocess.InProcessServerBuilder.forName(name), req -> {
          throw new io.grpc.StatusRuntimeException(io.grpc.Status.UNAVAILABLE);
        }, null, clock);
    io.grpc.ManagedChannel ch = io.grpc.inprocess.InProcessChannelBuilder.forName(name).build();
    try {
      crm.start();
      Window w = hours(1, 2);
      org.lambdagrid.proto.v1.SiteServiceGrpc.newBlockingStub(ch)
          .withDeadlineAfter(4, java.util.concurrent.TimeUnit.SECONDS)
          .prepare(org.lambdagrid.proto.v1.PrepareRequest.newBuilder().setReservationId("r-1")
              .setNodeCount(1).setUser("alice").setRange(
                  org.lambdagrid.proto.v1.AddressRange.newBuilder().setCidr("10.10.0.0/29"))
              .setStart(org.lambdagrid.common.ProtoTime.toProto(w.start()))
              .setEnd(org.lambdagrid.common.ProtoTime.toProto(w.end())).build());
    } finally {
      ch.shutdownNow();
      crm.close();
    }
    // The GRC waits 4 s: the batch system had at most 3 of them (1 s to record and answer).
    assertThat(batch.deadlinesMillis()).hasSize(2).allMatch(ms -> ms > 0 && ms <= 3000);
  }

  @Test
  void aDeleteThatFailsIsTriedAgainByTheSweep() {
    SiteReservations rs = site().reservations();
    rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice");
    rs.commit("r-1");
    batch.failDeletes(2);
    rs.release("r-1");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
    assertThat(rs.sweepBatch()).isEqualTo(1);
    assertThat(rs.sweepBatch()).isZero();
    assertThat(batch.existing()).isEmpty();
    assertThat(rs.batchReservations()).isEmpty();
  }

  @Test
  void pilotsAreLaunchedIntoTheBatchReservation() {
    SiteShares shares = site();
    SiteReservations rs = shares.reservations();
    rs.prepare("r-1", hours(0, 1), 1, cidr("10.10.0.0/29"), "alice");
    rs.commit("r-1");
    shares.openShare("j-1", "r-1", "alice");
    starter.failStart(0, "recorded; stop here");
    assertThatThrownBy(() -> shares.setupNodes("j-1", new SetupParams("", List.of(),
        Duration.ofSeconds(5), 0))).hasMessageContaining("recorded; stop here");
    assertThat(starter.launches()).singleElement()
        .satisfies(l -> assertThat(l.batchReservation()).isEqualTo("lg-a-r-1"));
  }

  @Test
  void theRegisteredCapacityFollowsTheBatchSystemButNeverDropsBelowWhatIsHeld() {
    SiteReservations rs = site().reservations();
    assertThat(rs.registrableCapacity(T0)).isEqualTo(4); // the batch system does not say
    batch.capacity(2);
    assertThat(rs.registrableCapacity(T0)).isEqualTo(2);
    batch.capacity(9);
    assertThat(rs.registrableCapacity(T0)).isEqualTo(4); // node_capacity is the upper bound
    rs.prepare("r-1", hours(1, 2), 3, cidr("10.10.0.0/29"), "alice");
    batch.capacity(0);
    assertThat(rs.registrableCapacity(T0)).isEqualTo(3);
    assertThat(rs.registrableCapacity(hours(2, 3).start())).isEqualTo(1);
  }

  /** The CRM's ledger on its default database: the H2 file {@code DIR/crm.mv.db}. */
  private JdbcSiteLedger openLedger() {
    return state.openLedger();
  }

  private static void awaitUntil(java.util.function.BooleanSupplier done) {
    long end = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
    while (!done.getAsBoolean()) {
      assertThat(System.nanoTime()).as("waited 10 s").isLessThan(end);
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }

  @Test
  void aCrmKilledBetweenCreatingAndRecordingDeletesTheBatchReservationWhenItStartsAgain() {
    JdbcSiteLedger first = openLedger();
    SiteShares before = new SiteShares(settings(), starter, () -> null, clock, first, batch);
    open.add(before);
    before.recover();
    before.reservations().prepare("r-0", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice");
    before.reservations().commit("r-0");
    batch.killOnCreate("after");
    assertThatThrownBy(() -> before.reservations().prepare("r-1", hours(1, 2), 1,
        cidr("10.10.0.8/29"), "alice")).isInstanceOf(FakeBatchReservations.Killed.class);
    batch.killOnCreate("before");
    assertThatThrownBy(() -> before.reservations().prepare("r-2", hours(1, 2), 1,
        cidr("10.10.0.16/29"), "alice")).isInstanceOf(FakeBatchReservations.Killed.class);
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-0", "lg-a-r-1");
    first.close(); // the process is gone: nothing more is written

    JdbcSiteLedger second = openLedger();
    open.add(second);
    SiteShares after = site(second);
    after.recover();
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-0"); // the committed one stays
    // r-1 and r-2 stay recorded while in doubt (the killed run's create might still land).
    assertThat(after.reservations().batchReservations()).containsOnlyKeys("r-0", "r-1", "r-2");
    assertThat(after.reservations().state("r-1")).isEmpty();
    clock.advance(SiteReservations.IN_DOUBT.plusSeconds(1));
    assertThat(after.reservations().sweepBatch()).isZero();
    assertThat(after.reservations().batchReservations()).containsExactly(
        Map.entry("r-0", "lg-a-r-0"));
    assertThat(second.loadBatchReservations()).containsOnlyKeys("r-0");
    // The GRC's retry of the prepare now succeeds.
    after.reservations().prepare("r-1", hours(1, 2), 1, cidr("10.10.0.8/29"), "alice");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-0", "lg-a-r-1");
  }

  @Test
  void anOrphanTheRestartCouldNotDeleteIsDeletedBeforeItsIdIsPreparedAgain() {
    JdbcSiteLedger first = openLedger();
    SiteShares before = new SiteShares(settings(), starter, () -> null, clock, first, batch);
    open.add(before);
    before.recover();
    batch.killOnCreate("after");
    assertThatThrownBy(() -> before.reservations().prepare("r-1", hours(1, 2), 1,
        cidr("10.10.0.8/29"), "alice")).isInstanceOf(FakeBatchReservations.Killed.class);
    first.close();

    JdbcSiteLedger second = openLedger();
    open.add(second);
    SiteShares after = site(second);
    batch.failDeletes(1); // the batch system is away when the CRM starts again
    after.recover();
    assertThat(after.reservations().batchReservations()).containsOnlyKeys("r-1");
    after.reservations().prepare("r-1", hours(1, 2), 1, cidr("10.10.0.8/29"), "alice");
    assertThat(batch.calls()).containsExactly("exists lg-a-r-1", "create lg-a-r-1",
        "delete lg-a-r-1", "delete lg-a-r-1", "create lg-a-r-1");
    assertThat(after.reservations().batchReservations()).containsOnlyKeys("r-1");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
    after.reservations().abort("r-1"); // its delete runs on the sweep's thread
    awaitUntil(() -> batch.existing().isEmpty());
    awaitUntil(() -> second.loadBatchReservations().isEmpty());
  }

  @Test
  void aCreateThatLandsAfterARestartIsStillFoundByNameAndDeleted() {
    JdbcSiteLedger first = openLedger();
    SiteShares before = new SiteShares(settings(), starter, () -> null, clock, first, batch);
    open.add(before);
    before.recover();
    batch.timeOutNextCreate("later"); // slurmctld is still working on it when the CRM dies
    assertRefused(() -> before.reservations().prepare("r-1", hours(1, 2), 1,
        cidr("10.10.0.8/29"), "alice"), Status.Code.UNAVAILABLE, "did not answer");
    first.close();

    JdbcSiteLedger second = openLedger();
    open.add(second);
    SiteShares after = site(second);
    after.recover(); // it is not there (yet): the name stays recorded, in doubt
    assertThat(after.reservations().batchReservations()).containsOnlyKeys("r-1");
    assertThat(second.loadBatchReservations()).containsOnlyKeys("r-1");
    batch.madeLate();
    assertThat(after.reservations().sweepBatch()).isEqualTo(1);
    assertThat(batch.existing()).isEmpty(); // found by name and deleted
    clock.advance(SiteReservations.IN_DOUBT.plusSeconds(1));
    assertThat(after.reservations().sweepBatch()).isZero();
    assertThat(second.loadBatchReservations()).isEmpty();
    // The GRC's retry of the prepare makes it again.
    after.reservations().prepare("r-1", hours(1, 2), 1, cidr("10.10.0.8/29"), "alice");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
  }

  @Test
  void aRestartSweepsWithinOneBudgetWhenTheBatchSystemIsAway() {
    JdbcSiteLedger first = openLedger();
    SiteShares before = new SiteShares(settings(), starter, () -> null, clock, first, batch);
    open.add(before);
    before.recover();
    for (int i = 1; i <= 3; i++) {
      batch.timeOutNextCreate("never");
      String id = "r-" + i;
      assertRefused(() -> before.reservations().prepare(id, hours(1, 2), 1,
          cidr("10.10.0.8/29"), "alice"), Status.Code.UNAVAILABLE, "did not answer");
    }
    first.close();

    JdbcSiteLedger second = openLedger();
    open.add(second);
    SiteShares after = site(second);
    int callsBefore = batch.calls().size();
    batch.hang(3); // slurmctld does not answer: every look-up takes its whole deadline
    after.recover();
    List<String> calls = batch.calls().subList(callsBefore, batch.calls().size());
    List<Long> deadlines = batch.deadlinesMillis().subList(callsBefore, batch.calls().size());
    // One call, within the startup budget; the other two are left to the periodic sweep.
    assertThat(calls).containsExactly("delete lg-a-r-1");
    assertThat(deadlines).allMatch(ms -> ms <= SiteReservations.STARTUP_SWEEP.toMillis());
    assertThat(after.reservations().batchReservations()).containsOnlyKeys("r-1", "r-2", "r-3");
    batch.hang(0);
    assertThat(after.reservations().sweepBatch()).isEqualTo(3); // all looked at, in doubt
    assertThat(batch.calls().subList(callsBefore + 1, batch.calls().size())).containsExactly(
        "delete lg-a-r-1", "delete lg-a-r-2", "delete lg-a-r-3");
  }

  @Test
  void anErrorWhileTheBatchSystemIsAskedFreesWhatThePrepareTook() {
    SiteReservations rs = site().reservations();
    batch.killOnCreate("before"); // an Error, not a RuntimeException
    assertThatThrownBy(() -> rs.prepare("r-1", hours(1, 2), 4, cidr("10.10.0.0/29"), "alice"))
        .isInstanceOf(FakeBatchReservations.Killed.class);
    assertThat(rs.nodesHeldAt(hours(1, 2).start())).isZero();
    assertThat(rs.state("r-1")).isEmpty();
    // Not "still asking the batch system": the retry deletes the recorded name and creates.
    rs.prepare("r-1", hours(1, 2), 4, cidr("10.10.0.0/29"), "alice");
    assertThat(rs.state("r-1")).contains(HoldTable.State.PREPARED);
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
  }

  @Test
  void aSweepGoesOnPastADeleteThatThrowsAndTriesItAgain() {
    SiteReservations rs = site().reservations();
    rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice");
    rs.prepare("r-2", hours(1, 2), 1, cidr("10.10.0.8/29"), "alice");
    batch.failDeletes(2);
    rs.abort("r-1");
    rs.abort("r-2");
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1", "lg-a-r-2");
    batch.throwOnNextDelete(new IllegalStateException("a bug in the batch system adapter"));
    assertThat(rs.sweepBatch()).isEqualTo(1); // r-1's threw; r-2's was deleted all the same
    assertThat(batch.existing()).containsOnlyKeys("lg-a-r-1");
    assertThat(rs.sweepBatch()).isZero(); // r-1 is not left claimed: deleted now
    assertThat(batch.existing()).isEmpty();
    assertThat(rs.batchReservations()).isEmpty();
  }

  @Test
  void endedHoldsAreDeletedOnTheSweepThreadNotOnTheCallersThread() {
    JdbcSiteLedger ledger = openLedger();
    open.add(ledger);
    SiteShares shares = site(ledger);
    shares.recover(); // starts the sweep thread
    SiteReservations rs = shares.reservations();
    rs.prepare("r-1", hours(1, 2), 1, cidr("10.10.0.0/29"), "alice");
    rs.prepare("r-2", hours(1, 2), 1, cidr("10.10.0.8/29"), "alice");
    rs.commit("r-2");
    clock.advance(Duration.ofSeconds(121)); // r-1's hold expires
    // A prepare the batch system refuses ends r-1's hold on the way (expiry): its delete is not
    // made on the prepare's thread, whose answer is due.
    batch.refuseNextCreate(Status.Code.FAILED_PRECONDITION, "Requested nodes are busy");
    assertRefused(() -> rs.prepare("r-3", hours(1, 2), 1, cidr("10.10.0.16/29"), "alice"),
        Status.Code.FAILED_PRECONDITION, "Requested nodes are busy");
    rs.release("r-2");
    awaitUntil(() -> batch.existing().isEmpty());
    String me = Thread.currentThread().getName();
    List<String> calls = batch.calls();
    List<String> threads = batch.threads();
    for (String deleted : List.of("delete lg-a-r-1", "delete lg-a-r-2")) {
      assertThat(calls).contains(deleted);
      assertThat(threads.get(calls.indexOf(deleted))).as(deleted).isNotEqualTo(me)
          .endsWith("-batch-sweep");
    }
    awaitUntil(() -> rs.batchReservations().isEmpty());
  }
}
