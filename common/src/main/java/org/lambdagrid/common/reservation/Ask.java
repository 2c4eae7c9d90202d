package org.lambdagrid.common.reservation;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/** What one resource manager is asked to hold for a reservation's window. */
public sealed interface Ask {
  /** Nodes on one site: what a site's CRM holds. */
  record Nodes(String site, int nodes) implements Ask {}

  /** Bit/s between pairs of sites: what a network resource manager holds on the paths. */
  record Bandwidth(Map<SitePair, Long> bps) implements Ask {
    public Bandwidth {
      bps = Collections.unmodifiableMap(new TreeMap<>(bps));
    }
  }
}
