package org.lambdagrid.crm.site;

import java.time.Duration;
import java.util.List;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.reservation.HoldTable;

/**
 * What the site core needs to know about its site.
 *
 * @param site the site's name; hostnames are {@code <site>-<index>}
 * @param nodeCapacity how many nodes live shares may hold at once
 * @param ranges the address pools the site publishes; every share's sub-range lies in one
 * @param slotsPerNode MPI slots per node, unless a SetupNodes request says otherwise
 * @param phaseTimeout the barrier timeout when a request carries none
 * @param shutdownWait how long release waits for the pilots' SHUTDOWN replies
 * @param holdTime how long a prepared reservation waits for its commit before it expires
 * @param credentialTtl how long a pilot's one-time credential is valid after it was issued, or
 *     null: until the launch phase's deadline (the credential never outlives that deadline)
 * @param reconnectGrace after a restart, how long a re-adoptable share waits for its pilots to
 *     redial (a node not back by then is LOST) and for the GRC to watch it again (a share nobody
 *     watched by then is released); null = {@link #DEFAULT_RECONNECT_GRACE}
 * @param accounts which local account each grid user runs as here; null =
 *     {@link SiteAccounts#SAME_NAME}
 */
public record SiteSettings(String site, int nodeCapacity, List<Ipv4Cidr> ranges,
    int slotsPerNode, Duration phaseTimeout, Duration shutdownWait, Duration holdTime,
    Duration credentialTtl, Duration reconnectGrace, SiteAccounts accounts) {
  public static final Duration DEFAULT_RECONNECT_GRACE = Duration.ofSeconds(60);

  public SiteSettings {
    ranges = List.copyOf(ranges);
    holdTime = holdTime == null ? HoldTable.DEFAULT_HOLD_TIME : holdTime;
    reconnectGrace = reconnectGrace == null ? DEFAULT_RECONNECT_GRACE : reconnectGrace;
    accounts = accounts == null ? SiteAccounts.SAME_NAME : accounts;
  }

  /** Every grid user runs as the local account of its own name. */
  public SiteSettings(String site, int nodeCapacity, List<Ipv4Cidr> ranges, int slotsPerNode,
      Duration phaseTimeout, Duration shutdownWait, Duration holdTime, Duration credentialTtl,
      Duration reconnectGrace) {
    this(site, nodeCapacity, ranges, slotsPerNode, phaseTimeout, shutdownWait, holdTime,
        credentialTtl, reconnectGrace, null);
  }

  /** The same settings with {@code accounts} (tests). */
  public SiteSettings withAccounts(SiteAccounts accounts) {
    return new SiteSettings(site, nodeCapacity, ranges, slotsPerNode, phaseTimeout, shutdownWait,
        holdTime, credentialTtl, reconnectGrace, accounts);
  }

  /** With the default reconnect grace. */
  public SiteSettings(String site, int nodeCapacity, List<Ipv4Cidr> ranges, int slotsPerNode,
      Duration phaseTimeout, Duration shutdownWait, Duration holdTime, Duration credentialTtl) {
    this(site, nodeCapacity, ranges, slotsPerNode, phaseTimeout, shutdownWait, holdTime,
        credentialTtl, null);
  }

  /** Credentials valid until the launch phase's deadline. */
  public SiteSettings(String site, int nodeCapacity, List<Ipv4Cidr> ranges, int slotsPerNode,
      Duration phaseTimeout, Duration shutdownWait, Duration holdTime) {
    this(site, nodeCapacity, ranges, slotsPerNode, phaseTimeout, shutdownWait, holdTime, null,
        null);
  }

  /** With the default hold time (120 s); credentials valid until the launch phase's deadline. */
  public SiteSettings(String site, int nodeCapacity, List<Ipv4Cidr> ranges, int slotsPerNode,
      Duration phaseTimeout, Duration shutdownWait) {
    this(site, nodeCapacity, ranges, slotsPerNode, phaseTimeout, shutdownWait, null, null, null);
  }

  /** When a credential issued {@code now} for a launch phase ending at {@code deadline} expires. */
  public java.time.Instant credentialExpiry(java.time.Instant now, java.time.Instant deadline) {
    if (credentialTtl == null) {
      return deadline;
    }
    java.time.Instant ttl = now.plus(credentialTtl);
    return ttl.isBefore(deadline) ? ttl : deadline;
  }
}
