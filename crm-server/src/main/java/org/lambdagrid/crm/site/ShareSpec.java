package org.lambdagrid.crm.site;

import java.time.Instant;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * What ReserveShare asks a site to hold for a job.
 *
 * @param start start of the window, or null for "from now"
 * @param end end of the window, or null for "open-ended"
 */
public record ShareSpec(String jobId, int nodeCount, Ipv4Cidr range, Instant start, Instant end,
    String user) {

  /** Whether the two windows share any instant; a missing bound is unbounded. */
  public boolean overlapsInTime(ShareSpec o) {
    boolean startsBeforeOtherEnds = start == null || o.end == null || start.isBefore(o.end);
    boolean otherStartsBeforeThisEnds = o.start == null || end == null || o.start.isBefore(end);
    return startsBeforeOtherEnds && otherStartsBeforeThisEnds;
  }

  public String describe() {
    return nodeCount + " node" + (nodeCount == 1 ? "" : "s") + ", range " + range
        + ", user '" + user + "'" + (start == null ? "" : ", from " + start)
        + (end == null ? "" : " until " + end);
  }
}
