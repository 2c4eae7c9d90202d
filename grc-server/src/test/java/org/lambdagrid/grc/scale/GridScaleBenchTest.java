package org.lambdagrid.grc.scale;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.Timestamps;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationState;

/**
 * The grid-scale harness at a tiny scale, so it does not rot: a real grc-server process with 3,
 * then 5 simulated sites, the whole load, a kill -9 of the GRC halfway at 5 sites; every
 * consistency check must hold (no timing is asserted). And the checks themselves find what they
 * are for.
 */
class GridScaleBenchTest {
  @TempDir Path dir;

  @Test
  void theHarnessRunsAndEveryCheckHoldsAcrossAKillOfTheGrc() throws Exception {
    GridScaleBench b = new GridScaleBench(new String[] {"--sizes", "3,5", "--reservations", "60",
        "--small-jobs", "2", "--watchers", "2", "--job-nodes", "24", "--job-sites", "3",
        "--capacity", "16", "--keys", "4", "--kill", "--work", dir.toString()});
    List<GridScaleBench.Result> rs = b.runAll();
    assertThat(rs).hasSize(2);
    for (GridScaleBench.Result r : rs) {
      assertThat(r.violations).as("violations at %d sites", r.sites).isEmpty();
      assertThat(r.reserved).isPositive();
      assertThat(r.live).isGreaterThanOrEqualTo(r.reserved - r.cancelled - r.unknown);
      assertThat(r.smallJobsOk).isEqualTo(2);
      assertThat(r.bigOk).isTrue();
      assertThat(r.bigNodes).isEqualTo(24);
      // one bundle per site, each listing every node of the job
      assertThat(r.bigTrustCalls).isEqualTo(3);
      assertThat(r.watcherEvents).isPositive();
    }
    assertThat(rs.get(0).kill).isEmpty();
    assertThat(rs.get(1).kill).startsWith("SIGKILL after");
  }

  private static Reservation res(String id, long startH, long endH, Map<String, Integer> nodes,
      Map<String, String> ranges, long bps) {
    Reservation.Builder b = Reservation.newBuilder().setId(id)
        .setState(ReservationState.RESERVATION_RESERVED)
        .setStart(Timestamps.fromMillis(startH * 3_600_000)).setEnd(Timestamps.fromMillis(endH * 3_600_000))
        .putAllSiteNodes(nodes).setBandwidthBps(bps);
    ranges.forEach((s, c) -> b.putSiteRanges(s, AddressRange.newBuilder().setCidr(c).build()));
    return b.build();
  }

  @Test
  void theStateCheckFindsOverbookingAndOverlappingRanges() {
    Map<String, Integer> caps = Map.of("a", 4, "b", 4);
    Reservation r1 = res("r-1", 0, 2, Map.of("a", 3, "b", 1),
        Map.of("a", "10.0.0.0/29", "b", "10.0.0.8/30"), 600);
    Reservation r2 = res("r-2", 1, 3, Map.of("a", 2, "b", 1),
        Map.of("a", "10.0.0.16/29", "b", "10.0.0.8/30"), 600);
    // back to back with r-2 on a: [2,3) and [3,4) do not overlap
    Reservation r3 = res("r-3", 3, 4, Map.of("a", 4), Map.of("a", "10.0.1.0/29"), 0);
    assertThat(StateCheck.check(List.of(r1, r3), caps, 1000)).isEmpty();
    List<String> v = StateCheck.check(List.of(r1, r2, r3), caps, 1000);
    assertThat(v).anyMatch(x -> x.startsWith("site a overbooked: 5 nodes"));
    assertThat(v).anyMatch(x -> x.startsWith("link a-core overbooked: 1200"));
    assertThat(v).anyMatch(x -> x.contains("ranges overlap: 10.0.0.8/30"));
    assertThat(v).noneMatch(x -> x.startsWith("site b"));
    // an ended reservation holds nothing
    Reservation ended = r2.toBuilder().setState(ReservationState.RESERVATION_CANCELLED).build();
    assertThat(StateCheck.check(List.of(r1, ended, r3), caps, 1000)).isEmpty();
  }
}
