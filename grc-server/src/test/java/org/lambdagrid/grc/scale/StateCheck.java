package org.lambdagrid.grc.scale;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationState;

/**
 * The invariants of the GRC's state as ListReservations shows it, checked from outside: no site
 * holds more nodes than its capacity at any instant, no link of the star topology (every site to
 * {@code core}) carries more than its capacity ((k-1) x bandwidth on each of a k-site
 * reservation's links: each pair's path crosses both sites' links), and the address sub-ranges
 * of all live reservations are pairwise disjoint (the GRC leases a block to one reservation at a
 * time, on any site). Returns the violations, one line each; empty = consistent.
 */
final class StateCheck {
  private StateCheck() {}

  static boolean live(Reservation r) {
    return r.getState() == ReservationState.RESERVATION_RESERVED
        || r.getState() == ReservationState.RESERVATION_ACTIVE;
  }

  static List<String> check(List<Reservation> all, Map<String, Integer> capacity,
      long linkCapacityBps) {
    List<String> out = new ArrayList<>();
    List<Reservation> rs = all.stream().filter(StateCheck::live).toList();
    // nodes per site and bandwidth per site link: sweep over window edges
    Map<String, List<long[]>> nodeEdges = new TreeMap<>();
    Map<String, List<long[]>> linkEdges = new TreeMap<>();
    for (Reservation r : rs) {
      long s = ProtoTime.fromProto(r.getStart()).toEpochMilli();
      long e = ProtoTime.fromProto(r.getEnd()).toEpochMilli();
      int k = r.getSiteNodesCount();
      r.getSiteNodesMap().forEach((site, n) -> {
        if (!capacity.containsKey(site)) {
          out.add(r.getId() + ": unknown site " + site);
          return;
        }
        List<long[]> l = nodeEdges.computeIfAbsent(site, x -> new ArrayList<>());
        l.add(new long[] {s, n});
        l.add(new long[] {e, -n});
        if (r.getBandwidthBps() > 0 && k > 1) {
          long bw = r.getBandwidthBps() * (k - 1);
          List<long[]> b = linkEdges.computeIfAbsent(site, x -> new ArrayList<>());
          b.add(new long[] {s, bw});
          b.add(new long[] {e, -bw});
        }
      });
    }
    nodeEdges.forEach((site, edges) -> {
      long peak = peak(edges);
      if (peak > capacity.get(site)) {
        out.add("site " + site + " overbooked: " + peak + " nodes held at once, capacity "
            + capacity.get(site));
      }
    });
    linkEdges.forEach((site, edges) -> {
      long peak = peak(edges);
      if (peak > linkCapacityBps) {
        out.add("link " + site + "-core overbooked: " + peak + " bit/s held at once, capacity "
            + linkCapacityBps);
      }
    });
    // sub-ranges: sorted by first address, each must end before the next begins
    record Block(Ipv4Cidr cidr, String owner) { }
    List<Block> blocks = new ArrayList<>();
    for (Reservation r : rs) {
      r.getSiteRangesMap().forEach((site, range) ->
          blocks.add(new Block(Ipv4Cidr.parse(range.getCidr()), r.getId() + "@" + site)));
      if (r.getSiteRangesCount() != r.getSiteNodesCount()) {
        out.add(r.getId() + ": " + r.getSiteNodesCount() + " sites but "
            + r.getSiteRangesCount() + " ranges");
      }
    }
    blocks.sort(Comparator.comparing(Block::cidr));
    for (int i = 1; i < blocks.size(); i++) {
      Block a = blocks.get(i - 1);
      Block b = blocks.get(i);
      if (a.cidr().overlaps(b.cidr())) {
        out.add("ranges overlap: " + a.cidr() + " (" + a.owner() + ") and " + b.cidr() + " ("
            + b.owner() + ")");
      }
    }
    return out;
  }

  private static long peak(List<long[]> edges) {
    // ends before starts at the same instant: windows are [start, end)
    edges.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
    long cur = 0;
    long max = 0;
    for (long[] e : edges) {
      cur += e[1];
      max = Math.max(max, cur);
    }
    return max;
  }
}
