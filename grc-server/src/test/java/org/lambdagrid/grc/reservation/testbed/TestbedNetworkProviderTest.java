package org.lambdagrid.grc.reservation.testbed;

import org.lambdagrid.common.net.FakeKernel;
import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.grc.reservation.CoAllocator;
import org.lambdagrid.common.reservation.HoldTable.State;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.grc.reservation.TwoPhaseCommit;
import org.lambdagrid.common.reservation.Vote;
import org.lambdagrid.common.reservation.Window;

class TestbedNetworkProviderTest {
  static final long M = 1_000_000L;
  static final Instant NOW = Instant.parse("2030-01-01T00:00:00Z");
  static final Window W = Window.of(NOW.plusSeconds(60), Duration.ofHours(1));
  static final Ask.Bandwidth AB200 = new Ask.Bandwidth(Map.of(SitePair.of("alpha", "bravo"), 200 * M));

  @TempDir Path dir;
  final FakeKernel kernel = new FakeKernel();
  final TestClock clock = new TestClock(NOW);

  TestbedNetworkProvider provider() {
    return new TestbedNetworkProvider("network:testbed", new CoAllocator(SegmentTest.star("alpha", "bravo")), clock,
        Duration.ofSeconds(120), new TestbedNetwork(dir, kernel, Duration.ofSeconds(1)));
  }

  @Test
  void prepareHoldsTheCalendarAndNamesTheBridgesButBuildsNothing() {
    TestbedNetworkProvider p = provider();
    assertThat(p.prepare("r1", W, AB200).join()).isEqualTo(Vote.prepared());
    assertThat(kernel.mutations()).isEmpty();
    String tag = SegmentNames.tag("r1", 0);
    assertThat(p.siteBridges("r1")).containsExactly(
        Map.entry("alpha", "lgn" + tag + "b0"), Map.entry("bravo", "lgn" + tag + "b1"));
    assertThat(p.state("r1")).contains(State.PREPARED);
  }

  @Test
  void commitBuildsTheSegmentAndReleaseRemovesItAndFreesTheLinks() {
    TestbedNetworkProvider p = provider();
    p.prepare("r1", W, AB200).join();
    p.commit("r1").join();
    Segment s = p.segment("r1").orElseThrow();
    assertThat(kernel.links).containsExactlyInAnyOrderElementsOf(s.devices());
    assertThat(p.state("r1")).contains(State.COMMITTED);
    // 200M of 1000M held: 900M more does not fit on the links, 800M does.
    Ask.Bandwidth big = new Ask.Bandwidth(Map.of(SitePair.of("alpha", "bravo"), 900 * M));
    assertThat(p.prepare("r2", W, big).join().code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    p.release("r1").join();
    assertThat(kernel.links).isEmpty();
    assertThat(p.network().recordedAll()).isEmpty();
    assertThat(p.siteBridges("r1")).isEmpty();
    assertThat(p.prepare("r3", W, big).join().isPrepared()).isTrue();
  }

  @Test
  void duplicatedPrepareCommitAbortAndReleaseChangeNothing() {
    TestbedNetworkProvider p = provider();
    p.prepare("r1", W, AB200).join();
    Map<String, String> bridges = p.siteBridges("r1");
    assertThat(p.prepare("r1", W, AB200).join().isPrepared()).isTrue();
    assertThat(p.siteBridges("r1")).isEqualTo(bridges);
    p.commit("r1").join();
    int after = kernel.mutations().size();
    p.commit("r1").join();
    p.prepare("r1", W, AB200).join();
    assertThat(kernel.mutations()).hasSize(after);
    p.release("r1").join();
    int released = kernel.commands.size();
    p.release("r1").join();
    p.abort("r1").join();
    assertThat(kernel.commands).hasSize(released);
    assertThat(p.prepare("r1", W, AB200).join().code()).isEqualTo(Status.Code.ABORTED);
    assertThat(kernel.links).isEmpty();
  }

  @Test
  void abortBeforeCommitLeavesNothingAndALatePrepareIsRefused() {
    TestbedNetworkProvider p = provider();
    p.abort("r1").join();
    Vote late = p.prepare("r1", W, AB200).join();
    assertThat(late.code()).isEqualTo(Status.Code.ABORTED);
    p.prepare("r2", W, AB200).join();
    p.abort("r2").join();
    assertThat(p.state("r2")).contains(State.ABORTED);
    assertThat(kernel.mutations()).isEmpty();
    assertThat(failure(p.commit("r2")).code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(kernel.mutations()).isEmpty();
  }

  @Test
  void anExpiredHoldIsNeverBuiltAndItsCommitFails() {
    TestbedNetworkProvider p = provider();
    p.prepare("r1", W, AB200).join();
    clock.advance(Duration.ofSeconds(121));
    Errors.RequestException e = failure(p.commit("r1"));
    assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(e.getMessage()).contains("expired");
    assertThat(kernel.mutations()).isEmpty();
    assertThat(p.siteBridges("r1")).isEmpty();
  }

  @Test
  void aFailedBuildLeavesTheHoldPreparedSoARetriedCommitCanSucceed() {
    TestbedNetworkProvider p = provider();
    p.prepare("r1", W, AB200).join();
    kernel.failWhen(argv -> argv.contains("tc"));
    Errors.RequestException e = failure(p.commit("r1"));
    assertThat(e.code()).isEqualTo(Status.Code.INTERNAL);
    assertThat(e.getMessage()).contains("'tc qdisc replace dev lgn").contains("Operation not permitted");
    assertThat(p.state("r1")).contains(State.PREPARED);
    assertThat(kernel.links).isEmpty();
    kernel.failWhen(argv -> false);
    p.commit("r1").join();
    assertThat(p.state("r1")).contains(State.COMMITTED);
    assertThat(kernel.links).isNotEmpty();
  }

  @Test
  void abortOfACommittedReservationIsRefusedAndKeepsTheSegment() {
    TestbedNetworkProvider p = provider();
    p.prepare("r1", W, AB200).join();
    p.commit("r1").join();
    assertThat(failure(p.abort("r1")).code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(kernel.links).isNotEmpty();
  }

  @Test
  void aReleaseWhoseTeardownFailsStillFreesTheHoldAndARetryRemovesTheRest() {
    TestbedNetworkProvider p = provider();
    p.prepare("r1", W, AB200).join();
    p.commit("r1").join();
    kernel.failWhen(argv -> argv.contains("del"));
    assertThat(failure(p.release("r1")).code()).isEqualTo(Status.Code.INTERNAL);
    assertThat(p.state("r1")).contains(State.RELEASED);
    kernel.failWhen(argv -> false);
    p.release("r1").join();
    assertThat(kernel.links).isEmpty();
    assertThat(p.network().recordedAll()).isEmpty();
  }

  @Test
  void aCycleOrAnUnknownSiteIsRefusedAtPrepareHoldingNothing() {
    TestbedNetworkProvider p = provider();
    Vote v = p.prepare("r1", W, new Ask.Bandwidth(Map.of(SitePair.of("alpha", "zulu"), M))).join();
    assertThat(v.code()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(v.reason()).startsWith("network:testbed: unknown site 'zulu'");
    assertThat(p.state("r1")).isEmpty();
    assertThat(p.prepare("r2", W, new Ask.Nodes("alpha", 1)).join().code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
  }

  @Test
  void recoverRemovesSegmentsAnEarlierRunLeftBehind() {
    TestbedNetworkProvider before = provider();
    before.prepare("r1", W, AB200).join();
    before.commit("r1").join();
    TestbedNetworkProvider after = provider();
    assertThat(after.recover()).containsExactly("r1");
    assertThat(kernel.links).isEmpty();
    assertThat(after.recover()).isEmpty();
  }

  @Test
  void twoReservationsGetDistinctDevicesAndEndIndependently() {
    TestbedNetworkProvider p = provider();
    p.prepare("r1", W, AB200).join();
    p.prepare("r2", W, new Ask.Bandwidth(Map.of(SitePair.of("alpha", "bravo"), 100 * M))).join();
    p.commit("r1").join();
    p.commit("r2").join();
    List<String> d1 = p.segment("r1").orElseThrow().devices();
    List<String> d2 = p.segment("r2").orElseThrow().devices();
    assertThat(d1).doesNotContainAnyElementsOf(d2);
    p.release("r1").join();
    assertThat(kernel.links).containsExactlyInAnyOrderElementsOf(d2);
    p.release("r2").join();
    assertThat(kernel.links).isEmpty();
  }

  @Test
  void asAParticipantOfTheTwoPhaseCommitARefusingSiteMeansNothingIsBuilt() {
    TestbedNetworkProvider p = provider();
    var refusing = new org.lambdagrid.grc.reservation.CalendarSiteResourceManager("alpha", 2, clock,
        Duration.ofSeconds(120));
    TwoPhaseCommit tpc = new TwoPhaseCommit(Duration.ofSeconds(5));
    TwoPhaseCommit.Outcome o = tpc.run("r1", W, List.of(
        new TwoPhaseCommit.Participant(refusing, new Ask.Nodes("alpha", 3)),
        new TwoPhaseCommit.Participant(p, AB200))).join();
    assertThat(o.committed()).isFalse();
    assertThat(p.state("r1")).contains(State.ABORTED);
    assertThat(kernel.mutations()).isEmpty();
    TwoPhaseCommit.Outcome ok = tpc.run("r2", W, List.of(
        new TwoPhaseCommit.Participant(refusing, new Ask.Nodes("alpha", 2)),
        new TwoPhaseCommit.Participant(p, AB200))).join();
    assertThat(ok.committed()).isTrue();
    assertThat(kernel.links).containsExactlyInAnyOrderElementsOf(p.segment("r2").orElseThrow().devices());
  }

  static Errors.RequestException failure(CompletableFuture<Void> f) {
    try {
      f.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof Errors.RequestException r) {
        return r;
      }
      throw new AssertionError("not a RequestException", e.getCause());
    }
    throw new AssertionError("expected a failure");
  }

  TestbedNetworkProvider routedProvider(String vniRange) {
    String[] r = vniRange.split("-");
    return new TestbedNetworkProvider("network:testbed", new CoAllocator(SegmentTest.star("alpha", "bravo")), clock,
        Duration.ofSeconds(120), new TestbedNetwork(dir, kernel, Duration.ofSeconds(1)),
        TestbedNetworkProvider.Overlay.of(Integer.parseInt(r[0]), Integer.parseInt(r[1]), Map.of(
            "alpha", new Segment.Endpoint("lg-site-alpha", "172.31.255.2"),
            "bravo", new Segment.Endpoint("lg-site-bravo", "172.31.255.6"))));
  }

  @Test
  void routedSitesGetAnOverlayWithAVniOfItsOwnPerLiveReservation() {
    TestbedNetworkProvider p = routedProvider("4096-4097");
    Ask.Bandwidth ab100 = new Ask.Bandwidth(Map.of(SitePair.of("alpha", "bravo"), 100 * M));
    assertThat(p.prepare("r1", W, ab100).join()).isEqualTo(Vote.prepared());
    assertThat(p.prepare("r2", W, ab100).join()).isEqualTo(Vote.prepared());
    assertThat(p.segment("r1").orElseThrow().overlay().vni()).isEqualTo(4096);
    assertThat(p.segment("r2").orElseThrow().overlay().vni()).isEqualTo(4097);
    assertThat(p.segment("r1").orElseThrow().overlay().mtu()).isEqualTo(1450);
    // Range used up: refused, naming the range.
    Vote v = p.prepare("r3", W, ab100).join();
    assertThat(v.isPrepared()).isFalse();
    assertThat(v.toString()).contains("overlay.vni_range 4096-4097");
    p.commit("r1").join();
    String tag = SegmentNames.tag("r1", 0);
    assertThat(p.siteBridges("r1")).containsExactly(
        Map.entry("alpha", "lgn" + tag + "b0"), Map.entry("bravo", "lgn" + tag + "b1"));
    // The sites build the devices; the provider only records the segment (its VNI stays taken).
    assertThat(kernel.mutations()).isEmpty();
    assertThat(p.network().recorded("r1")).isPresent();
    // Released: its VNI is free again and its record is gone.
    p.release("r1").join();
    assertThat(p.network().recorded("r1")).isEmpty();
    assertThat(p.prepare("r4", W, ab100).join()).isEqualTo(Vote.prepared());
    assertThat(p.segment("r4").orElseThrow().overlay().vni()).isEqualTo(4096);
  }

  @Test
  void siteOverlaysPlansBeforeThePrepareWhichKeepsThatPlanAndItsVni() {
    TestbedNetworkProvider p = routedProvider("4096-4097");
    Map<SitePair, Long> bps = Map.of(SitePair.of("alpha", "bravo"), 100 * M);
    Map<String, org.lambdagrid.proto.v1.ReservationOverlay> ends = p.siteOverlays("r1", bps);
    assertThat(ends.keySet()).containsExactly("alpha", "bravo");
    assertThat(ends.get("alpha").getVni()).isEqualTo(4096);
    // Announced but not prepared yet: the VNI is taken, asking again gives the same plan.
    assertThat(p.siteOverlays("r2", bps).get("bravo").getVni()).isEqualTo(4097);
    assertThat(p.siteOverlays("r1", bps)).isEqualTo(ends);
    assertThat(p.prepare("r1", W, new Ask.Bandwidth(bps)).join()).isEqualTo(Vote.prepared());
    assertThat(p.segment("r1").orElseThrow().overlay().vni()).isEqualTo(4096);
    assertThat(p.siteBridges("r1")).containsEntry("alpha", ends.get("alpha").getBridge());
    // An abort forgets an announced plan: its VNI is free for the next one.
    p.abort("r2").join();
    assertThat(p.siteOverlays("r3", bps).get("alpha").getVni()).isEqualTo(4097);
    // Layer-2 sites get no ends.
    TestbedNetworkProvider l2 = new TestbedNetworkProvider("network:testbed",
        new CoAllocator(SegmentTest.star("alpha", "bravo")), clock, Duration.ofSeconds(120),
        new TestbedNetwork(dir.resolve("l2"), kernel, Duration.ofSeconds(1)));
    assertThat(l2.siteOverlays("r9", bps)).isEmpty();
  }

  @Test
  void aSiteIsRoutedOnceItsRegistrationCarriesAnEndpointAndAMixedReservationIsRefusedNamingTheSite() {
    Map<String, Segment.Endpoint> registered = new java.util.concurrent.ConcurrentHashMap<>();
    TestbedNetworkProvider p = new TestbedNetworkProvider("network:testbed",
        new CoAllocator(SegmentTest.star("alpha", "bravo")), clock, Duration.ofSeconds(120),
        new TestbedNetwork(dir, kernel, Duration.ofSeconds(1)),
        new TestbedNetworkProvider.Overlay(4096, 4096, site -> java.util.Optional.ofNullable(registered.get(site))));
    Ask.Bandwidth ab = new Ask.Bandwidth(Map.of(SitePair.of("alpha", "bravo"), 100 * M));
    // Nobody registered an endpoint: layer 2 (veth links).
    assertThat(p.prepare("r1", W, ab).join()).isEqualTo(Vote.prepared());
    assertThat(p.segment("r1").orElseThrow().overlay()).isNull();
    assertThat(p.segment("r1").orElseThrow().links()).isNotEmpty();
    // Only alpha is routed: refused, naming bravo and where its endpoint would come from.
    registered.put("alpha", new Segment.Endpoint("lg-site-alpha", "172.31.255.2", 1550));
    Vote v = p.prepare("r2", W, ab).join();
    assertThat(v.isPrepared()).isFalse();
    assertThat(v.toString()).contains("bravo", "crm.yaml overlay.endpoint");
    // Both: an overlay with the registered endpoints and the smaller underlay's MTU less 50.
    registered.put("bravo", new Segment.Endpoint("lg-site-bravo", "172.31.255.6", 1500));
    assertThat(p.prepare("r3", W, ab).join()).isEqualTo(Vote.prepared());
    Segment.Overlay o = p.segment("r3").orElseThrow().overlay();
    assertThat(o.vni()).isEqualTo(4096);
    assertThat(o.mtu()).isEqualTo(1450);
    assertThat(o.vteps()).extracting(Segment.Vtep::endpoint, Segment.Vtep::peerEndpoint).containsExactly(
        org.assertj.core.groups.Tuple.tuple("172.31.255.2", "172.31.255.6"),
        org.assertj.core.groups.Tuple.tuple("172.31.255.6", "172.31.255.2"));
    // The one VNI of the range is taken: the next routed reservation is refused naming the range.
    assertThat(p.prepare("r4", W, ab).join().toString()).contains("overlay.vni_range 4096-4096");
    assertThat(kernel.links).isEmpty();
  }
}
