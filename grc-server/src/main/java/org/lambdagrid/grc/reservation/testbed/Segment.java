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
 * @param links one per topology link crossed, in link-id order
 */
public record Segment(String reservationId, String tag, List<Bridge> bridges, List<Link> links) {
  /** The bridge {@code device} of topology node {@code node}. */
  public record Bridge(String node, String device) {}

  /**
   * A shaped veth pair. {@code deviceA} is enslaved to {@code nodeA}'s bridge and its egress
   * carries nodeA -> nodeB; {@code deviceB} the other way. Both egresses are limited to
   * {@code rateBps}.
   */
  public record Link(String id, String nodeA, String nodeB, String deviceA, String deviceB, long rateBps) {}

  public Segment {
    bridges = List.copyOf(bridges);
    links = List.copyOf(links);
  }

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

  /** Every device name, bridges first, then link ends. */
  public List<String> devices() {
    List<String> d = new ArrayList<>();
    bridges.forEach(b -> d.add(b.device()));
    links.forEach(l -> {
      d.add(l.deviceA());
      d.add(l.deviceB());
    });
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
