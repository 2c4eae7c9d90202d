package org.lambdagrid.grc.reservation.nsi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.reservation.Vote;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.grc.reservation.NetworkResourceManager;

class NsiNetworkProviderTest {
  private static final Map<String, String> STPS = Map.of(
      "alpha", "urn:ogf:network:fake.net:2026:topology:alpha?vlan=1780-1789",
      "bravo", "urn:ogf:network:fake.net:2026:topology:bravo?vlan=1780-1789",
      "charlie", "urn:ogf:network:fake.net:2026:topology:charlie?vlan=1780-1789");

  /** The inner provider: votes yes and logs what the GRC asked of it. */
  static final class Inner implements NetworkResourceManager {
    final List<String> calls = new ArrayList<>();

    @Override
    public String name() {
      return "inner";
    }

    @Override
    public OptionalLong maxBandwidth(String a, String b) {
      return OptionalLong.of(10_000_000_000L);
    }

    @Override
    public void restore(String id, Window w, Ask.Bandwidth ask) {
      calls.add("restore " + id);
    }

    @Override
    public synchronized CompletableFuture<Vote> prepare(String id, Window w, Ask ask) {
      calls.add("prepare " + id);
      return CompletableFuture.completedFuture(Vote.prepared());
    }

    @Override
    public synchronized CompletableFuture<Void> commit(String id) {
      calls.add("commit " + id);
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public synchronized CompletableFuture<Void> abort(String id) {
      calls.add("abort " + id);
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public synchronized CompletableFuture<Void> release(String id) {
      calls.add("release " + id);
      return CompletableFuture.completedFuture(null);
    }
  }

  private final FakeNsi nsi = new FakeNsi();
  private final Inner inner = new Inner();
  private final Hooked store = new Hooked();

  /** The in-memory store, with a hook on reading all of it and a put that can fail once. */
  static final class Hooked implements NsiStore {
    final NsiStore rows = NsiStore.inMemory();
    volatile Runnable onAll = () -> {};
    /** The next put of a record in this state fails (once). */
    volatile NsiRecord.State failPutOf;

    @Override
    public void put(NsiRecord r) {
      if (r.state() == failPutOf) {
        failPutOf = null;
        throw new IllegalStateException("the state database is down");
      }
      rows.put(r);
    }

    @Override
    public void remove(String reservationId, SitePair pair) {
      rows.remove(reservationId, pair);
    }

    @Override
    public List<NsiRecord> all() {
      onAll.run();
      return rows.all();
    }

    @Override
    public List<NsiRecord> of(String reservationId) {
      return rows.of(reservationId);
    }
  }
  private final List<NsiNetworkProvider> providers = new ArrayList<>();

  private NsiNetworkProvider provider(Duration holdTime) {
    NsiNetworkProvider p = new NsiNetworkProvider("network:nsi", inner, nsi, store, STPS,
        Clock.systemUTC(), holdTime);
    providers.add(p);
    return p;
  }

  @AfterEach
  void close() {
    providers.forEach(NsiNetworkProvider::close);
  }

  private static Window window(Duration fromNow, Duration length) {
    return Window.of(Instant.now().plus(fromNow), length);
  }

  private static Ask.Bandwidth ask(long bps, String... pairs) {
    Map<SitePair, Long> m = new java.util.TreeMap<>();
    for (String p : pairs) {
      String[] ab = p.split("-");
      m.put(SitePair.of(ab[0], ab[1]), bps);
    }
    return new Ask.Bandwidth(m);
  }

  @Test
  void aCircuitIsReservedCommittedProvisionedAtTheStartAndReleasedAtTheEnd() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    Vote v = p.prepare("r1", window(Duration.ofMillis(300), Duration.ofHours(1)),
        ask(150_000_001L, "alpha-bravo")).join();
    assertThat(v.isPrepared()).isTrue();
    assertThat(nsi.calls).containsExactly("reserve " + STPS.get("alpha") + " " + STPS.get("bravo")
        + " 151");
    assertThat(store.of("r1")).singleElement().satisfies(r -> {
      assertThat(r.state()).isEqualTo(NsiRecord.State.HELD);
      assertThat(r.connectionId()).isEqualTo("FAKE-1");
      assertThat(r.globalReservationId()).isEqualTo(NsiNetworkProvider.gri("r1",
          SitePair.of("alpha", "bravo")));
    });

    p.commit("r1").join();
    assertThat(nsi.live()).containsExactly("FAKE-1 ReserveStart/Released/Created");
    assertThat(inner.calls).containsExactly("prepare r1", "commit r1");
    await().atMost(Duration.ofSeconds(5)).until(() -> nsi.live().equals(
        List.of("FAKE-1 ReserveStart/Provisioned/Created")));
    await().atMost(Duration.ofSeconds(5)).until(() -> store.of("r1").get(0).state()
        == NsiRecord.State.PROVISIONED);

    p.release("r1").join();
    assertThat(nsi.calls).endsWith("release FAKE-1", "terminate FAKE-1");
    assertThat(nsi.live()).isEmpty();
    assertThat(store.all()).isEmpty();
    assertThat(inner.calls).endsWith("release r1");
  }

  @Test
  void theIdsAreRecordedBeforeTheyAreNeededForUndo() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    List<String> seen = new ArrayList<>();
    nsi.onReserve = () -> seen.add("at reserve: " + store.all().stream()
        .map(r -> r.state() + " " + r.connectionId() + " " + r.globalReservationId()).toList());
    nsi.beforeConfirm = () -> seen.add("before confirm: " + store.all().stream()
        .map(r -> r.state() + " " + r.connectionId()).toList());
    p.prepare("r2", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join();
    String gri = NsiNetworkProvider.gri("r2", SitePair.of("alpha", "bravo"));
    assertThat(seen).containsExactly("at reserve: [RESERVING null " + gri + "]",
        "before confirm: [RESERVING FAKE-1]");
  }

  @Test
  void aRefusedPairVotesNoWithTheProvidersReasonAndLeavesNothing() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    nsi.refuseDest = "charlie";
    Vote v = p.prepare("r3", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo", "alpha-charlie")).join();
    assertThat(v.isPrepared()).isFalse();
    assertThat(v.reason()).isEqualTo("network:nsi: site pair alpha-charlie: NSI provider "
        + FakeNsi.NSA + " refused reserve: STP unavailable [00704]");
    // the pair already held is aborted and terminated; nothing recorded, the inner hold dropped
    await().atMost(Duration.ofSeconds(5)).until(() -> inner.calls.contains("abort r3"));
    assertThat(nsi.live()).isEmpty();
    assertThat(nsi.calls).contains("abort FAKE-1", "terminate FAKE-1");
    assertThat(store.all()).isEmpty();
    assertThat(inner.calls).containsExactly("prepare r3", "abort r3");
  }

  @Test
  void overCapacityIsRefusedWithTheProvidersMessage() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    Vote v = p.prepare("r4", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(5_000_000_000L, "alpha-bravo")).join();
    assertThat(v.isPrepared()).isFalse();
    assertThat(v.code()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(v.reason()).contains("site pair alpha-bravo", FakeNsi.NSA,
        "Port cannot provide 5000 Mbps [00705]");
    await().atMost(Duration.ofSeconds(5)).until(() -> store.all().isEmpty());
  }

  @Test
  void aSiteWithoutAnStpIsRefusedNamingItAndTheField() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    assertThat(p.maxBandwidth("alpha", "delta")).isEmpty();
    Vote v = p.prepare("r5", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-delta")).join();
    assertThat(v.code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(v.reason()).isEqualTo("network:nsi: site pair alpha-delta: site 'delta' has no"
        + " STP at NSI provider " + FakeNsi.NSA + " (network.nsi.stps)");
    assertThat(nsi.calls).isEmpty();
    assertThat(store.all()).isEmpty();
  }

  @Test
  void aProviderThatNeverConfirmsVotesNoAndItsConnectionIsTerminated() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    nsi.silent = true;
    Vote v = p.prepare("r6", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join();
    assertThat(v.isPrepared()).isFalse();
    assertThat(v.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(v.reason()).contains("site pair alpha-bravo", "no confirmation within 1 s");
    // The undo runs on the lane after the vote: terminated at the provider, then forgotten.
    await().atMost(Duration.ofSeconds(5)).until(() -> nsi.live().isEmpty()
        && store.all().isEmpty());
  }

  @Test
  void abortAndTheHoldTimeUndoAHeldCircuit() {
    NsiNetworkProvider p = provider(Duration.ofMillis(300));
    Window w = window(Duration.ofHours(1), Duration.ofHours(1));
    assertThat(p.prepare("r7", w, ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    p.abort("r7").join();
    assertThat(nsi.calls).endsWith("abort FAKE-1", "terminate FAKE-1");
    assertThat(store.all()).isEmpty();
    // a duplicate prepare after the abort is refused, and holds nothing
    assertThat(p.prepare("r7", w, ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isFalse();
    assertThat(nsi.live()).isEmpty();

    assertThat(p.prepare("r8", w, ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    // The hold time's expiry terminates the circuit at the provider, then forgets its record.
    await().atMost(Duration.ofSeconds(5)).until(() -> nsi.live().isEmpty()
        && store.all().isEmpty());
    assertThatThrownBy(() -> p.commit("r8").join())
        .hasMessageContaining("reservation r8 was aborted, or not committed within PT0.3S");
    assertThat(inner.calls).doesNotContain("commit r8");
  }

  @Test
  void aRestartedGrcKeepsCommittedCircuitsAndUndoesEverythingElse() {
    NsiNetworkProvider before = provider(Duration.ofMinutes(2));
    Window w = window(Duration.ofHours(1), Duration.ofHours(1));
    before.prepare("kept", w, ask(1_000_000L, "alpha-bravo")).join();
    before.commit("kept").join();
    before.prepare("held", w, ask(1_000_000L, "alpha-charlie")).join();
    before.prepare("gone", w, ask(1_000_000L, "bravo-charlie")).join();
    before.commit("gone").join(); // committed, but its reservation did not survive
    // killed between sending a reserve and hearing its id: the provider has it, the GRC only
    // its global reservation id
    SitePair lost = SitePair.of("alpha", "bravo");
    store.put(new NsiRecord("lost", lost, NsiNetworkProvider.gri("lost", lost), null,
        NsiRecord.State.RESERVING, w.startMillis(), w.endMillis()));
    nsi.reserve(new org.lambdagrid.nsi.NsiRequester.Circuit(STPS.get("alpha"), STPS.get("bravo"),
        1, null, w.end(), NsiNetworkProvider.gri("lost", lost), "x"), null);
    before.close();

    NsiNetworkProvider after = provider(Duration.ofMinutes(2));
    after.restore("kept", w, ask(1_000_000L, "alpha-bravo"));
    List<String> undone = after.recover();
    assertThat(undone).containsExactlyInAnyOrder("held alpha-charlie", "gone bravo-charlie",
        "lost alpha-bravo");
    assertThat(nsi.live()).containsExactly("FAKE-1 ReserveStart/Released/Created");
    assertThat(store.all()).extracting(NsiRecord::reservationId).containsExactly("kept");
    assertThat(nsi.calls).contains("query [] [" + NsiNetworkProvider.gri("lost", lost) + "]");
  }

  @Test
  void aRestoredReservationsHeldConnectionsAreCommittedNotTerminated() {
    NsiNetworkProvider before = provider(Duration.ofMinutes(2));
    Window w = window(Duration.ofHours(1), Duration.ofHours(1));
    // the GRC recorded the reservation committed; one connection's commit never reached the
    // provider, the other's was confirmed but the GRC stopped before recording it
    before.prepare("live", w, ask(1_000_000L, "alpha-bravo", "alpha-charlie")).join();
    nsi.commit("FAKE-2");
    before.close();

    NsiNetworkProvider after = provider(Duration.ofMinutes(2));
    after.restore("live", w, ask(1_000_000L, "alpha-bravo", "alpha-charlie"));
    assertThat(after.recover()).isEmpty();
    assertThat(nsi.live()).containsExactly("FAKE-1 ReserveStart/Released/Created",
        "FAKE-2 ReserveStart/Released/Created");
    assertThat(nsi.calls).doesNotContain("terminate FAKE-1", "terminate FAKE-2", "abort FAKE-1");
    assertThat(store.of("live")).extracting(NsiRecord::state)
        .containsOnly(NsiRecord.State.COMMITTED);
    // the commit the GRC re-sends after its restart succeeds
    after.commit("live").join();
    assertThat(inner.calls).endsWith("commit live");
  }

  @Test
  void theRecommitOfARestoredReservationCommitsWhatTheProviderStillHolds() {
    NsiNetworkProvider before = provider(Duration.ofMinutes(2));
    Window w = window(Duration.ofHours(1), Duration.ofHours(1));
    before.prepare("live", w, ask(1_000_000L, "alpha-bravo")).join();
    before.close();
    NsiNetworkProvider after = provider(Duration.ofMinutes(2));
    after.restore("live", w, ask(1_000_000L, "alpha-bravo"));
    after.commit("live").join(); // the re-sent commit may come before recover
    assertThat(nsi.live()).containsExactly("FAKE-1 ReserveStart/Released/Created");
    assertThat(store.of("live")).extracting(NsiRecord::state)
        .containsExactly(NsiRecord.State.COMMITTED);
    assertThat(after.recover()).isEmpty();
    assertThat(nsi.live()).containsExactly("FAKE-1 ReserveStart/Released/Created");
  }

  /** A provider that cannot be reached for anything but reserve (after it answered). */
  private void unreachableAfterReserve() {
    nsi.unreachable = true;
  }

  @Test
  void theInnerHoldIsFreedEvenWhenTheProviderCannotBeReachedForTheUndo() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    Window w = window(Duration.ofHours(1), Duration.ofHours(1));
    assertThat(p.prepare("a", w, ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    assertThat(p.prepare("b", w, ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    p.commit("b").join();
    unreachableAfterReserve();
    assertThatThrownBy(() -> p.abort("a").join()).hasMessageContaining("unreachable");
    assertThat(inner.calls).contains("abort a");
    assertThatThrownBy(() -> p.release("b").join()).hasMessageContaining("unreachable");
    assertThat(inner.calls).contains("release b");
  }

  @Test
  void aFailedPrepareWhoseUndoFailsIsStillARefusalAndFreesTheInnerHold() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    nsi.silent = true;
    nsi.beforeConfirm = () -> nsi.unreachable = true;
    Vote v = p.prepare("c", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join();
    assertThat(v.isPrepared()).isFalse();
    assertThat(v.reason()).contains("no confirmation");
    await().atMost(Duration.ofSeconds(5)).until(() -> inner.calls.contains("abort c"));
    assertThat(inner.calls).containsExactly("prepare c", "abort c");
    assertThat(store.of("c")).hasSize(1); // kept for the later undo
  }

  @Test
  void aFailedProvisionIsRetried() {
    // Retries come every hold time / 4; a 2 s hold leaves the commit time even on a slow machine.
    NsiNetworkProvider p = provider(Duration.ofSeconds(2));
    nsi.failProvisions = 2;
    assertThat(p.prepare("r9", window(Duration.ZERO, Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    p.commit("r9").join();
    await().atMost(Duration.ofSeconds(15)).until(() -> store.of("r9").get(0).state()
        == NsiRecord.State.PROVISIONED);
    assertThat(nsi.calls.stream().filter(c -> c.equals("provision FAKE-1")).count()).isEqualTo(3);
    assertThat(nsi.live()).containsExactly("FAKE-1 ReserveStart/Provisioned/Created");
  }

  @Test
  void abortedReservationsAndTimedOutConnectionsAreForgotten() {
    // one pool thread: FAKE-42's look-up is done before FAKE-1's. A hold time of 2 s: what is
    // remembered is forgotten 4 s later, so a stalled test thread cannot miss it in between.
    NsiNetworkProvider p = new NsiNetworkProvider("network:nsi", inner, nsi, store, STPS,
        Clock.systemUTC(), Duration.ofSeconds(2), Duration.ofSeconds(2), 1);
    providers.add(p);
    Window w = window(Duration.ofHours(1), Duration.ofHours(1));
    assertThat(p.prepare("a", w, ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    p.reserveTimeout("FAKE-42"); // not the GRC's (its only one is FAKE-1): not remembered
    p.reserveTimeout("FAKE-1");
    await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(5))
        .until(() -> p.remembered() == 1);
    assertThatThrownBy(() -> p.commit("a").join()).hasMessageContaining("timed out");
    p.abort("a").join();
    assertThat(p.remembered()).as("the undone connection is dropped; the abort kept").isEqualTo(1);
    await().atMost(Duration.ofSeconds(15)).until(() -> p.remembered() == 0);
  }

  @Test
  void aPrepareSendsNoReservePastItsDeadline() {
    NsiNetworkProvider p = new NsiNetworkProvider("network:nsi", inner, nsi, store, STPS,
        Clock.systemUTC(), Duration.ofMinutes(2), Duration.ofMillis(300));
    providers.add(p);
    nsi.onReserve = () -> sleep(500); // a slow provider
    Vote v = p.prepare("slow", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo", "alpha-charlie")).join();
    assertThat(v.isPrepared()).isFalse();
    assertThat(v.reason()).isEqualTo("network:nsi: site pair alpha-charlie: not reserved within"
        + " the prepare's PT0.3S (NSI provider " + FakeNsi.NSA + " answers slowly, or other"
        + " requests were ahead)");
    assertThat(nsi.calls.stream().filter(c -> c.startsWith("reserve"))).hasSize(1);
    await().atMost(Duration.ofSeconds(5)).until(() -> nsi.live().isEmpty()
        && store.all().isEmpty());
  }

  @Test
  void theVoteDoesNotWaitForTheUndo() throws Exception {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    nsi.refuseDest = "charlie";
    java.util.concurrent.CountDownLatch terminate = new java.util.concurrent.CountDownLatch(1);
    nsi.onTerminate = () -> {
      try {
        terminate.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
    try {
      Vote v = p.prepare("r10", window(Duration.ofHours(1), Duration.ofHours(1)),
          ask(1_000_000L, "alpha-bravo", "alpha-charlie"))
          .get(3, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(v.isPrepared()).isFalse();
    } finally {
      terminate.countDown();
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> nsi.live().isEmpty()
        && inner.calls.contains("abort r10"));
  }

  /** Keeps the reserves of reservation {@code id} waiting until the returned latch is opened. */
  private java.util.concurrent.CountDownLatch holdReservesOf(String id,
      java.util.concurrent.CountDownLatch arrived) {
    java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
    nsi.arriving = c -> {
      if (c.description().startsWith("lambdagrid reservation " + id + " ")) {
        arrived.countDown();
        try {
          go.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    };
    return go;
  }

  @Test
  void aSlowReserveHoldsUpOnlyItsOwnReservation() throws Exception {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    Window w = window(Duration.ofHours(1), Duration.ofHours(1));
    java.util.concurrent.CountDownLatch arrived = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch go = holdReservesOf("a", arrived);
    try {
      CompletableFuture<Vote> a = p.prepare("a", w, ask(1_000_000L, "alpha-bravo"));
      CompletableFuture<Void> aCommit = p.commit("a"); // asked early: must wait for the reserve
      assertThat(arrived.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();

      // b's prepare and commit complete while a's reserve is still waiting at the provider
      // (bounded waits only so that a regression fails instead of hanging)
      assertThat(p.prepare("b", w, ask(1_000_000L, "alpha-charlie"))
          .get(30, java.util.concurrent.TimeUnit.SECONDS).isPrepared()).isTrue();
      p.commit("b").get(30, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(store.of("b")).singleElement().extracting(NsiRecord::state)
          .isEqualTo(NsiRecord.State.COMMITTED);
      assertThat(a).isNotDone();
      assertThat(aCommit).as("a's commit stays behind a's reserve").isNotDone();
      go.countDown();
      assertThat(a.join().isPrepared()).isTrue();
      aCommit.join();
    } finally {
      go.countDown();
    }
    String aId = store.of("a").get(0).connectionId();
    assertThat(store.of("a")).singleElement().extracting(NsiRecord::state)
        .isEqualTo(NsiRecord.State.COMMITTED);
    assertThat(nsi.calls).containsSubsequence("commit FAKE-1", "commit " + aId);
    assertThat(aId).isEqualTo("FAKE-2"); // b reserved first
  }

  @Test
  void anAbortAskedDuringItsReserveRunsAfterItAndUndoesIt() throws Exception {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    Window w = window(Duration.ofHours(1), Duration.ofHours(1));
    java.util.concurrent.CountDownLatch arrived = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch go = holdReservesOf("x", arrived);
    CompletableFuture<Vote> x;
    CompletableFuture<Void> abort;
    try {
      x = p.prepare("x", w, ask(1_000_000L, "alpha-bravo"));
      assertThat(arrived.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      abort = p.abort("x");
      assertThat(abort).isNotDone();
    } finally {
      go.countDown();
    }
    x.join();
    abort.join();
    assertThat(nsi.calls).containsExactly(
        "reserve " + STPS.get("alpha") + " " + STPS.get("bravo") + " 1",
        "abort FAKE-1", "terminate FAKE-1");
    assertThat(nsi.live()).isEmpty();
    assertThat(store.all()).isEmpty();
    assertThat(inner.calls).containsExactly("prepare x", "abort x");
  }

  @Test
  void aPoolOfNoThreadsIsRefused() {
    assertThatThrownBy(() -> new NsiNetworkProvider("network:nsi", inner, nsi, store, STPS,
        Clock.systemUTC(), Duration.ofMinutes(2), Duration.ofMinutes(2), 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0");
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void waitFor(java.util.concurrent.CountDownLatch l) {
    try {
      assertThat(l.await(20, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void recoverActsOnTheRecordsAsTheyAreWhenItsTurnComesNotWhenItWasAsked() throws Exception {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    assertThat(p.prepare("r", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    java.util.concurrent.CountDownLatch terminating = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
    nsi.onTerminate = () -> {
      terminating.countDown();
      waitFor(go);
    };
    CompletableFuture<Void> abort = p.abort("r"); // on the lane first: undoes FAKE-1
    waitFor(terminating);
    java.util.concurrent.CountDownLatch read = new java.util.concurrent.CountDownLatch(1);
    store.onAll = read::countDown;
    CompletableFuture<List<String>> recovered = CompletableFuture.supplyAsync(p::recover);
    waitFor(read); // recover looked at the store while the abort is still under way
    nsi.onTerminate = () -> {};
    go.countDown();
    abort.join();
    assertThat(recovered.get(20, java.util.concurrent.TimeUnit.SECONDS)).as("nothing left")
        .isEmpty();
    assertThat(nsi.calls.stream().filter(c -> c.equals("terminate FAKE-1")).count())
        .isEqualTo(1);
  }

  @Test
  void aRefusedPrepareIsUndoneBeforeAStepAskedDuringIt() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    nsi.refuseDest = "charlie";
    java.util.concurrent.CountDownLatch reached = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
    nsi.arriving = c -> {
      if (c.destStp().contains("charlie")) {
        reached.countDown();
        waitFor(go);
      }
    };
    CompletableFuture<Vote> vote = p.prepare("r", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo", "alpha-charlie"));
    waitFor(reached); // alpha-bravo is held (FAKE-1), alpha-charlie about to be refused
    CompletableFuture<Void> commit = p.commit("r");
    go.countDown();
    assertThat(vote.join().isPrepared()).isFalse();
    commit.handle((v, t) -> null).join();
    assertThat(nsi.calls).as("FAKE-1 undone before the commit ran").doesNotContain(
        "commit FAKE-1").contains("terminate FAKE-1");
    assertThat(inner.calls.indexOf("abort r")).isLessThan(inner.calls.indexOf("commit r"));
  }

  @Test
  void aProvisionWhoseRecordCannotBeWrittenIsRetried() {
    NsiNetworkProvider p = provider(Duration.ofSeconds(2));
    store.failPutOf = NsiRecord.State.PROVISIONED;
    assertThat(p.prepare("r", window(Duration.ZERO, Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    p.commit("r").join();
    await().atMost(Duration.ofSeconds(15)).until(() -> store.of("r").get(0).state()
        == NsiRecord.State.PROVISIONED);
    assertThat(store.failPutOf).as("the first put failed").isNull();
  }

  @Test
  void aReservationWhoseReleaseFailedIsNeverProvisioned() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    assertThat(p.prepare("r", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    p.commit("r").join();
    nsi.unreachable = true;
    assertThatThrownBy(() -> p.release("r").join()).hasMessageContaining("unreachable");
    nsi.unreachable = false;
    assertThat(store.of("r")).singleElement().satisfies(r ->
        assertThat(r.state()).isEqualTo(NsiRecord.State.COMMITTED));
    p.provision("r"); // what a provision retry queued before the cancel runs
    assertThat(nsi.calls).doesNotContain("provision FAKE-1");
  }

  @Test
  void aClosedProviderVotesNoAndFreesTheInnerHold() {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    p.close();
    Vote v = p.prepare("r", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join();
    assertThat(v.isPrepared()).isFalse();
    assertThat(v.code()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(inner.calls).containsExactly("prepare r", "abort r");
    assertThatThrownBy(() -> p.release("r").join()).hasMessageContaining("shutting down");
    assertThat(inner.calls).endsWith("release r");
    assertThatThrownBy(() -> p.commit("r").join()).hasMessageContaining("shutting down");
    assertThat(nsi.calls).isEmpty();
  }

  @Test
  void aStepStillQueuedWhenTheProviderClosesFailsUnavailableAndFreesTheInnerHold()
      throws Exception {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    java.util.concurrent.CountDownLatch arrived = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch go = holdReservesOf("x", arrived);
    CompletableFuture<Void> abort;
    CompletableFuture<Vote> prepared;
    try {
      prepared = p.prepare("x", window(Duration.ofHours(1), Duration.ofHours(1)),
          ask(1_000_000L, "alpha-bravo"));
      waitFor(arrived);
      abort = p.abort("x"); // queued behind the reserve
      p.close(); // gives up on the reserve: interrupts it
    } finally {
      go.countDown();
    }
    // bounded only so that a regression fails instead of hanging
    assertThatThrownBy(() -> abort.get(30, java.util.concurrent.TimeUnit.SECONDS))
        .hasMessageContaining("abort of reservation x: the GRC's NSI provider is shutting down");
    assertThat(inner.calls).endsWith("abort x");
    // The prepare under way when the provider closed still votes (its hold timer is not armed:
    // the next start's recover() takes the reservation up), never fails on the closed timer.
    assertThat(prepared).succeedsWithin(Duration.ofSeconds(30));
  }

  @Test
  void aReserveTimeoutReturnsWhileTheStoreIsSlowAndIsRecordedOnceItAnswers() throws Exception {
    NsiNetworkProvider p = provider(Duration.ofMinutes(2));
    assertThat(p.prepare("a", window(Duration.ofHours(1), Duration.ofHours(1)),
        ask(1_000_000L, "alpha-bravo")).join().isPrepared()).isTrue();
    java.util.concurrent.CountDownLatch reading = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch answer = new java.util.concurrent.CountDownLatch(1);
    store.onAll = () -> { // a store that answers only when the test says so
      reading.countDown();
      waitFor(answer);
    };
    try {
      // the callback thread is not held by the store (bounded only so that a regression fails
      // instead of hanging)
      org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(30),
          () -> p.reserveTimeout("FAKE-1"));
      waitFor(reading);
      assertThat(p.remembered()).as("not before the store answered").isZero();
    } finally {
      answer.countDown();
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> p.remembered() == 1);
    assertThatThrownBy(() -> p.commit("a").join())
        .hasMessageContaining("FAKE-1 is not held (the provider's hold timed out)");
  }
}
