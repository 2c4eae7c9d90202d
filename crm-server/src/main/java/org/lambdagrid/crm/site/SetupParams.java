package org.lambdagrid.crm.site;

import java.time.Duration;
import java.util.List;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * The arguments of SetupNodes, validated.
 *
 * @param user the guest's user, or empty for the share's user
 * @param peerRanges the job's other sub-ranges (on-link routes in every guest)
 * @param timeout for LAUNCH and SETUP together, or null for the site default
 * @param slotsPerNode 0 for the site default
 * @param bridge the reservation's bridge on this site, or empty for each node's configured one
 */
public record SetupParams(String user, List<Ipv4Cidr> peerRanges, Duration timeout,
    int slotsPerNode, String bridge) {
  public SetupParams {
    user = user == null ? "" : user;
    peerRanges = List.copyOf(peerRanges);
    bridge = bridge == null ? "" : bridge;
  }

  public SetupParams(String user, List<Ipv4Cidr> peerRanges, Duration timeout, int slotsPerNode) {
    this(user, peerRanges, timeout, slotsPerNode, "");
  }
}
