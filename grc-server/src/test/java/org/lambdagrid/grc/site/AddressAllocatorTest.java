package org.lambdagrid.grc.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;

class AddressAllocatorTest {
  private final AddressAllocator allocator = new AddressAllocator();

  private static Site site(String name, String... ranges) {
    List<Ipv4Cidr> rs = new ArrayList<>();
    for (String r : ranges) {
      rs.add(Ipv4Cidr.parse(r));
    }
    return new Site(name, new Endpoint(name, 1), 64, rs, 1, Instant.EPOCH);
  }

  private static Map<Site, Integer> ask(Object... siteAndCount) {
    Map<Site, Integer> m = new LinkedHashMap<>();
    for (int i = 0; i < siteAndCount.length; i += 2) {
      m.put((Site) siteAndCount[i], (Integer) siteAndCount[i + 1]);
    }
    return m;
  }

  @Test
  void twoSitesPublishingTheSameRangeGetDisjointSmallestBlocks() {
    Site a = site("a", "10.10.0.0/16");
    Site b = site("b", "10.10.0.0/16");
    Map<String, Ipv4Cidr> got = allocator.allocate("j-1", ask(a, 2, b, 5));
    assertThat(got.get("a").prefixLength()).isEqualTo(30); // 2 hosts
    assertThat(got.get("b").prefixLength()).isEqualTo(29); // 5 hosts
    assertThat(got.get("a").overlaps(got.get("b"))).isFalse();
    assertThat(Ipv4Cidr.parse("10.10.0.0/16").contains(got.get("a"))).isTrue();
    assertThat(Ipv4Cidr.parse("10.10.0.0/16").contains(got.get("b"))).isTrue();
  }

  @Test
  void aBlockIsNeverLeasedTwiceAtOnce_evenToJobsOnDifferentSites() {
    // The sites' segments are joined at layer 2, so job j-2 on b must avoid j-1's block on a.
    Site a = site("a", "10.20.0.0/29");
    Site b = site("b", "10.20.0.0/29");
    Ipv4Cidr first = allocator.allocate("j-1", ask(a, 2)).get("a");
    Ipv4Cidr second = allocator.allocate("j-2", ask(b, 2)).get("b");
    assertThat(first.overlaps(second)).isFalse();
    assertThatThrownBy(() -> allocator.allocate("j-3", ask(a, 1)))
        .isInstanceOf(Errors.RequestException.class)
        .hasMessageContaining("site 'a' has no free /30 in 10.20.0.0/29");
    allocator.release("j-1");
    assertThat(allocator.allocate("j-3", ask(a, 1)).get("a")).isEqualTo(first);
  }

  @Test
  void liveJobsOnASiteNeverOverlapAndLeasesOnJoinedSitesAreAvoided() {
    Site a = site("a", "10.10.0.0/24");
    Site b = site("b", "10.10.0.0/24");
    Site c = site("c", "10.10.0.0/24");
    Map<String, Ipv4Cidr> j1 = allocator.allocate("j-1", ask(a, 2));
    Map<String, Ipv4Cidr> j2 = allocator.allocate("j-2", ask(a, 2));
    Map<String, Ipv4Cidr> j3 = allocator.allocate("j-3", ask(b, 2, c, 2));
    // j-4 joins a and b: it must avoid everything leased on a (j-1, j-2) and on b (j-3).
    Map<String, Ipv4Cidr> j4 = allocator.allocate("j-4", ask(a, 1, b, 1));
    List<Ipv4Cidr> all = new ArrayList<>();
    all.addAll(j1.values());
    all.addAll(j2.values());
    all.addAll(j3.values());
    for (Ipv4Cidr mine : j4.values()) {
      assertThat(all).noneMatch(other -> other.overlaps(mine));
    }
    assertThat(j4.get("a").overlaps(j4.get("b"))).isFalse();
    assertThat(j1.get("a").overlaps(j2.get("a"))).isFalse();
  }

  @Test
  void exhaustionNamesTheSiteTheBlockSizeAndTheRange() {
    Site b = site("b", "10.10.0.0/28"); // four /30 blocks
    for (int i = 0; i < 4; i++) {
      allocator.allocate("j-" + i, ask(b, 2));
    }
    assertThatThrownBy(() -> allocator.allocate("j-9", ask(b, 2)))
        .isInstanceOfSatisfying(Errors.RequestException.class,
            e -> assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION))
        .hasMessage("site 'b' has no free /30 in 10.10.0.0/28 (4 blocks leased)");
    assertThat(allocator.leasesOf("j-9")).isEmpty();
  }

  @Test
  void allOrNothingWhenTheSecondSiteIsExhausted() {
    Site a = site("a", "10.1.0.0/24");
    Site b = site("b", "10.2.0.0/30");
    allocator.allocate("j-1", ask(b, 1));
    assertThatThrownBy(() -> allocator.allocate("j-2", ask(a, 1, b, 1)))
        .hasMessageContaining("site 'b' has no free /30");
    assertThat(allocator.leasesOf("j-2")).isEmpty();
    assertThat(allocator.leasedOn("a")).isEmpty();
  }

  @Test
  void releaseFreesExactlyThatJobsLeases() {
    Site a = site("a", "10.10.0.0/29"); // two /30s
    Ipv4Cidr first = allocator.allocate("j-1", ask(a, 1)).get("a");
    Ipv4Cidr second = allocator.allocate("j-2", ask(a, 1)).get("a");
    allocator.release("j-1");
    allocator.release("j-1"); // idempotent
    assertThat(allocator.leasesOf("j-2")).containsEntry("a", second);
    assertThat(allocator.leasedOn("a")).containsExactly(second);
    assertThat(allocator.allocate("j-3", ask(a, 1)).get("a")).isEqualTo(first);
  }

  @Test
  void usesLaterRangesWhenTheFirstIsFullAndSkipsUnalignedGaps() {
    Site a = site("a", "10.0.0.0/30", "10.0.1.0/24");
    allocator.allocate("j-1", ask(a, 1));
    Ipv4Cidr big = allocator.allocate("j-2", ask(a, 10)).get("a");
    assertThat(big).isEqualTo(Ipv4Cidr.parse("10.0.1.0/28"));
    Ipv4Cidr next = allocator.allocate("j-3", ask(a, 1)).get("a");
    assertThat(next).isEqualTo(Ipv4Cidr.parse("10.0.1.16/30"));
  }

  @Test
  void repeatedAllocateForTheSameJobReturnsTheSameLeases() {
    Site a = site("a", "10.0.0.0/24");
    Map<String, Ipv4Cidr> once = allocator.allocate("j-1", ask(a, 3));
    assertThat(allocator.allocate("j-1", ask(a, 3))).isEqualTo(once);
    assertThat(allocator.leasedOn("a")).hasSize(1);
  }

  /** The lowest aligned /prefix of range overlapping none of taken: the plain search. */
  private static Ipv4Cidr naiveFirstFree(Ipv4Cidr range, int prefix, List<Ipv4Cidr> taken) {
    long size = 1L << (32 - prefix);
    for (long a = range.network(); a + size - 1 <= range.lastAddress(); a += size) {
      Ipv4Cidr c = new Ipv4Cidr(a, prefix);
      if (taken.stream().noneMatch(t -> t.overlaps(c))) {
        return c;
      }
    }
    return null;
  }

  @Test
  void afterManyLeasesAndReleasesEveryBlockIsTheLowestFreeOne_asAPlainSearchFindsIt() {
    // Sites sharing and nesting pools (a's /24 inside b's /22, c's /26 inside a's), blocks of
    // every size, a third of them released again at random.
    Site a = site("a", "10.30.1.0/24");
    Site b = site("b", "10.30.0.0/22");
    Site c = site("c", "10.30.1.64/26", "10.30.9.0/28");
    List<Site> sites = List.of(a, b, c);
    java.util.Random rnd = new java.util.Random(20);
    Map<String, Map<String, Ipv4Cidr>> live = new LinkedHashMap<>();
    for (int i = 0; i < 400; i++) {
      if (!live.isEmpty() && rnd.nextInt(3) == 0) {
        String gone = new ArrayList<>(live.keySet()).get(rnd.nextInt(live.size()));
        allocator.release(gone);
        live.remove(gone);
        continue;
      }
      Site s = sites.get(rnd.nextInt(3));
      int nodes = 1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 30 : 6);
      List<Ipv4Cidr> taken = new ArrayList<>();
      live.values().forEach(m -> taken.addAll(m.values()));
      int prefix = Ipv4Cidr.prefixForHosts(nodes);
      Ipv4Cidr expected = null;
      for (Ipv4Cidr r : s.ranges()) {
        expected = naiveFirstFree(r, prefix, taken);
        if (expected != null) {
          break;
        }
      }
      String id = "j-" + i;
      if (expected == null) {
        assertThatThrownBy(() -> allocator.allocate(id, ask(s, nodes)))
            .hasMessageContaining("site '" + s.name() + "' has no free /" + prefix);
      } else {
        Map<String, Ipv4Cidr> got = allocator.allocate(id, ask(s, nodes));
        assertThat(got).containsExactly(Map.entry(s.name(), expected));
        live.put(id, got);
      }
    }
    assertThat(live).hasSizeGreaterThan(20);
  }
}
