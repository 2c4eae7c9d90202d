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
 */
public record SetupParams(String user, List<Ipv4Cidr> peerRanges, Duration timeout,
    int slotsPerNode) {
  public SetupParams {
    user = user == null ? "" : user;
    peerRanges = List.copyOf(peerRanges);
  }
}
