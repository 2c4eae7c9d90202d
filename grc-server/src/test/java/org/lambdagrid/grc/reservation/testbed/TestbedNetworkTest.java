package org.lambdagrid.grc.reservation.testbed;

import org.lambdagrid.common.net.FakeKernel;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.SitePair;

class TestbedNetworkTest {
  static final long M = 1_000_000L;
  @TempDir Path dir;
  final FakeKernel kernel = new FakeKernel();

  TestbedNetwork net() {
    return new TestbedNetwork(dir, kernel, Duration.ofSeconds(1));
  }

  static Segment twoSites(String id, String tag) {
    return Segment.plan(id, tag, SegmentTest.star("alpha", "bravo"), Map.of(SitePair.of("alpha", "bravo"), 200 * M));
  }

  @Test
  void buildMakesEveryDeviceShapesBothEndsBeforeAnythingGoesUpAndAddsNoAddress() {
    Segment s = twoSites("r1", "abc123");
    net().build(s);
    assertThat(kernel.links).containsExactlyInAnyOrderElementsOf(s.devices());
    List<String> m = kernel.mutations();
    int firstUp = indexOf(m, " up");
    int lastTc = lastIndexOf(m, "tc class");
    assertThat(lastTc).isLessThan(firstUp);
    assertThat(m).contains("tc class replace dev lgnabc123l0a parent 1: classid 1:1 htb rate 200000000bit"
        + " ceil 200000000bit quantum 200000", "tc class replace dev lgnabc123l0b parent 1: classid 1:1 htb rate"
        + " 200000000bit ceil 200000000bit quantum 200000");
    assertThat(m).contains("ip link set dev lgnabc123l0a master lgnabc123b0",
        "ip link set dev lgnabc123l0b master lgnabc123b2", "ip link set dev lgnabc123b1 addrgenmode none");
    assertThat(m).noneMatch(c -> c.contains(" addr ") || c.contains("route") || c.contains("netns"));
    assertThat(s.devices()).allSatisfy(d -> assertThat(d).startsWith("lgn").hasSizeLessThanOrEqualTo(15));
  }

  @Test
  void theRecordSurvivesARestartAndTeardownWorksFromItAlone() throws Exception {
    Segment s = twoSites("r1", "abc123");
    net().build(s);
    assertThat(Files.readString(dir.resolve("abc123.json"))).contains("\"complete\" : true", "lgnabc123l1b");
    TestbedNetwork after = net();
    assertThat(after.recorded("r1")).contains(s);
    assertThat(after.recordedAll()).containsExactly(s);
    after.teardown("r1");
    assertThat(kernel.links).isEmpty();
    assertThat(after.recordedAll()).isEmpty();
    assertThat(dir.resolve("abc123.json")).doesNotExist();
  }

  @Test
  void teardownPlanRemovesLinksInReverseThenBridgesInReverse() {
    assertThat(TestbedNetwork.teardownOrder(twoSites("r1", "abc123"))).containsExactly(
        "lgnabc123l1a", "lgnabc123l1b", "lgnabc123l0a", "lgnabc123l0b",
        "lgnabc123b2", "lgnabc123b1", "lgnabc123b0");
  }

  @Test
  void teardownDeletesEachVethOnceAndSkipsThePeerThatWentWithIt() {
    net().build(twoSites("r1", "abc123"));
    kernel.commands.clear();
    net().teardown("r1");
    assertThat(kernel.mutations()).containsExactly("ip link del dev lgnabc123l1a", "ip link del dev lgnabc123l0a",
        "ip link del dev lgnabc123b2", "ip link del dev lgnabc123b1", "ip link del dev lgnabc123b0");
  }

  @Test
  void teardownIsIdempotentAndSucceedsForUnknownIds() {
    TestbedNetwork n = net();
    n.build(twoSites("r1", "abc123"));
    n.teardown("r1");
    kernel.commands.clear();
    n.teardown("r1");
    n.teardown("never-built");
    assertThat(kernel.commands).isEmpty();
  }

  @Test
  void teardownSkipsDevicesSomeoneElseAlreadyRemoved() {
    TestbedNetwork n = net();
    n.build(twoSites("r1", "abc123"));
    kernel.run(List.of("ip", "link", "del", "dev", "lgnabc123l0b"), Duration.ZERO);
    kernel.run(List.of("ip", "link", "del", "dev", "lgnabc123b1"), Duration.ZERO);
    n.teardown("r1");
    assertThat(kernel.links).isEmpty();
    assertThat(n.recordedAll()).isEmpty();
  }

  @Test
  void buildIsIdempotentForTheSamePlan() {
    TestbedNetwork n = net();
    Segment s = twoSites("r1", "abc123");
    n.build(s);
    kernel.commands.clear();
    n.build(s);
    assertThat(kernel.commands).isEmpty();
  }

  @Test
  void aFailedBuildRemovesWhatItMadeAndQuotesTheCommandAndStderr() {
    kernel.failWhen(argv -> argv.contains("tc") && argv.contains("lgnabc123l1b") && argv.contains("class"));
    TestbedNetwork n = net();
    assertThatThrownBy(() -> n.build(twoSites("r1", "abc123")))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.INTERNAL))
        .hasMessageContaining("building the segment of reservation r1 failed: 'tc class replace dev lgnabc123l1b")
        .hasMessageContaining("exited with 2: RTNETLINK answers: Operation not permitted")
        .hasMessageContaining("what was built is removed");
    assertThat(kernel.links).isEmpty();
    assertThat(n.recordedAll()).isEmpty();
  }

  @Test
  void aFailedTeardownKeepsTheRecordAndARetryFinishesIt() {
    TestbedNetwork n = net();
    n.build(twoSites("r1", "abc123"));
    kernel.failWhen(argv -> argv.contains("del") && argv.contains("lgnabc123b0"));
    assertThatThrownBy(() -> n.teardown("r1"))
        .hasMessageContaining("left device lgnabc123b0: 'ip link del dev lgnabc123b0' exited with 2")
        .hasMessageContaining("record kept");
    assertThat(kernel.links).containsExactly("lgnabc123b0");
    assertThat(n.recorded("r1")).isPresent();
    kernel.failWhen(argv -> false);
    n.teardown("r1");
    assertThat(kernel.links).isEmpty();
    assertThat(n.recorded("r1")).isEmpty();
  }

  @Test
  void aBuildThatCrashedHalfwayIsTornDownAndBuiltAgain() throws Exception {
    Segment s = twoSites("r1", "abc123");
    TestbedNetwork n = net();
    n.build(s);
    // Simulate a crash after the first commands: the record says incomplete, one link is missing.
    String rec = Files.readString(dir.resolve("abc123.json")).replace("\"complete\" : true", "\"complete\" : false");
    Files.writeString(dir.resolve("abc123.json"), rec);
    kernel.run(List.of("ip", "link", "del", "dev", "lgnabc123l1a"), Duration.ZERO);
    net().build(s);
    assertThat(kernel.links).containsExactlyInAnyOrderElementsOf(s.devices());
    assertThat(Files.readString(dir.resolve("abc123.json"))).contains("\"complete\" : true");
  }

  @Test
  void aTagRecordedForAnotherPlanIsRefused() {
    net().build(twoSites("r1", "abc123"));
    assertThatThrownBy(() -> net().build(twoSites("r2", "abc123")))
        .isInstanceOfSatisfying(Errors.RequestException.class,
            e -> assertThat(e.code()).isEqualTo(Status.Code.ALREADY_EXISTS))
        .hasMessageContaining("tag abc123 is recorded for reservation r1");
  }

  @Test
  void checkHostNamesWhatIsMissing() {
    kernel.failWhen(argv -> argv.get(0).equals("tc"));
    List<String> problems = net().checkHost();
    assertThat(problems).anyMatch(p -> p.startsWith("'tc' (iproute2) does not run"));
    assertThat(problems).noneMatch(p -> p.startsWith("'ip'"));
  }

  @Test
  void quantumStaysWithinWhatHtbAccepts() {
    assertThat(TestbedNetwork.quantum(1000)).isEqualTo(1514);
    assertThat(TestbedNetwork.quantum(100 * M)).isEqualTo(200_000);
    assertThat(TestbedNetwork.quantum(8 * M)).isEqualTo(100_000);
  }

  private static int indexOf(List<String> l, String part) {
    for (int i = 0; i < l.size(); i++) {
      if (l.get(i).endsWith(part)) {
        return i;
      }
    }
    return -1;
  }

  private static int lastIndexOf(List<String> l, String part) {
    int last = -1;
    for (int i = 0; i < l.size(); i++) {
      if (l.get(i).startsWith(part)) {
        last = i;
      }
    }
    return last;
  }

  static Segment routed(String id, String tag, int vni) {
    return Segment.planOverlay(id, tag, vni,
        Map.of("alpha", new Segment.Endpoint("lg-site-alpha", "172.31.255.2", 1550),
            "bravo", new Segment.Endpoint("lg-site-bravo", "172.31.255.6", 1550)),
        Map.of(SitePair.of("alpha", "bravo"), 200 * M));
  }

  @Test
  void aRoutedSegmentIsRecordedButBuiltByTheSitesFromTheirEnds() {
    Segment s = routed("r1", "abc123", 4096);
    assertThat(s.links()).isEmpty();
    assertThat(s.bridgeMap()).containsEntry("alpha", "lgnabc123b0").containsEntry("bravo", "lgnabc123b1");
    assertThat(s.overlay().mtu()).isEqualTo(1500);
    net().build(s);
    // The GRC's host gets nothing: each site's CRM builds its end (crm-server SiteOverlay).
    assertThat(kernel.mutations()).isEmpty();
    assertThat(net().recorded("r1")).contains(s);
    Map<String, org.lambdagrid.proto.v1.ReservationOverlay> ends = TestbedNetworkProvider.siteEnds(s);
    assertThat(ends.keySet()).containsExactly("alpha", "bravo");
    org.lambdagrid.proto.v1.ReservationOverlay a = ends.get("alpha");
    assertThat(a.getVni()).isEqualTo(4096);
    assertThat(a.getMtu()).isEqualTo(1500);
    assertThat(a.getBridge()).isEqualTo("lgnabc123b0");
    assertThat(a.getLocalEndpoint()).isEqualTo("172.31.255.2");
    assertThat(a.getTunnelsList()).extracting(t -> t.getPeerSite() + " " + t.getPeerEndpoint() + ":" + t.getPort()
        + " " + t.getDevice() + " " + t.getRateBps()).containsExactly("bravo 172.31.255.6:4789 lgnabc123x0 200000000");
    assertThat(ends.get("bravo").getTunnelsList()).extracting(t -> t.getPeerEndpoint() + " " + t.getDevice())
        .containsExactly("172.31.255.2 lgnabc123x1");
    net().teardown("r1");
    assertThat(kernel.mutations()).isEmpty();
    assertThat(TestbedNetwork.teardownOrder(s)).isEmpty();
    assertThat(net().recordedAll()).isEmpty();
  }

  @Test
  void threeRoutedSitesGetATunnelPerPairEachShapedToThePairsRateOnThePairsPort() {
    Segment s = Segment.planOverlay("r1", "abc123", 4100,
        Map.of("alpha", new Segment.Endpoint("lg-site-alpha", "172.31.255.2", 1550),
            "bravo", new Segment.Endpoint("lg-site-bravo", "172.31.255.6", 1500),
            "charlie", new Segment.Endpoint("lg-site-charlie", "172.31.255.10", 9000)),
        Map.of(SitePair.of("alpha", "bravo"), 100 * M, SitePair.of("alpha", "charlie"), 30 * M,
            SitePair.of("bravo", "charlie"), 7 * M));
    // The smallest underlay sets the MTU.
    assertThat(s.overlay().mtu()).isEqualTo(1450);
    assertThat(s.overlay().vteps()).extracting(v -> v.site() + ">" + v.peer() + " " + v.endpoint() + ">"
        + v.peerEndpoint() + ":" + v.port() + " " + v.device() + " " + v.rateBps()).containsExactly(
        "alpha>bravo 172.31.255.2>172.31.255.6:4789 lgnabc123x0 100000000",
        "alpha>charlie 172.31.255.2>172.31.255.10:4790 lgnabc123x1 30000000",
        "bravo>alpha 172.31.255.6>172.31.255.2:4789 lgnabc123x2 100000000",
        "bravo>charlie 172.31.255.6>172.31.255.10:4791 lgnabc123x3 7000000",
        "charlie>alpha 172.31.255.10>172.31.255.2:4790 lgnabc123x4 30000000",
        "charlie>bravo 172.31.255.10>172.31.255.6:4791 lgnabc123x5 7000000");
    Map<String, org.lambdagrid.proto.v1.ReservationOverlay> ends = TestbedNetworkProvider.siteEnds(s);
    assertThat(ends.get("charlie").getBridge()).isEqualTo("lgnabc123b2");
    assertThat(ends.get("charlie").getTunnelsList()).extracting(t -> t.getPeerSite() + ":" + t.getPort() + " "
        + t.getDevice() + " " + t.getRateBps()).containsExactly("alpha:4790 lgnabc123x4 30000000",
            "bravo:4791 lgnabc123x5 7000000");
    assertThat(ends.values()).allMatch(e -> e.getVni() == 4100 && e.getMtu() == 1450);
  }

  @Test
  void aVniAnotherRecordedSegmentUsesIsRefusedNamingTheFieldAndValueAndNothingIsBuilt() {
    net().build(routed("r1", "abc123", 4096));
    int before = kernel.links.size();
    assertThatThrownBy(() -> net().build(routed("r2", "def456", 4096)))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.ALREADY_EXISTS))
        .hasMessageContaining("overlay.vni 4096").hasMessageContaining("reservation r1");
    assertThat(kernel.links).hasSize(before).noneMatch(d -> d.startsWith("lgndef456"));
    assertThat(net().recorded("r2")).isEmpty();
  }

  @Test
  void overlayPlansRefuseBadInputNamingTheField() {
    Map<String, Segment.Endpoint> eps = Map.of("alpha", new Segment.Endpoint("", "172.31.255.2"));
    Map<SitePair, Long> bps = Map.of(SitePair.of("alpha", "bravo"), M);
    assertThatThrownBy(() -> Segment.planOverlay("r", "abc123", 0, eps, bps)).hasMessageContaining("overlay.vni");
    assertThatThrownBy(() -> Segment.planOverlay("r", "abc123", 1 << 24, eps, bps)).hasMessageContaining("overlay.vni");
    assertThatThrownBy(() -> Segment.planOverlay("r", "abc123", 5, Map.of(
        "alpha", new Segment.Endpoint("a", "172.31.255.2", 1300), "bravo", new Segment.Endpoint("b", "172.31.255.6")),
        bps)).hasMessageContaining("overlay.underlay_mtu").hasMessageContaining("1300").hasMessageContaining("alpha");
    assertThatThrownBy(() -> Segment.planOverlay("r", "abc123", 5, eps, bps))
        .hasMessageContaining("bravo").hasMessageContaining("overlay.endpoint");
    assertThatThrownBy(() -> Segment.planOverlay("r", "abc123", 5, Map.of(
        "alpha", new Segment.Endpoint("u", "172.31.255.2"), "bravo", new Segment.Endpoint("u", "172.31.255.6")), bps))
        .hasMessageContaining("same network namespace").hasMessageContaining("alpha").hasMessageContaining("bravo");
    // No namespace: each site's own host (its CRM builds its end there), so no clash.
    assertThat(Segment.planOverlay("r", "abc123", 5, Map.of(
        "alpha", new Segment.Endpoint("", "172.31.255.2"), "bravo", new Segment.Endpoint("", "172.31.255.6")), bps)
        .overlay().vteps()).hasSize(2);
  }
}
