package org.lambdagrid.grc.site;

import java.time.Instant;
import java.util.List;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * A registered site as the GRC knows it. Immutable; a re-registration replaces the whole value.
 *
 * @param ranges the published pools, sorted by address, pairwise disjoint
 */
public record Site(String name, Endpoint crmEndpoint, int nodeCapacity, List<Ipv4Cidr> ranges,
    int slotsPerNode, Instant registeredAt) {
  public Site {
    ranges = List.copyOf(ranges);
  }
}
