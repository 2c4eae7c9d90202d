package org.lambdagrid.grc.reservation;

import java.util.Map;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.reservation.Window;

/**
 * A plan the {@link CoAllocator} holds under an id until {@link CoAllocator#release}.
 *
 * @param id the reservation id ("resv-000001" when the allocator made it)
 * @param window the reserved time
 * @param nodes node count per site
 * @param bandwidth bit/s per pair of sites
 * @param linkBps bit/s held per link id, summed over the pairs that cross it
 */
public record HeldPlan(
    String id, Window window, Map<String, Integer> nodes, Map<SitePair, Long> bandwidth, Map<String, Long> linkBps) {

  static HeldPlan of(String id, Plan p) {
    return new HeldPlan(id, p.window(), p.nodes(), p.bandwidth(), p.linkBps());
  }

  public Plan plan() {
    return new Plan(window, nodes, bandwidth, linkBps);
  }
}
