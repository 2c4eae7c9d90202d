package org.lambdagrid.grc.job;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.proto.v1.NodeEntry;
import org.junit.jupiter.api.Test;

class JobRunnerEventsTest {
  private static List<NodeEntry> nodes(int sites, int perSite) {
    List<NodeEntry> out = new ArrayList<>();
    for (int s = 0; s < sites; s++) {
      for (int i = 0; i < perSite; i++) {
        out.add(NodeEntry.newBuilder().setSite("s" + s).setHostname("s" + s + "-" + i)
            .setAddress("10." + (s / 256) + "." + (s % 256) + "." + (i + 1)).build());
      }
    }
    return out;
  }

  @Test
  void addressesAggregatedCountsNodesPerSiteInHostListOrder() {
    List<NodeEntry> n = new ArrayList<>(nodes(1, 1));
    n.add(NodeEntry.newBuilder().setSite("alpha").setHostname("alpha-0").build());
    n.add(NodeEntry.newBuilder().setSite("alpha").setHostname("alpha-1").build());
    assertThat(JobRunner.addressesAggregated(n))
        .isEqualTo("addresses aggregated: 3 nodes on 2 sites (s0 1, alpha 2)");
    assertThat(JobRunner.addressesAggregated(nodes(1, 1)))
        .isEqualTo("addresses aggregated: 1 node on 1 site (s0 1)");
  }

  @Test
  void addressesAggregatedNamesAtMostTwentySitesAndStaysShortAtAThousand() {
    String twenty = JobRunner.addressesAggregated(nodes(20, 3));
    assertThat(twenty).startsWith("addresses aggregated: 60 nodes on 20 sites (s0 3, s1 3,")
        .endsWith(", s19 3)").doesNotContain("more");
    String big = JobRunner.addressesAggregated(nodes(1000, 10));
    assertThat(big).startsWith("addresses aggregated: 10000 nodes on 1000 sites (s0 10, s1 10,")
        .endsWith(", s19 10, and 980 more sites)").doesNotContain("s20 ").doesNotContain("10.0.")
        .hasSizeLessThan(400);
    assertThat(JobRunner.addressesAggregated(nodes(21, 1))).endsWith("s19 1, and 1 more site)");
  }
}
