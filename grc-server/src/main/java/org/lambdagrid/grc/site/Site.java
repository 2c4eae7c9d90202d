package org.lambdagrid.grc.site;

import java.time.Instant;
import java.util.List;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * A registered site as the GRC knows it. Immutable; a re-registration replaces the whole value.
 *
 * @param ranges the published pools, sorted by address, pairwise disjoint
 * @param overlay the site's overlay end when it is routed (its crm.yaml {@code overlay:}), else null
 */
public record Site(String name, Endpoint crmEndpoint, int nodeCapacity, List<Ipv4Cidr> ranges,
    int slotsPerNode, Instant registeredAt, Overlay overlay) {
  public Site {
    ranges = List.copyOf(ranges);
  }

  /** A site that is not routed. */
  public Site(String name, Endpoint crmEndpoint, int nodeCapacity, List<Ipv4Cidr> ranges,
      int slotsPerNode, Instant registeredAt) {
    this(name, crmEndpoint, nodeCapacity, ranges, slotsPerNode, registeredAt, null);
  }

  /**
   * A routed site's end of the reservations' VXLAN overlays, as validated by {@link SiteRegistry}.
   *
   * @param endpoint the IPv4 address of the site's VTEPs on the routed underlay
   * @param netns the network namespace that address is in (testbed); empty: the provider's own
   * @param underlayMtu the underlay's MTU at the site (1330..65535)
   */
  public record Overlay(String endpoint, String netns, int underlayMtu) {}
}
