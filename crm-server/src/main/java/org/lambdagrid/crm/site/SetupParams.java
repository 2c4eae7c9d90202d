package org.lambdagrid.crm.site;

import java.time.Duration;
import java.util.List;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.NodeShape;

/**
 * The arguments of SetupNodes, validated.
 *
 * @param user the guest's user, or empty for the share's user
 * @param peerRanges the job's other sub-ranges (on-link routes in every guest)
 * @param timeout for LAUNCH and SETUP together, or null for the site default
 * @param slotsPerNode 0 for the site default
 * @param bridge the reservation's bridge on this site, or empty for each node's configured one
 * @param shape every node's CPUs and memory ({@link NodeShape#NONE}: the whole node)
 */
public record SetupParams(String user, List<Ipv4Cidr> peerRanges, Duration timeout,
    int slotsPerNode, String bridge, NodeShape shape) {
  public SetupParams {
    user = user == null ? "" : user;
    peerRanges = List.copyOf(peerRanges);
    bridge = bridge == null ? "" : bridge;
    shape = shape == null ? NodeShape.NONE : shape;
  }

  public SetupParams(String user, List<Ipv4Cidr> peerRanges, Duration timeout, int slotsPerNode,
      String bridge) {
    this(user, peerRanges, timeout, slotsPerNode, bridge, NodeShape.NONE);
  }

  public SetupParams(String user, List<Ipv4Cidr> peerRanges, Duration timeout, int slotsPerNode) {
    this(user, peerRanges, timeout, slotsPerNode, "");
  }
}
