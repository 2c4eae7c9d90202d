package org.lambdagrid.grc.reservation.testbed;

import io.grpc.Status;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.grc.reservation.CoAllocator;
import org.lambdagrid.grc.reservation.Topology;

/**
 * One reservation's private layer-2 segment on the testbed: a bridge for every topology node its
 * paths touch (sites and transit points) and, for every topology link those paths cross, a veth
 * pair joining the two nodes' bridges, shaped on both ends to the bit/s the reservation holds on
 * that link (the sum over the site pairs whose path crosses it, which is what the link calendar
 * holds). This is both the plan {@link TestbedNetwork#build} follows and the state it records, so
 * teardown works from the record alone. Immutable; Jackson reads and writes it as is.
 *
 * @param reservationId the reservation the segment belongs to
 * @param tag the name tag of its devices (see {@link SegmentNames})
 * @param bridges one per node, in node-name order; a site's guests attach to its bridge
 * @param links one per topology link crossed, in link-id order (none for an overlay segment)
 * @param overlay for a routed segment, its VXLAN overlay; null for a layer-2 (veth) one
 */
public record Segment(String reservationId, String tag, List<Bridge> bridges, List<Link> links, Overlay overlay) {
  /** The bridge {@code device} of topology node {@code node}. */
  public record Bridge(String node, String device) {}

  /**
   * A shaped veth pair. {@code deviceA} is enslaved to {@code nodeA}'s bridge and its egress
   * carries nodeA -> nodeB; {@code deviceB} the other way. Both egresses are limited to
   * {@code rateBps}.
   */
  public record Link(String id, String nodeA, String nodeB, String deviceA, String deviceB, long rateBps) {}

  /**
   * A routed segment's VXLAN overlay: for every pair of sites the reservation joins, one VXLAN
   * device at each end (a point-to-point tunnel to the other end's endpoint), all with the
   * reservation's {@code vni}. Each device is enslaved to its site's bridge as an isolated port
   * (the bridge never forwards between two tunnels, so the full mesh has no loop: split horizon),
   * has MTU {@code mtu}, and its egress is shaped to the pair's reserved rate, so every pair of
   * sites gets its own rate however many sites the reservation has.
   *
   * @param vni the VXLAN network identifier, unique among the reservations this GRC holds
   * @param mtu the VXLAN devices' (and bridges') MTU: the smallest of the sites' underlay MTUs
   *     less the 50 bytes of VXLAN over IPv4
   * @param vteps one per ordered pair of sites (site, peer), in site then peer order
   */
  public record Overlay(int vni, int mtu, List<Vtep> vteps) {
    public Overlay {
      vteps = List.copyOf(vteps);
    }
  }

  /**
   * One end of one pair's tunnel: the VXLAN {@code device} of {@code site} towards {@code peer}.
   * It is created in network namespace {@code netns} (the site's underlay; empty: this one),
   * where {@code endpoint} is the site's underlay address, sending to {@code peerEndpoint} on UDP
   * port {@code port} (the pair's: two tunnels with the same VNI in one namespace need different
   * ports), then moved to the namespace the bridges live in. Its egress carries at most
   * {@code rateBps}, the reservation's bandwidth between the two sites.
   */
  public record Vtep(String site, String peer, String netns, String endpoint, String peerEndpoint, int port,
      String device, long rateBps) {}

  public Segment {
    bridges = List.copyOf(bridges);
    links = List.copyOf(links);
  }

  /** A layer-2 segment (veth links, no overlay). */
  public Segment(String reservationId, String tag, List<Bridge> bridges, List<Link> links) {
    this(reservationId, tag, bridges, links, null);
  }

  /**
   * A site's underlay end for {@link #planOverlay}: its namespace (may be empty), address, and
   * the underlay's MTU there.
   */
  public record Endpoint(String netns, String address, int underlayMtu) {
    public Endpoint {
      netns = netns == null ? "" : netns;
    }

    /** With the usual 1500-byte underlay. */
    public Endpoint(String netns, String address) {
      this(netns, address, 1500);
    }
  }

  /**
   * Plans a routed segment: a bridge per site of {@code bps} and a VXLAN overlay with {@code vni}
   * between the sites' {@code endpoints}, one tunnel per pair of {@code bps} at its rate.
   * INVALID_ARGUMENT naming the field for a non-positive rate, a VNI outside 1..16777215 or an
   * underlay MTU that leaves less than 1280 bytes; FAILED_PRECONDITION for a site without an
   * endpoint, two sites whose endpoints are in the same named namespace (testbed), or more than
   * {@link SegmentNames#MAX_INDEX} + 1 tunnel ends.
   */
  public static Segment planOverlay(String reservationId, String tag, int vni, Map<String, Endpoint> endpoints,
      Map<SitePair, Long> bps) {
    if (bps.isEmpty()) {
      throw Errors.invalid("bandwidth", bps, "names no pair of sites");
    }
    if (vni < 1 || vni > 0xFFFFFF) {
      throw Errors.invalid("overlay.vni", vni, "must be 1..16777215");
    }
    TreeMap<SitePair, Long> pairs = new TreeMap<>();
    TreeSet<String> sites = new TreeSet<>();
    for (Map.Entry<SitePair, Long> e : bps.entrySet()) {
      SitePair p = e.getKey();
      if (e.getValue() == null || e.getValue() <= 0) {
        throw Errors.invalid("bandwidth[" + p + "]", e.getValue(), "must be a positive bit/s");
      }
      pairs.put(p, e.getValue());
      sites.add(p.a());
      sites.add(p.b());
    }
    int mtu = Integer.MAX_VALUE;
    for (String site : sites) {
      Endpoint ep = endpoints.get(site);
      if (ep == null) {
        throw Errors.precondition("testbed network: site " + site + " of reservation " + reservationId
            + " is not routed (its CRM registered no overlay endpoint: crm.yaml overlay.endpoint), but another"
            + " site of it is; a reservation's sites are all routed or all joined at layer 2");
      }
      if (ep.underlayMtu() - VXLAN_OVERHEAD < 1280) {
        throw Errors.invalid("overlay.underlay_mtu", ep.underlayMtu(), "of site " + site
            + " leaves less than 1280 bytes inside VXLAN");
      }
      mtu = Math.min(mtu, ep.underlayMtu() - VXLAN_OVERHEAD);
      for (String other : sites.headSet(site)) {
        Endpoint o = endpoints.get(other);
        // A pair's two tunnels would share VNI and port there. An empty netns is the site's own
        // host's namespace (each CRM builds its end on its host), never compared across sites.
        if (!ep.netns().isEmpty() && o.netns().equals(ep.netns())) {
          throw Errors.precondition("testbed network: sites " + other + " and " + site + " of reservation "
              + reservationId + " have their overlay endpoints in the same network namespace ("
              + (ep.netns().isEmpty() ? "this one" : ep.netns()) + "); each routed site needs its own");
        }
      }
    }
    if (pairs.size() * 2 > SegmentNames.MAX_INDEX + 1) {
      throw Errors.precondition("testbed network: reservation " + reservationId + " joins " + pairs.size()
          + " pairs of routed sites; at most " + (SegmentNames.MAX_INDEX + 1) / 2);
    }
    List<Bridge> bridges = new ArrayList<>();
    int i = 0;
    for (String site : sites) {
      bridges.add(new Bridge(site, SegmentNames.bridge(tag, i++)));
    }
    Map<SitePair, Integer> portOf = new TreeMap<>();
    int k = 0;
    for (SitePair p : pairs.keySet()) {
      portOf.put(p, VXLAN_PORT + k++);
    }
    List<Vtep> vteps = new ArrayList<>();
    int x = 0;
    for (String site : sites) {
      for (String peer : sites) {
        SitePair p = peer.equals(site) ? null : SitePair.of(site, peer);
        if (p == null || !pairs.containsKey(p)) {
          continue;
        }
        Endpoint ep = endpoints.get(site);
        Endpoint pe = endpoints.get(peer);
        vteps.add(new Vtep(site, peer, ep.netns(), ep.address(), pe.address(), portOf.get(p),
            SegmentNames.vxlan(tag, x++), pairs.get(p)));
      }
    }
    return new Segment(reservationId, tag, bridges, List.of(), new Overlay(vni, mtu, vteps));
  }

  /** Bytes VXLAN over IPv4 adds to a frame: outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8. */
  public static final int VXLAN_OVERHEAD = org.lambdagrid.common.net.LinkCommands.VXLAN_OVERHEAD;
  /** The IANA VXLAN port: the first pair's; the n-th pair (in site order) uses this + n. */
  public static final int VXLAN_PORT = 4789;

  /**
   * Plans the segment for bandwidth {@code bps} between site pairs over {@code topology}'s
   * shortest paths. Refuses, naming the reason: INVALID_ARGUMENT for a non-positive rate or a
   * pair no path joins, NOT_FOUND for an unknown site, FAILED_PRECONDITION when the links crossed
   * form a cycle (a bridge loop would flood the segment; the testbed emulates trees only) or
   * there are more than {@link SegmentNames#MAX_INDEX} of them.
   */
  public static Segment plan(String reservationId, String tag, Topology topology, Map<SitePair, Long> bps) {
    if (bps.isEmpty()) {
      throw Errors.invalid("bandwidth", bps, "names no pair of sites");
    }
    Map<String, Long> rate = new TreeMap<>();
    Map<String, Topology.Link> byId = new TreeMap<>();
    TreeSet<String> nodes = new TreeSet<>();
    for (Map.Entry<SitePair, Long> e : bps.entrySet()) {
      SitePair p = e.getKey();
      if (e.getValue() == null || e.getValue() <= 0) {
        throw Errors.invalid("bandwidth[" + p + "]", e.getValue(), "must be a positive bit/s");
      }
      List<Topology.Link> path = topology.route(p.a(), p.b()).orElseThrow(() -> Errors.invalid(
          "bandwidth[" + p + "]", Quantities.formatRate(e.getValue()), "joins sites no network path joins"));
      nodes.add(p.a());
      nodes.add(p.b());
      for (Topology.Link l : path) {
        rate.merge(l.id(), e.getValue(), CoAllocator::saturatingAdd);
        byId.put(l.id(), l);
        nodes.add(l.a());
        nodes.add(l.b());
      }
    }
    if (nodes.size() > SegmentNames.MAX_INDEX + 1 || byId.size() > SegmentNames.MAX_INDEX + 1) {
      throw Errors.precondition("testbed network: reservation " + reservationId + " crosses " + byId.size()
          + " links and " + nodes.size() + " nodes; at most " + (SegmentNames.MAX_INDEX + 1) + " of each");
    }
    requireTree(reservationId, nodes, byId.values());
    List<Bridge> bridges = new ArrayList<>();
    Map<String, String> bridgeOf = new LinkedHashMap<>();
    int i = 0;
    for (String n : nodes) {
      String dev = SegmentNames.bridge(tag, i++);
      bridges.add(new Bridge(n, dev));
      bridgeOf.put(n, dev);
    }
    List<Link> links = new ArrayList<>();
    int k = 0;
    for (Topology.Link l : byId.values()) {
      String a = l.a().compareTo(l.b()) <= 0 ? l.a() : l.b();
      String b = a.equals(l.a()) ? l.b() : l.a();
      links.add(new Link(l.id(), a, b, SegmentNames.linkEnd(tag, k, 'a'), SegmentNames.linkEnd(tag, k, 'b'),
          rate.get(l.id())));
      k++;
    }
    return new Segment(reservationId, tag, bridges, links);
  }

  /** The bridge of {@code node}, if the segment has one. */
  public Optional<String> bridgeOf(String node) {
    return bridges.stream().filter(b -> b.node().equals(node)).map(Bridge::device).findFirst();
  }

  /** Node name to bridge device, in node order. */
  public Map<String, String> bridgeMap() {
    Map<String, String> m = new LinkedHashMap<>();
    bridges.forEach(b -> m.put(b.node(), b.device()));
    return m;
  }

  /** Every device name, bridges first, then link ends, then VXLAN devices. */
  public List<String> devices() {
    List<String> d = new ArrayList<>();
    bridges.forEach(b -> d.add(b.device()));
    links.forEach(l -> {
      d.add(l.deviceA());
      d.add(l.deviceB());
    });
    if (overlay != null) {
      overlay.vteps().forEach(v -> d.add(v.device()));
    }
    return d;
  }

  private static void requireTree(String reservationId, TreeSet<String> nodes, Iterable<Topology.Link> links) {
    Map<String, String> parent = new TreeMap<>();
    nodes.forEach(n -> parent.put(n, n));
    for (Topology.Link l : links) {
      String ra = root(parent, l.a());
      String rb = root(parent, l.b());
      if (ra.equals(rb)) {
        throw new Errors.RequestException(Status.Code.FAILED_PRECONDITION, "testbed network: the paths of reservation "
            + reservationId + " close a cycle at link " + l.id() + "; its layer-2 segment must be a tree"
            + " (a bridge loop would flood it), so the testbed cannot build it");
      }
      parent.put(ra, rb);
    }
  }

  private static String root(Map<String, String> parent, String n) {
    while (!parent.get(n).equals(n)) {
      n = parent.get(n);
    }
    return n;
  }
}
