package org.lambdagrid.crm.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import java.util.TreeMap;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.net.CommandRunner;
import org.lambdagrid.common.net.Leftovers;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.proto.v1.OverlayTunnel;
import org.lambdagrid.proto.v1.ReservationOverlay;

/**
 * Routed sites' overlay ends on the real kernel, each built by its own {@link SiteOverlay} (as
 * each site's CRM does) from the end the GRC plans for it: sites alpha, bravo and charlie each have an underlay
 * namespace ({@code lgn-ua}, {@code lgn-ub}, {@code lgn-uc}) joined only through a router
 * namespace ({@code lgn-ur}) by /30 links in 172.31.254.0/24 (underlay MTU 1550; nothing joins
 * them at layer 2, nothing leaves the machine). A reservation gets a VXLAN overlay between its
 * sites; a "guest" per site (namespace with one veth into the site's bridge) reaches the others
 * with full-size 1500-byte frames that must not fragment, iperf3 between each pair gets 0.8-1.0
 * of that pair's reserved rate, and release leaves nothing. Needs root, ping and iperf3; skipped
 * with the reason otherwise.
 */
@Tag("root")
class SiteOverlayRootTest {
  static final long M = 1_000_000L;
  /**
   * The least share of a reserved rate iperf3 must see. Goodput behind HTB is ~0.95 of it at best,
   * and a descheduled sender cannot catch up, so a loaded machine sees less; 0.6 still tells each
   * pair's rate from the next lower one these tests reserve. The upper bound (1.0) proves the cap.
   */
  static final double FLOOR = 0.6;
  static final CommandRunner SH = CommandRunner.system();
  static final Duration T = Duration.ofSeconds(20);
  static final ObjectMapper JSON = new ObjectMapper();

  static final Map<String, String> NETNS = Map.of("alpha", "lgn-ua", "bravo", "lgn-ub", "charlie", "lgn-uc");
  static final Map<String, String> ENDPOINT = Map.of("alpha", "172.31.254.2", "bravo", "172.31.254.6",
      "charlie", "172.31.254.10");
  static final List<String> SITES = List.of("alpha", "bravo", "charlie");

  @TempDir Path state;
  /** Each site's builder, as its CRM has it (crm.yaml overlay: endpoint and netns). */
  final Map<String, SiteOverlay> sites = new TreeMap<>();
  /** Each site's end of r1, as the GRC planned it. */
  final Map<String, OverlayPlan> ends = new TreeMap<>();
  final List<Process> servers = new ArrayList<>();
  final List<String> namespaces = new ArrayList<>();
  final List<String> hostEnds = new ArrayList<>();

  @BeforeEach
  void needsRoot() {
    assumeTrue(HostCommand.isRoot(), "skipped: the overlay test needs root (netns, vxlan, bridges, tc)");
    assumeTrue(sh("iperf3", "--version").ok(), "skipped: no iperf3 (scripts/setup-host --bench installs it)");
    assumeTrue(sh("ping", "-V").ok(), "skipped: no ping (iputils-ping)");
    for (String tool : List.of("ip", "tc", "bridge")) {
      assumeTrue(sh(tool, "-V").ok(), "skipped: no " + tool + " (iproute2)");
    }
    assertThat(Leftovers.named("lgn")).as("objects named lgn* exist before the test").isEmpty();
    underlay();
    for (String site : SITES) {
      sites.put(site, new SiteOverlay(site, ENDPOINT.get(site), NETNS.get(site), state.resolve(site), SH,
          SiteOverlay.DEFAULT_TIMEOUT));
    }
  }

  @AfterEach
  void cleanUp() {
    servers.forEach(Process::destroyForcibly);
    sites.values().forEach(o -> o.remove("r1"));
    hostEnds.forEach(d -> sh("ip", "link", "del", "dev", d));
    namespaces.forEach(ns -> sh("ip", "netns", "del", ns));
  }

  /** Three site namespaces, routed through a fourth; no address of it in the root namespace. */
  private void underlay() {
    for (String ns : List.of("lgn-ur", "lgn-ua", "lgn-ub", "lgn-uc")) {
      ok("ip", "netns", "add", ns);
      namespaces.add(ns);
      ok("ip", "-n", ns, "link", "set", "dev", "lo", "up");
    }
    ok("ip", "netns", "exec", "lgn-ur", "sysctl", "-qw", "net.ipv4.ip_forward=1");
    String[][] sites = {{"lgn-ua", "172.31.254.1", "172.31.254.2"}, {"lgn-ub", "172.31.254.5", "172.31.254.6"},
        {"lgn-uc", "172.31.254.9", "172.31.254.10"}};
    for (String[] s : sites) {
      ok("ip", "-n", s[0], "link", "add", "name", "up0", "type", "veth", "peer", "name", "dn" + s[0].charAt(5),
          "netns", "lgn-ur");
      ok("ip", "-n", s[0], "link", "set", "dev", "up0", "mtu", "1550", "up");
      ok("ip", "-n", "lgn-ur", "link", "set", "dev", "dn" + s[0].charAt(5), "mtu", "1550", "up");
      ok("ip", "-n", "lgn-ur", "addr", "add", s[1] + "/30", "dev", "dn" + s[0].charAt(5));
      ok("ip", "-n", s[0], "addr", "add", s[2] + "/30", "dev", "up0");
      ok("ip", "-n", s[0], "route", "add", "172.31.254.0/24", "via", s[1]);
    }
  }

  @Test
  void aRoutedReservationCarriesFullFramesAtItsRateAndLeavesNothing() throws Exception {
    commit("r1", 4096, Map.of(SitePair.of("alpha", "bravo"), 100 * M));
    for (OverlayPlan e : ends.values()) {
      assertThat(e.tunnels()).hasSize(1);
      OverlayPlan.Tunnel v = e.tunnels().get(0);
      String d = sh("ip", "-d", "link", "show", "dev", v.device()).stdout();
      assertThat(d).as(v.device()).contains("vxlan id 4096", "remote " + v.peerEndpoint(),
          "local " + e.localEndpoint(), "mtu 1500", "dstport 4789", "isolated on");
      assertThat(sh("tc", "class", "show", "dev", v.device()).stdout()).contains("rate 100Mbit ceil 100Mbit");
    }
    Map<String, String> br = bridges();
    guest("lgn-ga", "lgnta", br.get("alpha"), "10.99.0.1");
    guest("lgn-gb", "lgntb", br.get("bravo"), "10.99.0.2");
    // A full 1500-byte packet, don't fragment: the overlay's MTU is right.
    HostCommand.Result ping = sh("ip", "netns", "exec", "lgn-ga", "ping", "-c", "3", "-i", "0.2", "-W", "2",
        "-M", "do", "-s", "1472", "10.99.0.2");
    assertThat(ping.ok()).as(ping.describe() + "\n" + ping.stdout()).isTrue();

    double bps = iperf("lgn-ga", "lgn-gb", "10.99.0.2", 5301);
    System.out.printf("iperf3 over the VXLAN overlay (100 Mbit/s reserved): %.1f Mbit/s%n", bps / M);
    assertThat(bps).isBetween(FLOOR * 100 * M, 1.0 * 100 * M);

    releaseAndCheckNothingIsLeft("r1");
  }

  @Test
  void withThreeRoutedSitesEachPairIsShapedToItsOwnRate() throws Exception {
    Map<SitePair, Long> bps = Map.of(SitePair.of("alpha", "bravo"), 90 * M, SitePair.of("alpha", "charlie"), 40 * M,
        SitePair.of("bravo", "charlie"), 15 * M);
    commit("r1", 4096, bps);
    assertThat(ends.values().stream().mapToInt(e -> e.tunnels().size()).sum()).as("a tunnel end per ordered pair")
        .isEqualTo(6);
    Map<String, String> br = bridges();
    guest("lgn-ga", "lgnta", br.get("alpha"), "10.99.0.1");
    guest("lgn-gb", "lgntb", br.get("bravo"), "10.99.0.2");
    guest("lgn-gc", "lgntc", br.get("charlie"), "10.99.0.3");
    String[][] pairs = {{"lgn-ga", "lgn-gb", "10.99.0.2", "alpha", "bravo"},
        {"lgn-ga", "lgn-gc", "10.99.0.3", "alpha", "charlie"}, {"lgn-gb", "lgn-gc", "10.99.0.3", "bravo", "charlie"},
        {"lgn-gc", "lgn-ga", "10.99.0.1", "charlie", "alpha"}};
    for (String[] p : pairs) {
      HostCommand.Result ping = sh("ip", "netns", "exec", p[0], "ping", "-c", "2", "-i", "0.2", "-W", "2",
          "-M", "do", "-s", "1472", p[2]);
      assertThat(ping.ok()).as(p[0] + " -> " + p[2] + ": " + ping.describe() + "\n" + ping.stdout()).isTrue();
    }
    int port = 5302;
    for (String[] p : pairs) {
      long reserved = bps.get(SitePair.of(p[3], p[4]));
      double got = iperf(p[0], p[1], p[2], port++);
      System.out.printf("iperf3 %s -> %s over the 3-site overlay (%d Mbit/s reserved for the pair): %.1f Mbit/s%n",
          p[3], p[4], reserved / M, got / M);
      // The pair's own rate, not the site's total (alpha sends up to 130 Mbit/s in all).
      assertThat(got).as(p[3] + " -> " + p[4]).isBetween(FLOOR * reserved, 1.0 * reserved);
    }
    // At the same time, alpha -> bravo and alpha -> charlie each get their own pair's rate.
    Process sb = server("lgn-gb", "10.99.0.2", 5310);
    Process sc = server("lgn-gc", "10.99.0.3", 5311);
    Process cb = client("lgn-ga", "10.99.0.2", 5310);
    Process cc = client("lgn-ga", "10.99.0.3", 5311);
    double toB = received(cb);
    double toC = received(cc);
    sb.destroyForcibly().waitFor();
    sc.destroyForcibly().waitFor();
    System.out.printf("iperf3 at once: alpha -> bravo %.1f Mbit/s (90 reserved), alpha -> charlie %.1f Mbit/s"
        + " (40 reserved)%n", toB / M, toC / M);
    assertThat(toB).as("alpha -> bravo, concurrently").isBetween(FLOOR * 90 * M, 1.0 * 90 * M);
    assertThat(toC).as("alpha -> charlie, concurrently").isBetween(FLOOR * 40 * M, 1.0 * 40 * M);
    releaseAndCheckNothingIsLeft("r1");
  }

  /** A one-shot iperf3 server in namespace {@code ns} on {@code addr:port}, listening when this returns. */
  private Process server(String ns, String addr, int port) throws Exception {
    Process srv = new ProcessBuilder("ip", "netns", "exec", ns, "iperf3", "-s", "-1", "-B", addr,
        "-p", String.valueOf(port)).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(true).start();
    servers.add(srv);
    for (int i = 0; i < 50; i++) {
      if (sh("ip", "netns", "exec", ns, "ss", "-Hltn", "sport", "= :" + port).stdout().contains(":" + port)) {
        return srv;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("iperf3 server in " + ns + " on " + addr + ":" + port + " did not listen within 5 s");
  }

  /** A 3-second iperf3 client in {@code ns} (after 1 s of slow start it leaves out) to {@code addr:port}, JSON on its stdout. */
  private Process client(String ns, String addr, int port) throws Exception {
    Process c = new ProcessBuilder("ip", "netns", "exec", ns, "iperf3", "-c", addr, "-p", String.valueOf(port),
        "-t", "3", "-O", "1", "-J").redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    servers.add(c);
    return c;
  }

  /** The received bit/s a {@link #client} reports. */
  private static double received(Process client) throws Exception {
    String json = new String(client.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(client.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).as("iperf3 client ended").isTrue();
    assertThat(client.exitValue()).as(json).isZero();
    return JSON.readTree(json).path("end").path("sum_received").path("bits_per_second").asDouble();
  }

  /** iperf3 from namespace {@code from} to a one-shot server in {@code to} at {@code addr}: received bit/s. */
  private double iperf(String from, String to, String addr, int port) throws Exception {
    Process srv = server(to, addr, port);
    HostCommand.Result r = sh("ip", "netns", "exec", from, "iperf3", "-c", addr, "-p", String.valueOf(port), "-t", "3",
        "-J");
    assertThat(r.ok()).as(r.describe()).isTrue();
    srv.destroyForcibly().waitFor();
    JsonNode j = JSON.readTree(r.stdout());
    return j.path("end").path("sum_received").path("bits_per_second").asDouble();
  }

  private void releaseAndCheckNothingIsLeft(String id) throws Exception {
    sites.values().forEach(o -> o.remove(id));
    hostEnds.forEach(d -> assertThat(sh("ip", "link", "del", "dev", d).ok()).as("del " + d).isTrue());
    hostEnds.clear();
    namespaces.forEach(ns -> assertThat(sh("ip", "netns", "del", ns).ok()).as("netns del " + ns).isTrue());
    namespaces.clear();
    List<String> left = Leftovers.named("lgn");
    for (int i = 0; i < 50 && !left.isEmpty(); i++) {
      Thread.sleep(100);
      left = Leftovers.named("lgn");
    }
    assertThat(left).as("left behind (after up to 5 s)").isEmpty();
    sites.values().forEach(o -> assertThat(o.recordedAll()).isEmpty());
  }

  /**
   * Plans each site's end of {@code id} the way the GRC does (a bridge per site; per pair of
   * sites, in site order, UDP port 4789, 4790, ...; a device per ordered pair; the pair's
   * rate; MTU 1550 - 50), then, per site, records it (Prepare) and builds it (Commit).
   */
  private void commit(String id, int vni, Map<SitePair, Long> bps) {
    TreeMap<SitePair, Long> pairs = new TreeMap<>(bps);
    Map<SitePair, Integer> port = new TreeMap<>();
    pairs.keySet().forEach(p -> port.put(p, 4789 + port.size()));
    int x = 0;
    for (int i = 0; i < SITES.size(); i++) {
      String site = SITES.get(i);
      ReservationOverlay.Builder b = ReservationOverlay.newBuilder().setVni(vni).setMtu(1500)
          .setBridge("lgnabc123b" + i).setLocalEndpoint(ENDPOINT.get(site));
      for (String peer : SITES) {
        SitePair p = peer.equals(site) ? null : SitePair.of(site, peer);
        if (p != null && pairs.containsKey(p)) {
          b.addTunnels(OverlayTunnel.newBuilder().setPeerSite(peer).setPeerEndpoint(ENDPOINT.get(peer))
              .setPort(port.get(p)).setRateBps(pairs.get(p)).setDevice("lgnabc123x" + x++));
        }
      }
      if (b.getTunnelsCount() > 0) {
        ends.put(site, OverlayPlan.from(id, b.build()));
      }
    }
    ends.forEach((site, e) -> assertThat(sites.get(site).record(e)).isTrue());
    ends.forEach((site, e) -> sites.get(site).build(id));
  }

  private Map<String, String> bridges() {
    Map<String, String> br = new TreeMap<>();
    ends.forEach((site, e) -> br.put(site, e.bridge()));
    return br;
  }

  private void guest(String ns, String hostEnd, String bridge, String addr) {
    namespaces.add(ns);
    hostEnds.add(hostEnd);
    org.lambdagrid.common.net.Leftovers.guest(ns, hostEnd, bridge, addr);
  }


  private static HostCommand.Result sh(String... argv) {
    return SH.run(List.of(argv), T);
  }

  private static void ok(String... argv) {
    HostCommand.Result r = sh(argv);
    assertThat(r.ok()).as(r.describe()).isTrue();
  }
}
