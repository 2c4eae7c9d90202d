package org.lambdagrid.grc;

import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * The sites the grid knows, and how many of each site's nodes live jobs hold.
 *
 * <p>Node accounting: a job holds its nodes from submission until it ends ({@link #holdNodes} /
 * {@link #releaseNodes}, keyed by job id). Advance reservations (holding nodes only for a time
 * window) are the co-allocation issue's; until then a held node is held for the job's life.
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
  private final Map<String, Site> sites = new TreeMap<>();
  /** job id -> site -> nodes held. */
  private final Map<String, Map<String, Integer>> holds = new HashMap<>();

  private final java.util.function.Consumer<Site> ledger;

  public SiteRegistry(Clock clock, LeaseView leases) {
    this(clock, leases, site -> { });
  }

  /**
   * @param ledger records a (re-)registered site durably before {@link #register} returns; if
   *     it throws, the registration fails and nothing changes
   */
  public SiteRegistry(Clock clock, LeaseView leases, java.util.function.Consumer<Site> ledger) {
    this.clock = clock;
    this.leases = leases;
    this.ledger = ledger;
  }

  /** Puts back a site read from the ledger at start-up (not written again). */
  public synchronized void restore(Site site) {
    sites.put(site.name(), site);
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
    if (sites.containsKey(name)) {
      int inUse = nodesInUse(name);
      if (nodeCapacity < inUse) {
        throw Errors.precondition("site '" + name + "': node_capacity " + nodeCapacity
            + " is less than the " + inUse + " nodes live jobs hold");
      }
      for (Ipv4Cidr leased : leases.leasedOn(name)) {
        if (parsed.stream().noneMatch(r -> r.contains(leased))) {
          throw Errors.precondition("site '" + name + "': the new ranges drop " + leased
              + ", which a live job holds");
        }
      }
    }
    Site site = new Site(name, endpoint, nodeCapacity, parsed,
        slotsPerNode == 0 ? 1 : slotsPerNode, clock.instant());
    ledger.accept(site);
    sites.put(name, site);
    return site;
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

  /** All sites, sorted by name. */
  public synchronized List<Site> list() {
    return List.copyOf(sites.values());
  }

  public synchronized int nodesInUse(String site) {
    int n = 0;
    for (Map<String, Integer> h : holds.values()) {
      n += h.getOrDefault(site, 0);
    }
    return n;
  }

  /**
   * Holds nodes on each site for a job: all or nothing. Idempotent per job id (a repeat
   * replaces nothing and returns). Sites must exist (the caller validated names).
   *
   * @throws Errors.RequestException INVALID_ARGUMENT if a count exceeds the site's capacity,
   *     FAILED_PRECONDITION if it exceeds the site's free nodes
   */
  public synchronized void holdNodes(String jobId, Map<String, Integer> siteNodes) {
    if (holds.containsKey(jobId)) {
      return;
    }
    for (Map.Entry<String, Integer> e : new TreeMap<>(siteNodes).entrySet()) {
      Site site = sites.get(e.getKey());
      if (site == null) {
        throw Errors.notFound("site '" + e.getKey() + "' is not registered");
      }
      int asked = e.getValue();
      if (asked > site.nodeCapacity()) {
        throw Errors.invalid("spec.site_nodes[" + e.getKey() + "]", asked,
            "is more nodes than site '" + e.getKey() + "' has (capacity "
            + site.nodeCapacity() + ")");
      }
      int free = site.nodeCapacity() - nodesInUse(e.getKey());
      if (asked > free) {
        throw Errors.precondition("site '" + e.getKey() + "' has " + free + " of "
            + site.nodeCapacity() + " nodes free; the job asks for " + asked);
      }
    }
    holds.put(jobId, new LinkedHashMap<>(siteNodes));
  }

  /** Frees a job's nodes. Idempotent. */
  public synchronized void releaseNodes(String jobId) {
    holds.remove(jobId);
  }

  /** Job ids that hold nodes now (for tests and status). */
  public synchronized List<String> holders() {
    return List.copyOf(holds.keySet());
  }
}
