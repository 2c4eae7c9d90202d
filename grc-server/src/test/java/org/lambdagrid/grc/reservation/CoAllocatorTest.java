package org.lambdagrid.grc.reservation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.grc.reservation.Topology.Link;
import org.lambdagrid.grc.reservation.Topology.Site;

class CoAllocatorTest {
  static final Instant NOW = Instant.parse("2030-01-01T00:00:00Z");
  static final Duration HOUR = Duration.ofHours(1);
  static final long G = 1_000_000_000L;

  /** A star: a, b, c joined through the router "hub"; d has no link at all. */
  static Topology star() {
    return Topology.of(
        List.of(new Site("a", 8), new Site("b", 8), new Site("c", 4), new Site("d", 2), new Site("hub", 0)),
        List.of(new Link("a", "hub", 10 * G), new Link("b", "hub", 10 * G), new Link("c", "hub", 10 * G)));
  }

  private final CoAllocator alloc = new CoAllocator(star());

  static Instant at(double hours) {
    return NOW.plusSeconds((long) (hours * 3600));
  }

  @Test
  void overlappingReservationsThatFitAreAcceptedAtTheEarliestStart() {
    HeldPlan r1 = alloc.reserve(Request.perSite(Map.of("a", 3, "b", 2), HOUR, NOW), NOW);
    HeldPlan r2 = alloc.reserve(Request.perSite(Map.of("a", 5), HOUR.multipliedBy(2), at(0.5)), NOW);
    assertThat(r1.window()).isEqualTo(new Window(NOW, at(1)));
    assertThat(r2.window()).isEqualTo(new Window(at(0.5), at(2.5)));
    assertThat(alloc.nodesInUse("a", at(0.75))).isEqualTo(8);
    assertThat(r1.nodes()).containsExactly(Map.entry("a", 3), Map.entry("b", 2));
  }

  @Test
  void aReservationThatWouldExceedASiteAtAnyInstantMovesToTheEarliestFeasibleWindow() {
    alloc.reserve(Request.perSite(Map.of("a", 5), HOUR.multipliedBy(2), NOW), NOW); // [0h, 2h)
    alloc.reserve(Request.perSite(Map.of("a", 5), HOUR, at(3)), NOW); // [3h, 4h)
    // 4 nodes for 1 h fit only between the two holds.
    Plan p1 = alloc.find(Request.perSite(Map.of("a", 4), HOUR, NOW), NOW);
    assertThat(p1.window()).isEqualTo(new Window(at(2), at(3)));
    // 4 nodes for 2 h cross the [3h, 4h) hold at one instant: only after it.
    Plan p2 = alloc.find(Request.perSite(Map.of("a", 4), HOUR.multipliedBy(2), NOW), NOW);
    assertThat(p2.window()).isEqualTo(new Window(at(4), at(6)));
    // 3 nodes fit beside both holds right away.
    assertThat(alloc.find(Request.perSite(Map.of("a", 3), HOUR.multipliedBy(5), NOW), NOW).window().start())
        .isEqualTo(NOW);
  }

  @Test
  void aReservationThatCannotMoveIsRefusedNamingTheBottleneck() {
    alloc.reserve(Request.perSite(Map.of("a", 6), HOUR.multipliedBy(2), NOW), NOW);
    Request r = Request.perSite(Map.of("a", 4, "b", 1), HOUR, NOW).withDeadline(at(2.5));
    assertRefused(() -> alloc.reserve(r, NOW), Status.Code.FAILED_PRECONDITION,
        "no window of PT1H ends by the deadline 2030-01-01T02:30:00Z",
        "at the earliest start 2030-01-01T00:00:00Z the bottleneck is site 'a' has 2 nodes free, 4 asked");
    assertThat(alloc.reservations()).hasSize(1);
    // With a later deadline it is moved instead.
    assertThat(alloc.reserve(r.withDeadline(at(3)), NOW).window()).isEqualTo(new Window(at(2), at(3)));
  }

  @Test
  void linkCapacityIsACalendarTooAndSharedLinksSumOverPairs() {
    // a-b, a-c and b-c all cross two hub links: each hub link carries two pairs, 2 x 4 = 8 Gbit/s.
    HeldPlan r = alloc.reserve(Request.perSite(Map.of("a", 1, "b", 1, "c", 1), HOUR, NOW).withBandwidth(4 * G), NOW);
    assertThat(r.bandwidth()).containsOnlyKeys(SitePair.of("a", "b"), SitePair.of("a", "c"), SitePair.of("b", "c"));
    assertThat(r.linkBps()).containsExactly(
        Map.entry("a<->hub", 8 * G), Map.entry("b<->hub", 8 * G), Map.entry("c<->hub", 8 * G));
    assertThat(alloc.bandwidthInUse("a<->hub", at(0.5))).isEqualTo(8 * G);
    // 2 Gbit/s more between a and b fits; 3 Gbit/s must wait until the first one ends.
    assertThat(alloc.find(Request.perSite(Map.of("a", 1, "b", 1), HOUR, NOW).withBandwidth(2 * G), NOW)
        .window().start()).isEqualTo(NOW);
    Request more = Request.perSite(Map.of("a", 1, "b", 1), HOUR, NOW).withBandwidth(3 * G);
    assertThat(alloc.find(more, NOW).window()).isEqualTo(new Window(at(1), at(2)));
    assertRefused(() -> alloc.find(more.withDeadline(at(1.5)), NOW), Status.Code.FAILED_PRECONDITION,
        "the bottleneck is link 'a<->hub' has 2 Gbit/s free, 3 Gbit/s asked");
  }

  @Test
  void cancellingFreesExactlyWhatWasHeldAndIsIdempotent() {
    HeldPlan keep = alloc.reserve(Request.perSite(Map.of("a", 2, "b", 2), HOUR, NOW).withBandwidth(G), NOW);
    HeldPlan gone = alloc.reserve(Request.perSite(Map.of("a", 6, "c", 4), HOUR, NOW).withBandwidth(5 * G), NOW);
    assertThat(alloc.nodesInUse("a", NOW)).isEqualTo(8);
    assertThat(alloc.bandwidthInUse("a<->hub", NOW)).isEqualTo(6 * G);
    assertThat(alloc.release(gone.id())).isTrue();
    assertThat(alloc.release(gone.id())).isFalse();
    assertThat(alloc.nodesInUse("a", NOW)).isEqualTo(2);
    assertThat(alloc.nodesInUse("c", NOW)).isZero();
    assertThat(alloc.bandwidthInUse("a<->hub", NOW)).isEqualTo(G);
    assertThat(alloc.bandwidthInUse("c<->hub", NOW)).isZero();
    assertThat(alloc.reservations()).containsExactly(keep);
    alloc.release(keep.id());
    assertThat(alloc.nodesInUse("a", NOW)).isZero();
    assertThat(alloc.bandwidthInUse("b<->hub", NOW)).isZero();
  }

  @Test
  void aTotalIsPlacedOnTheFewestSitesThenTheMostFree() {
    alloc.reserve(Request.perSite(Map.of("a", 3), HOUR, NOW), NOW); // a: 5 free, b: 8, c: 4, d: 2
    assertThat(alloc.find(Request.total(6, HOUR, NOW), NOW).nodes()).containsExactly(Map.entry("b", 6));
    assertThat(alloc.find(Request.total(8, HOUR, NOW), NOW).nodes()).containsExactly(Map.entry("b", 8));
    assertThat(alloc.find(Request.total(10, HOUR, NOW), NOW).nodes())
        .containsExactly(Map.entry("a", 2), Map.entry("b", 8));
    Plan p = alloc.find(Request.total(14, HOUR, NOW).withBandwidth(G), NOW);
    assertThat(p.nodes()).containsExactly(Map.entry("a", 5), Map.entry("b", 8), Map.entry("c", 1));
    assertThat(p.bandwidth()).hasSize(3);
    // 20 nodes exist in a, b, c, d but only 17 are free now: wait for a's hold to end.
    assertThat(alloc.find(Request.total(20, HOUR, NOW), NOW).window().start()).isEqualTo(at(1));
  }

  @Test
  void holdingAPlanFoundEarlierIsAtomic() {
    Plan p = alloc.find(Request.perSite(Map.of("a", 8, "b", 8), HOUR, NOW), NOW);
    alloc.reserve(Request.perSite(Map.of("b", 1), HOUR, NOW), NOW);
    assertRefused(() -> alloc.hold("late", p), Status.Code.FAILED_PRECONDITION, "site 'b' has 7 nodes free");
    assertThat(alloc.nodesInUse("a", NOW)).isZero();
    alloc.hold("x", alloc.find(Request.perSite(Map.of("a", 1), HOUR, NOW), NOW));
    assertRefused(() -> alloc.hold("x", p), Status.Code.ALREADY_EXISTS, "hold 'x' already exists");
  }

  // ---- bad input: each gets its own message -------------------------------------------------

  @Test
  void zeroOrNegativeBandwidthIsRefused() {
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1, "b", 1), HOUR, NOW).withBandwidth(0), NOW),
        Status.Code.INVALID_ARGUMENT, "bandwidthBps: '0'", "bandwidth must be positive");
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1, "b", 1), HOUR, NOW).withBandwidth(-5), NOW),
        Status.Code.INVALID_ARGUMENT, "bandwidthBps: '-5'", "bandwidth must be positive");
  }

  @Test
  void zeroOrNegativeDurationIsRefused() {
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1), Duration.ZERO, NOW), NOW),
        Status.Code.INVALID_ARGUMENT, "duration: 'PT0S' must be positive");
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1), Duration.ofMinutes(-5), NOW), NOW),
        Status.Code.INVALID_ARGUMENT, "duration: 'PT-5M' must be positive");
  }

  @Test
  void endBeforeStartIsRefused() {
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1), HOUR, at(2)).withDeadline(at(1)), NOW),
        Status.Code.INVALID_ARGUMENT, "deadline: '2030-01-01T01:00:00Z' is not after the start");
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1), HOUR, at(2)).withDeadline(at(2.5)), NOW),
        Status.Code.INVALID_ARGUMENT, "leaves less than the duration PT1H");
  }

  @Test
  void startInThePastIsRefusedBeyondTheClockSkew() {
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1), HOUR, NOW.minusSeconds(61)), NOW),
        Status.Code.INVALID_ARGUMENT, "earliestStart: '2029-12-31T23:58:59Z' is in the past: it is now 2030-01-01T00:00:00Z");
    // Within the skew it means "now".
    assertThat(alloc.find(Request.perSite(Map.of("a", 1), HOUR, NOW.minusSeconds(30)), NOW).window().start())
        .isEqualTo(NOW);
  }

  @Test
  void unknownSiteIsNotFound() {
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1, "zz", 1), HOUR, NOW), NOW),
        Status.Code.NOT_FOUND, "unknown site 'zz' (sites: a, b, c, d, hub)");
  }

  @Test
  void nodesBeyondASitesCapacityAreRefused() {
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 9), HOUR, NOW), NOW),
        Status.Code.INVALID_ARGUMENT, "site 'a' has 8 nodes; 9 were asked for");
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 0), HOUR, NOW), NOW),
        Status.Code.INVALID_ARGUMENT, "nodesPerSite.a: '0' must be at least 1");
    assertRefused(() -> alloc.find(Request.total(23, HOUR, NOW), NOW),
        Status.Code.INVALID_ARGUMENT, "its 5 sites have 22 nodes; 23 were asked for");
    assertRefused(() -> alloc.find(Request.total(0, HOUR, NOW), NOW),
        Status.Code.INVALID_ARGUMENT, "totalNodes: '0' must be at least 1");
  }

  @Test
  void bandwidthBeyondThePathCapacityIsRefusedNamingTheLink() {
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1, "b", 1), HOUR, NOW).withBandwidth(11 * G), NOW),
        Status.Code.INVALID_ARGUMENT, "bandwidthBps: '11 Gbit/s' is more than link 'a<->hub' can carry: it has 10 Gbit/s");
    // 6 Gbit/s per pair fits one path, but each hub link is shared by two pairs: 12 > 10.
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1, "b", 1, "c", 1), HOUR, NOW).withBandwidth(6 * G), NOW),
        Status.Code.INVALID_ARGUMENT, "link 'a<->hub'", "need 12 Gbit/s in all");
    assertRefused(() -> alloc.find(Request.perSite(Map.of("a", 1, "d", 1), HOUR, NOW).withBandwidth(G), NOW),
        Status.Code.INVALID_ARGUMENT, "no network path joins sites 'a' and 'd'");
  }

  static void assertRefused(ThrowingCallable call, Status.Code code, String... fragments) {
    assertThatThrownBy(call).isInstanceOfSatisfying(Errors.RequestException.class, e -> {
      assertThat(e.code()).as(e.getMessage()).isEqualTo(code);
      assertThat(e.getMessage()).contains(fragments);
    });
  }

  @Test
  void summedBandwidthTooLargeForALongIsRefusedNotWrappedAroundAndAdmitted() {
    // a, b, c, e around one hub: link a<->hub carries the pairs a-b, a-c and a-e. With this
    // rate their sum is 2^64 + 2, which a long wraps to 2 bit/s.
    Topology t = Topology.of(
        List.of(new Site("a", 2), new Site("b", 2), new Site("c", 2), new Site("e", 2),
            new Site("hub", 0)),
        List.of(new Link("a", "hub", G), new Link("b", "hub", G), new Link("c", "hub", G),
            new Link("e", "hub", G)));
    CoAllocator c = new CoAllocator(t);
    long huge = 6_148_914_691_236_517_206L;
    assertThat(huge * 3).isEqualTo(2L); // what the sum was
    Request r = Request.perSite(Map.of("a", 1, "b", 1, "c", 1, "e", 1), HOUR, NOW)
        .withBandwidth(huge);
    assertRefused(() -> c.reserve(r, NOW), Status.Code.INVALID_ARGUMENT,
        "is more than link 'a<->hub' can carry");
    assertThat(c.reservations()).isEmpty();
    assertThat(c.bandwidthInUse("a<->hub", NOW)).isZero();
    // The network manager's path (bandwidth alone) refuses it too.
    Map<SitePair, Long> pairs = Map.of(SitePair.of("a", "b"), huge, SitePair.of("a", "c"), huge,
        SitePair.of("a", "e"), huge);
    assertRefused(() -> c.holdBandwidth("net:x", new Window(NOW, at(1)), pairs),
        Status.Code.FAILED_PRECONDITION, "link 'a<->hub'");
    assertThat(c.bandwidthInUse("a<->hub", NOW)).isZero();
    assertThat(CoAllocator.saturatingAdd(Long.MAX_VALUE, 1)).isEqualTo(Long.MAX_VALUE);
    assertThat(CoAllocator.saturatingAdd(5, 7)).isEqualTo(12);
  }
}
