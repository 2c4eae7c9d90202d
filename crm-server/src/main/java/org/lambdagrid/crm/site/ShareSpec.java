package org.lambdagrid.crm.site;

import java.time.Instant;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * A job's share of this site, bound to a committed reservation ({@link SiteShares#openShare}):
 * the reservation's nodes, sub-range and window, the job's user.
 *
 * @param start start of the window, or null for "from now"
 * @param end end of the window, or null for "open-ended"
 * @param reservationId the reservation the share is bound to
 */
public record ShareSpec(String jobId, int nodeCount, Ipv4Cidr range, Instant start, Instant end,
    String user, String reservationId) {

  /** Whether the two windows share any instant; a missing bound is unbounded. */
  public boolean overlapsInTime(ShareSpec o) {
    boolean startsBeforeOtherEnds = start == null || o.end == null || start.isBefore(o.end);
    boolean otherStartsBeforeThisEnds = o.start == null || end == null || o.start.isBefore(end);
    return startsBeforeOtherEnds && otherStartsBeforeThisEnds;
  }

  public String describe() {
    return "reservation " + reservationId + ", " + nodeCount + " node"
        + (nodeCount == 1 ? "" : "s") + ", range " + range
        + ", user '" + user + "'" + (start == null ? "" : ", from " + start)
        + (end == null ? "" : " until " + end);
  }
}
