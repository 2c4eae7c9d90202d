package org.lambdagrid.grc.reservation;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.reservation.Window;

/**
 * A window the {@link CoAllocator} found, and what it would hold in it.
 *
 * @param window the reserved time
 * @param nodes node count per site, in site name order
 * @param bandwidth bit/s per pair of sites (only pairs with bandwidth), in pair order
 * @param linkBps bit/s per link id (see {@link Topology.Link#id}), summed over every pair whose
 *     path crosses the link
 */
public record Plan(
    Window window, Map<String, Integer> nodes, Map<SitePair, Long> bandwidth, Map<String, Long> linkBps) {
  public Plan {
    nodes = Collections.unmodifiableMap(new TreeMap<>(nodes));
    bandwidth = Collections.unmodifiableMap(new TreeMap<>(bandwidth));
    linkBps = Collections.unmodifiableMap(new TreeMap<>(linkBps));
  }
}
