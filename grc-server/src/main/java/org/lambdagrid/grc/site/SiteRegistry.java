package org.lambdagrid.grc.site;

import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * The sites the grid knows.
 *
 * <p>Node accounting is the reservation service's: a re-registration asks the {@link NodeView}
 * how many nodes reservations hold on the site from now on.
 *
 * <p>Thread-safe: every method locks this registry. Callers that must make a registry decision
 * and an {@link AddressAllocator} decision atomically lock the registry first, then the
 * allocator (that is the only lock order used).
 */
public final class SiteRegistry {
  /** Site names: short, DNS-label-like, so "{@code <site>-<index>}" is a valid hostname. */
  public static final Pattern NAME = Pattern.compile("[a-z][a-z0-9-]{0,15}");

  /** What the allocator currently leases on a site; consulted when a site re-registers. */
  @FunctionalInterface
  public interface LeaseView {
    List<Ipv4Cidr> leasedOn(String site);
  }

  private final Clock clock;
  private final LeaseView leases;
  /** How many of a site's nodes reservations hold at most, from now on. */
  @FunctionalInterface
  public interface NodeView {
    long peakFromNow(String site);
  }

  private final Map<String, Site> sites = new TreeMap<>();
  /** Counts every change of {@link #sites}, so readers can skip re-reading an unchanged list. */
  private long version;
  private final NodeView nodes;
  private final java.util.function.Consumer<Site> ledger;

  /** Without node accounting (a re-registration may set any capacity) and without a ledger. */
  public SiteRegistry(Clock clock, LeaseView leases) {
    this(clock, leases, site -> 0, site -> { });
  }

  /**
   * @param nodes consulted when a site re-registers with fewer nodes
   * @param ledger records a (re-)registered site durably before {@link #register} returns; if
   *     it throws, the registration fails and nothing changes
   */
  public SiteRegistry(Clock clock, LeaseView leases, NodeView nodes,
      java.util.function.Consumer<Site> ledger) {
    this.clock = clock;
    this.leases = leases;
    this.nodes = nodes;
    this.ledger = ledger;
  }

  /** Puts back a site read from the ledger at start-up (not written again). */
  public synchronized void restore(Site site) {
    sites.put(site.name(), site);
    version++;
  }

  /**
   * Registers or re-registers a site. Idempotent: the same arguments again replace the site
   * with an equal value. A re-registration may not drop capacity below the nodes live jobs hold
   * nor remove a range that holds a live lease (FAILED_PRECONDITION).
   *
   * @param slotsPerNode 0 means the default, 1
   * @throws Errors.RequestException INVALID_ARGUMENT for a bad name, endpoint, capacity, range;
   *     ALREADY_EXISTS if two of the site's ranges overlap; FAILED_PRECONDITION as above
   */
  public synchronized Site register(String name, String crmEndpoint, int nodeCapacity,
      List<String> ranges, int slotsPerNode) {
    return register(name, crmEndpoint, nodeCapacity, ranges, slotsPerNode, null);
  }

  /**
   * As {@link #register(String, String, int, List, int)}, for a routed site with {@code overlay}
   * (null: not routed). INVALID_ARGUMENT naming {@code overlay.endpoint}, {@code overlay.netns}
   * or {@code overlay.underlay_mtu} for a bad value; ALREADY_EXISTS when another site registered
   * the same endpoint (in the same namespace). An underlay MTU of 0 means 1500.
   */
  public synchronized Site register(String name, String crmEndpoint, int nodeCapacity,
      List<String> ranges, int slotsPerNode, Site.Overlay overlay) {
    if (name == null || !NAME.matcher(name).matches()) {
      throw Errors.invalid("name", name, "is not a site name (lower-case letter, then up to 15 of"
          + " a-z, 0-9, '-')");
    }
    Endpoint endpoint;
    try {
      endpoint = Endpoint.parse(crmEndpoint);
    } catch (IllegalArgumentException e) {
      throw Errors.invalid("crm_endpoint", crmEndpoint, "is not host:port");
    }
    if (endpoint.port() == 0) {
      throw Errors.invalid("crm_endpoint", crmEndpoint, "has port 0; give the CRM's real port");
    }
    if (nodeCapacity < 1) {
      throw Errors.invalid("node_capacity", nodeCapacity, "must be at least 1");
    }
    if (slotsPerNode < 0) {
      throw Errors.invalid("slots_per_node", slotsPerNode, "must be at least 1 (0 = default 1)");
    }
    if (ranges == null || ranges.isEmpty()) {
      throw Errors.invalid("ranges", "", "is empty; a site must publish at least one range");
    }
    List<Ipv4Cidr> parsed = new ArrayList<>();
    for (int i = 0; i < ranges.size(); i++) {
      String text = ranges.get(i);
      Ipv4Cidr cidr;
      try {
        cidr = Ipv4Cidr.parse(text);
      } catch (IllegalArgumentException e) {
        throw Errors.invalid("ranges[" + i + "]", text, "is not a CIDR block"
            + detail(e.getMessage(), text));
      }
      if (cidr.prefixLength() > 30) {
        throw Errors.invalid("ranges[" + i + "]", text, "is too small: a range needs at least a /30"
            + " (2 usable addresses)");
      }
      for (int j = 0; j < parsed.size(); j++) {
        if (parsed.get(j).overlaps(cidr)) {
          throw Errors.alreadyExists("site '" + name + "': ranges[" + i + "] '" + cidr
              + "' overlaps ranges[" + j + "] '" + parsed.get(j) + "'");
        }
      }
      parsed.add(cidr);
    }
    parsed.sort(Comparator.naturalOrder());
    Site.Overlay ov = overlay == null ? null : overlay(name, overlay);
    if (sites.containsKey(name)) {
      long held = nodes.peakFromNow(name);
      if (nodeCapacity < held) {
        throw Errors.precondition("site '" + name + "': node_capacity " + nodeCapacity
            + " is less than the " + held + " nodes its reservations hold");
      }
      for (Ipv4Cidr leased : leases.leasedOn(name)) {
        if (parsed.stream().noneMatch(r -> r.contains(leased))) {
          throw Errors.precondition("site '" + name + "': the new ranges drop " + leased
              + ", which a live job holds");
        }
      }
    }
    Site site = new Site(name, endpoint, nodeCapacity, parsed,
        slotsPerNode == 0 ? 1 : slotsPerNode, clock.instant(), ov);
    ledger.accept(site);
    sites.put(name, site);
    version++;
    return site;
  }

  /** IPv4 dotted quad, each part 0..255 without leading zeros. */
  private static final Pattern IPV4 = Pattern.compile(
      "((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])");
  /** What {@code ip netns} accepts as a name, conservatively. */
  private static final Pattern NETNS = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}");

  private Site.Overlay overlay(String name, Site.Overlay o) {
    String ep = o.endpoint() == null ? "" : o.endpoint();
    if (!IPV4.matcher(ep).matches()) {
      throw Errors.invalid("overlay.endpoint", ep, "is not an IPv4 address (the site's VTEP on the"
          + " routed underlay)");
    }
    int first = Integer.parseInt(ep.substring(0, ep.indexOf('.')));
    if (first == 0 || first == 127 || first >= 224) {
      throw Errors.invalid("overlay.endpoint", ep, "is not a unicast address another site can reach");
    }
    String netns = o.netns() == null ? "" : o.netns();
    if (!netns.isEmpty() && !NETNS.matcher(netns).matches()) {
      throw Errors.invalid("overlay.netns", netns, "is not a network namespace name (1-64 of A-Z a-z"
          + " 0-9 _ . -, not starting with . or -)");
    }
    int mtu = o.underlayMtu() == 0 ? 1500 : o.underlayMtu();
    if (mtu < 1330 || mtu > 65535) {
      throw Errors.invalid("overlay.underlay_mtu", o.underlayMtu(), "is not 1330..65535 (the"
          + " overlay's MTU is 50 less and must be at least 1280)");
    }
    for (Site other : sites.values()) {
      if (!other.name().equals(name) && other.overlay() != null && other.overlay().endpoint().equals(ep)
          && other.overlay().netns().equals(netns)) {
        throw Errors.alreadyExists("site '" + name + "': overlay.endpoint '" + ep + "'"
            + (netns.isEmpty() ? "" : " in netns '" + netns + "'") + " is already site '" + other.name()
            + "''s; each routed site needs its own endpoint");
      }
    }
    return new Site.Overlay(ep, netns, mtu);
  }

  /** The part of Ipv4Cidr's message after the quoted input, e.g. ": prefix must be 0..32". */
  private static String detail(String message, String text) {
    String prefix = "'" + text + "' is not a CIDR block";
    if (message != null && message.startsWith(prefix)) {
      return message.substring(prefix.length());
    }
    return "";
  }

  public synchronized Optional<Site> get(String name) {
    return Optional.ofNullable(sites.get(name));
  }

  /** The site; NOT_FOUND naming the registered ones when it is not one of them. */
  public synchronized Site require(String name) {
    Site site = sites.get(name);
    if (site == null) {
      String known = String.join(", ", sites.keySet());
      throw Errors.notFound("site '" + name + "' is not registered (known sites: "
          + (known.isEmpty() ? "none" : known) + ")");
    }
    return site;
  }

  /** All sites, sorted by name. */
  /** Changes with every registration or restore (never goes back). */
  public synchronized long version() {
    return version;
  }

  public synchronized List<Site> list() {
    return List.copyOf(sites.values());
  }
}
