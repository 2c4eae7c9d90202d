package org.lambdagrid.grc.reservation.testbed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.grc.reservation.Topology;

class SegmentTest {
  static final long M = 1_000_000L;

  /** The testbed's shape: every site joined to a core point by its own link. */
  static Topology star(String... sites) {
    List<Topology.Site> s = new java.util.ArrayList<>();
    List<Topology.Link> l = new java.util.ArrayList<>();
    s.add(new Topology.Site("core", 0));
    for (String site : sites) {
      s.add(new Topology.Site(site, 2));
      l.add(new Topology.Link(site, "core", 1000 * M));
    }
    return Topology.of(s, l);
  }

  @Test
  void tagIsSixHexDigitsStablePerIdAndChangesWithTheAttempt() {
    String t = SegmentNames.tag("resv-000001", 0);
    assertThat(t).matches("[0-9a-f]{6}").isEqualTo(SegmentNames.tag("resv-000001", 0));
    assertThat(SegmentNames.tag("resv-000001", 1)).isNotEqualTo(t);
    assertThat(SegmentNames.tag("resv-000002", 0)).isNotEqualTo(t);
  }

  @Test
  void namesStartWithLgnAndFitTheKernelLimitAtTheLargestIndex() {
    String t = SegmentNames.tag("r", 0);
    assertThat(SegmentNames.bridge(t, 0)).isEqualTo("lgn" + t + "b0");
    assertThat(SegmentNames.linkEnd(t, 7, 'b')).isEqualTo("lgn" + t + "l7b");
    String longest = SegmentNames.linkEnd(t, SegmentNames.MAX_INDEX, 'a');
    assertThat(longest).hasSizeLessThanOrEqualTo(15).startsWith(SegmentNames.PREFIX);
    assertThat(SegmentNames.isOurs(longest)).isTrue();
    assertThatThrownBy(() -> SegmentNames.bridge(t, SegmentNames.MAX_INDEX + 1))
        .hasMessageContaining("outside 0..999");
    assertThatThrownBy(() -> SegmentNames.bridge("XYZ", 0)).hasMessageContaining("not 6 lower-case hex");
    assertThatThrownBy(() -> SegmentNames.linkEnd(t, 0, 'c')).hasMessageContaining("neither");
  }

  @Test
  void twoSitesOverAStarGetThreeBridgesAndTwoLinksAtTheReservedRate() {
    Segment s = Segment.plan("r1", "abc123", star("alpha", "bravo"), Map.of(SitePair.of("alpha", "bravo"), 200 * M));
    assertThat(s.bridgeMap()).containsExactly(
        Map.entry("alpha", "lgnabc123b0"), Map.entry("bravo", "lgnabc123b1"), Map.entry("core", "lgnabc123b2"));
    assertThat(s.links()).containsExactly(
        new Segment.Link("alpha<->core", "alpha", "core", "lgnabc123l0a", "lgnabc123l0b", 200 * M),
        new Segment.Link("bravo<->core", "bravo", "core", "lgnabc123l1a", "lgnabc123l1b", 200 * M));
  }

  @Test
  void aLinkCrossedByTwoPairsIsShapedToTheirSum() {
    Segment s = Segment.plan("r1", "abc123", star("alpha", "bravo", "charlie"), Map.of(
        SitePair.of("alpha", "bravo"), 100 * M, SitePair.of("alpha", "charlie"), 50 * M));
    assertThat(s.links()).extracting(Segment.Link::id, Segment.Link::rateBps).containsExactly(
        org.assertj.core.groups.Tuple.tuple("alpha<->core", 150 * M),
        org.assertj.core.groups.Tuple.tuple("bravo<->core", 100 * M),
        org.assertj.core.groups.Tuple.tuple("charlie<->core", 50 * M));
  }

  @Test
  void pathsThatCloseACycleAreRefusedBecauseABridgeLoopWouldFlood() {
    Topology ring = Topology.of(
        List.of(new Topology.Site("a", 1), new Topology.Site("b", 1), new Topology.Site("c", 1)),
        List.of(new Topology.Link("a", "b", M), new Topology.Link("b", "c", M), new Topology.Link("a", "c", M)));
    Map<SitePair, Long> all = Map.of(SitePair.of("a", "b"), 1000L, SitePair.of("b", "c"), 1000L,
        SitePair.of("a", "c"), 1000L);
    assertThatThrownBy(() -> Segment.plan("r9", "abc123", ring, all))
        .isInstanceOfSatisfying(Errors.RequestException.class,
            e -> assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION))
        .hasMessageContaining("reservation r9 close a cycle at link")
        .hasMessageContaining("must be a tree");
  }

  @Test
  void noPathOrABadRateIsRefusedNamingThePair() {
    Topology split = Topology.of(List.of(new Topology.Site("a", 1), new Topology.Site("b", 1)), List.of());
    assertThatThrownBy(() -> Segment.plan("r", "abc123", split, Map.of(SitePair.of("a", "b"), 5L)))
        .hasMessageContaining("bandwidth[a-b]").hasMessageContaining("no network path");
    assertThatThrownBy(() -> Segment.plan("r", "abc123", star("a", "b"), Map.of(SitePair.of("a", "b"), 0L)))
        .hasMessageContaining("bandwidth[a-b]: '0' must be a positive bit/s");
    assertThatThrownBy(() -> Segment.plan("r", "abc123", star("a", "b"), Map.of(SitePair.of("a", "zulu"), 5L)))
        .isInstanceOfSatisfying(Errors.RequestException.class,
            e -> assertThat(e.code()).isEqualTo(Status.Code.NOT_FOUND));
  }
}
