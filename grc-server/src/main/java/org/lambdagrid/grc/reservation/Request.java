package org.lambdagrid.grc.reservation;

import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * What a user asks the {@link CoAllocator} for. Either {@code nodesPerSite} (site name to node
 * count) or {@code totalNodes} (the allocator chooses the sites: fewest sites first, then the
 * most free ones, ties by name). The record itself does not validate, so that every bad value
 * reaches {@link CoAllocator#find} and is refused there with a specific message.
 *
 * @param nodesPerSite node count per site; empty when {@code totalNodes} is used
 * @param totalNodes total node count over any sites; 0 when {@code nodesPerSite} is used
 * @param bandwidthBps bit/s reserved between every pair of the chosen sites, on every link of
 *     the path between them; empty for none; when given it must be positive
 * @param duration length of the window
 * @param earliestStart the window starts no earlier than this; null for "now"
 * @param deadline the window ends no later than this; null for no deadline
 */
public record Request(
    Map<String, Integer> nodesPerSite,
    int totalNodes,
    OptionalLong bandwidthBps,
    Duration duration,
    Instant earliestStart,
    Instant deadline) {

  public Request {
    nodesPerSite = nodesPerSite == null
        ? Map.of()
        : Collections.unmodifiableMap(new TreeMap<>(nodesPerSite));
    bandwidthBps = bandwidthBps == null ? OptionalLong.empty() : bandwidthBps;
  }

  /** Nodes on named sites, no bandwidth, no deadline. */
  public static Request perSite(Map<String, Integer> nodes, Duration duration, Instant earliestStart) {
    return new Request(nodes, 0, OptionalLong.empty(), duration, earliestStart, null);
  }

  /** A total node count on sites the allocator chooses, no bandwidth, no deadline. */
  public static Request total(int nodes, Duration duration, Instant earliestStart) {
    return new Request(Map.of(), nodes, OptionalLong.empty(), duration, earliestStart, null);
  }

  public Request withBandwidth(long bps) {
    return new Request(nodesPerSite, totalNodes, OptionalLong.of(bps), duration, earliestStart, deadline);
  }

  public Request withDeadline(Instant latestEnd) {
    return new Request(nodesPerSite, totalNodes, bandwidthBps, duration, earliestStart, latestEnd);
  }
}
