package org.lambdagrid.grc.reservation;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.reservation.Calendar;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.reservation.Window;

/**
 * Finds and holds co-allocation windows: nodes on several sites plus bandwidth on the path
 * between every pair of them, all for the same time. Keeps one node {@link Calendar} per site
 * (capacity = the site's nodes) and one bandwidth calendar per link (capacity = its bit/s).
 *
 * <p>Search ({@link #find}): candidate starts are the earliest start and every later instant at
 * which some hold ends; the first candidate where every site has the nodes and every link the
 * summed bandwidth for the whole window wins. A resource that is over its limit at time t inside
 * the window also rules out every start up to the moment its level falls back within the limit,
 * so the search jumps there instead of trying each hold end: the answer is the same, the cost is
 * proportional to the number of times the window has to move.
 *
 * <p>With {@code totalNodes}, the sites are chosen at each candidate start: sites sorted by free
 * nodes over the window (most first, then by name) are taken until the total is reached, which
 * gives the fewest sites; the last one chosen gives only what is still missing. If the chosen
 * sites' paths lack bandwidth, that candidate fails and the search moves on (other choices of
 * sites are not tried).
 *
 * <p>Refusals are {@link Errors.RequestException}s: INVALID_ARGUMENT for input that is wrong or
 * could never fit (naming the field and the value), NOT_FOUND for an unknown site,
 * FAILED_PRECONDITION when no window exists before the deadline (naming the bottleneck at the
 * earliest start), ALREADY_EXISTS for a reused hold id.
 *
 * <p>Thread-safe: every public method is synchronized on this allocator, so {@link #reserve} is
 * atomic (find + hold all, or nothing). The calendars are never handed out.
 */
public final class CoAllocator {
  /** How far before "now" an earliest start may lie and still count as "now" (clock skew). */
  public static final Duration DEFAULT_CLOCK_SKEW = Duration.ofSeconds(60);

  private record Held(Window window, Map<String, Integer> nodes, Map<String, Long> linkBps) {}

  /** A resource over its limit somewhere in a candidate window. */
  private record Shortfall(String what, long free, long asked, long at, boolean nodes) {
    String describe() {
      return nodes
          ? what + " has " + free + " nodes free, " + asked + " asked (busy at " + Instant.ofEpochMilli(at) + ")"
          : what + " has " + Quantities.formatRate(free) + " free, " + Quantities.formatRate(asked)
              + " asked (busy at " + Instant.ofEpochMilli(at) + ")";
    }
  }

  private Topology topology; // replaced by setSite; guarded by this
  private final Duration clockSkew;
  private final Map<String, Calendar> siteCalendars = new TreeMap<>();
  private final Map<String, Calendar> linkCalendars = new TreeMap<>();
  private final Map<String, Held> holds = new HashMap<>();
  private final Map<String, HeldPlan> reservations = new LinkedHashMap<>();
  private final AtomicLong sequence = new AtomicLong();

  public CoAllocator(Topology topology) {
    this(topology, DEFAULT_CLOCK_SKEW);
  }

  public CoAllocator(Topology topology, Duration clockSkew) {
    this.topology = topology;
    this.clockSkew = clockSkew;
    for (Topology.Site s : topology.sites()) {
      siteCalendars.put(s.name(), new Calendar("site '" + s.name() + "'", s.nodes()));
    }
    for (Topology.Link l : topology.links()) {
      linkCalendars.put(l.id(), new Calendar("link '" + l.id() + "'", l.capacityBps()));
    }
  }

  public synchronized Topology topology() {
    return topology;
  }

  /**
   * Adds site {@code name} with {@code nodes} nodes, or changes its node count, keeping every
   * hold (a CRM registered or re-registered). Links are those of the configured topology.
   */
  public synchronized void setSite(String name, int nodes) {
    Optional<Topology.Site> current = topology.site(name);
    if (current.isPresent() && current.get().nodes() == nodes) {
      return;
    }
    topology = topology.withSite(name, nodes);
    Calendar old = siteCalendars.get(name);
    siteCalendars.put(name, old == null ? new Calendar("site '" + name + "'", nodes)
        : old.withCapacity(nodes));
  }

  /**
   * The earliest window for {@code request}, holding nothing. {@code now} is the caller's clock
   * (used for "start in the past" and as the earliest start when none is given).
   */
  public synchronized Plan find(Request request, Instant now) {
    Checked c = check(request, now);
    return c.total ? searchTotal(c) : searchPerSite(c);
  }

  /** {@link #find} and hold everything under a new id, atomically. */
  public synchronized HeldPlan reserve(Request request, Instant now) {
    Plan plan = find(request, now);
    String id = nextId();
    holdChecked(id, plan);
    return reservations.get(id);
  }

  /**
   * Holds a plan found earlier (for example after the resource managers committed it) under
   * {@code id}, atomically: FAILED_PRECONDITION naming the resource if it no longer fits,
   * ALREADY_EXISTS if the id is held.
   */
  public synchronized HeldPlan hold(String id, Plan plan) {
    holdChecked(id, plan);
    return reservations.get(id);
  }

  /**
   * Holds bandwidth alone on the paths between the given pairs (used by
   * {@link CalendarNetworkResourceManager}); released by {@link #release}. INVALID_ARGUMENT for a
   * pair no path joins, FAILED_PRECONDITION naming the link when it lacks room.
   */
  public synchronized void holdBandwidth(String holdId, Window window, Map<SitePair, Long> bandwidth) {
    Map<String, Long> links = new TreeMap<>();
    for (Map.Entry<SitePair, Long> e : bandwidth.entrySet()) {
      if (e.getValue() <= 0) {
        throw Errors.invalid("bandwidth." + e.getKey(), e.getValue(), "is not positive: bandwidth must be positive");
      }
      List<Topology.Link> path = topology.route(e.getKey().a(), e.getKey().b()).orElseThrow(() ->
          Errors.invalid("bandwidth." + e.getKey(), Quantities.formatRate(e.getValue()),
              "cannot be carried: no network path joins the two sites"));
      for (Topology.Link l : path) {
        links.merge(l.id(), e.getValue(), CoAllocator::saturatingAdd);
      }
    }
    holdResources(holdId, new Held(window, Map.of(), links));
  }

  /** Frees exactly what {@code id} held. Idempotent: false when nothing was held under it. */
  public synchronized boolean release(String id) {
    Held h = holds.remove(id);
    reservations.remove(id);
    if (h == null) {
      return false;
    }
    h.nodes.keySet().forEach(s -> siteCalendars.get(s).remove(id));
    h.linkBps.keySet().forEach(l -> linkCalendars.get(l).remove(id));
    return true;
  }

  public synchronized Optional<HeldPlan> reservation(String id) {
    return Optional.ofNullable(reservations.get(id));
  }

  /** Reservations held, in the order they were made. */
  public synchronized List<HeldPlan> reservations() {
    return List.copyOf(reservations.values());
  }

  /** Nodes of {@code site} free for the whole window. */
  public synchronized long freeNodes(String site, Window w) {
    topology.requireSite(site);
    return siteCalendars.get(site).free(w.startMillis(), w.endMillis());
  }

  /** Node usage of the site at an instant (for tests and listings). */
  public synchronized long nodesInUse(String site, Instant at) {
    topology.requireSite(site);
    return siteCalendars.get(site).usageAt(at.toEpochMilli());
  }

  /** The most nodes of the site held at any instant from {@code from} on; 0 for an unknown site. */
  public synchronized long peakNodes(String site, Instant from) {
    Calendar c = siteCalendars.get(site);
    return c == null ? 0 : c.maxUsage(from.toEpochMilli(), Long.MAX_VALUE);
  }

  /** Bandwidth in use on the link at an instant (for tests and listings). */
  public synchronized long bandwidthInUse(String linkId, Instant at) {
    Calendar c = linkCalendars.get(linkId);
    if (c == null) {
      throw Errors.notFound("unknown link '" + linkId + "'");
    }
    return c.usageAt(at.toEpochMilli());
  }

  // ---- validation -------------------------------------------------------------------------

  /** A request that passed validation, in calendar units. */
  private record Checked(
      boolean total, Map<String, Integer> nodes, int totalNodes, long bps, long start, long duration,
      long deadline, Request request) {}

  private Checked check(Request r, Instant now) {
    if (r.duration() == null || r.duration().isNegative() || r.duration().toMillis() <= 0) {
      throw Errors.invalid("duration", r.duration(), "must be positive");
    }
    boolean perSite = !r.nodesPerSite().isEmpty();
    if (perSite && r.totalNodes() != 0) {
      throw Errors.invalid("totalNodes", r.totalNodes(), "cannot be given with nodesPerSite; ask for one or the other");
    }
    if (perSite) {
      for (Map.Entry<String, Integer> e : r.nodesPerSite().entrySet()) {
        Topology.Site site = topology.requireSite(e.getKey());
        int n = e.getValue() == null ? 0 : e.getValue();
        if (n <= 0) {
          throw Errors.invalid("nodesPerSite." + site.name(), e.getValue(), "must be at least 1");
        }
        if (n > site.nodes()) {
          throw Errors.invalid("nodesPerSite." + site.name(), n, "is more than the site has: site '"
              + site.name() + "' has " + site.nodes() + " nodes; " + n + " were asked for");
        }
      }
    } else {
      if (r.totalNodes() <= 0) {
        throw Errors.invalid("totalNodes", r.totalNodes(), "must be at least 1 (or give nodesPerSite)");
      }
      long all = topology.sites().stream().mapToLong(Topology.Site::nodes).sum();
      if (r.totalNodes() > all) {
        throw Errors.invalid("totalNodes", r.totalNodes(), "is more than the grid has: its "
            + topology.sites().size() + " sites have " + all + " nodes; " + r.totalNodes() + " were asked for");
      }
    }
    long bps = 0;
    if (r.bandwidthBps().isPresent()) {
      bps = r.bandwidthBps().getAsLong();
      if (bps <= 0) {
        throw Errors.invalid("bandwidthBps", bps, "is not positive: bandwidth must be positive (omit it for none)");
      }
    }
    Instant start = r.earliestStart() == null ? now : r.earliestStart();
    if (start.isBefore(now.minus(clockSkew))) {
      throw Errors.invalid("earliestStart", start, "is in the past: it is now " + now);
    }
    if (start.isBefore(now)) {
      start = now; // within the skew: means "now"
    }
    long deadline = Calendar.NONE;
    if (r.deadline() != null) {
      if (!r.deadline().isAfter(start)) {
        throw Errors.invalid("deadline", r.deadline(), "is not after the start " + start + ": the end must come after the start");
      }
      if (r.deadline().isBefore(start.plus(r.duration()))) {
        throw Errors.invalid("deadline", r.deadline(), "leaves less than the duration " + r.duration()
            + " after the start " + start);
      }
      deadline = r.deadline().toEpochMilli();
    }
    if (perSite && bps > 0) {
      checkPathCapacity(pairs(r.nodesPerSite().keySet(), bps));
    }
    return new Checked(!perSite, r.nodesPerSite(), r.totalNodes(), bps, start.toEpochMilli(),
        r.duration().toMillis(), deadline, r);
  }

  /** INVALID_ARGUMENT when a pair has no path or a link cannot carry its summed demand even when idle. */
  private void checkPathCapacity(Map<SitePair, Long> bandwidth) {
    Map<String, Long> demand = new TreeMap<>();
    Map<String, List<SitePair>> users = new TreeMap<>();
    for (Map.Entry<SitePair, Long> e : bandwidth.entrySet()) {
      SitePair p = e.getKey();
      List<Topology.Link> path = topology.route(p.a(), p.b()).orElseThrow(() -> Errors.invalid(
          "bandwidthBps", Quantities.formatRate(e.getValue()),
          "cannot be carried: no network path joins sites '" + p.a() + "' and '" + p.b() + "'"));
      for (Topology.Link l : path) {
        demand.merge(l.id(), e.getValue(), CoAllocator::saturatingAdd);
        users.computeIfAbsent(l.id(), k -> new ArrayList<>()).add(p);
      }
    }
    for (Map.Entry<String, Long> e : demand.entrySet()) {
      Topology.Link l = topology.link(e.getKey()).orElseThrow();
      if (e.getValue() > l.capacityBps()) {
        List<SitePair> who = users.get(l.id());
        long each = bandwidth.get(who.get(0));
        throw Errors.invalid("bandwidthBps", Quantities.formatRate(each),
            "is more than link '" + l.id() + "' can carry: it has " + Quantities.formatRate(l.capacityBps())
                + (who.size() == 1
                    ? " and the path " + who.get(0) + " needs " + Quantities.formatRate(e.getValue())
                    : " and the pairs " + who + " crossing it need " + Quantities.formatRate(e.getValue()) + " in all"));
      }
    }
  }

  /** Every pair of {@code sites} with {@code bps}; empty when no bandwidth is asked. */
  private static Map<SitePair, Long> pairs(java.util.Collection<String> sites, long bps) {
    Map<SitePair, Long> out = new TreeMap<>();
    if (bps <= 0) {
      return out;
    }
    List<String> list = List.copyOf(new TreeSet<>(sites));
    for (int i = 0; i < list.size(); i++) {
      for (int j = i + 1; j < list.size(); j++) {
        out.put(SitePair.of(list.get(i), list.get(j)), bps);
      }
    }
    return out;
  }

  private Map<String, Long> linkDemand(Map<SitePair, Long> bandwidth) {
    Map<String, Long> demand = new TreeMap<>();
    for (Map.Entry<SitePair, Long> e : bandwidth.entrySet()) {
      Optional<List<Topology.Link>> path = topology.route(e.getKey().a(), e.getKey().b());
      if (path.isEmpty()) {
        return null;
      }
      for (Topology.Link l : path.get()) {
        demand.merge(l.id(), e.getValue(), CoAllocator::saturatingAdd);
      }
    }
    return demand;
  }

  /**
   * Summed bit/s on a link: saturates at {@code Long.MAX_VALUE} instead of wrapping, so a demand
   * too large for {@code long} is refused as more than any link carries, never admitted.
   */
  public static long saturatingAdd(long a, long b) {
    long r = a + b;
    return ((a ^ r) & (b ^ r)) < 0 ? (r < 0 ? Long.MAX_VALUE : Long.MIN_VALUE) : r;
  }

  // ---- search -----------------------------------------------------------------------------

  private Plan searchPerSite(Checked c) {
    Map<SitePair, Long> bandwidth = pairs(c.nodes.keySet(), c.bps);
    Map<String, Long> links = linkDemand(bandwidth); // non-null: checkPathCapacity passed
    Shortfall first = null;
    long s = c.start;
    while (true) {
      if (c.deadline != Calendar.NONE && s + c.duration > c.deadline) {
        throw noWindow(c, first);
      }
      long e = s + c.duration;
      long next = s;
      Shortfall shortfall = null;
      for (Map.Entry<String, Integer> n : c.nodes.entrySet()) {
        Calendar cal = siteCalendars.get(n.getKey());
        long limit = cal.capacity() - n.getValue();
        long t = cal.firstOver(s, e, limit);
        if (t != Calendar.NONE) {
          if (shortfall == null) {
            shortfall = new Shortfall(cal.name(), cal.free(s, e), n.getValue(), t, true);
          }
          next = Math.max(next, cal.nextAtOrBelow(t, limit));
        }
      }
      for (Map.Entry<String, Long> l : links.entrySet()) {
        Calendar cal = linkCalendars.get(l.getKey());
        long limit = cal.capacity() - l.getValue();
        long t = cal.firstOver(s, e, limit);
        if (t != Calendar.NONE) {
          if (shortfall == null) {
            shortfall = new Shortfall(cal.name(), cal.free(s, e), l.getValue(), t, false);
          }
          next = Math.max(next, cal.nextAtOrBelow(t, limit));
        }
      }
      if (shortfall == null) {
        return new Plan(window(s, e), c.nodes, bandwidth, links);
      }
      if (first == null) {
        first = shortfall;
      }
      if (next <= s) { // cannot happen: every level falls to 0 after the last hold
        throw noWindow(c, first);
      }
      s = next;
    }
  }

  private Plan searchTotal(Checked c) {
    Shortfall first = null;
    long s = c.start;
    while (true) {
      if (c.deadline != Calendar.NONE && s + c.duration > c.deadline) {
        throw noWindow(c, first);
      }
      long e = s + c.duration;
      List<Map.Entry<String, Long>> free = new ArrayList<>();
      long freeAll = 0;
      for (Map.Entry<String, Calendar> site : siteCalendars.entrySet()) {
        long f = site.getValue().free(s, e);
        if (f > 0) {
          free.add(Map.entry(site.getKey(), f));
          freeAll += f;
        }
      }
      Shortfall shortfall = null;
      if (freeAll < c.totalNodes) {
        shortfall = new Shortfall("the grid", freeAll, c.totalNodes, s, true);
      } else {
        free.sort(Comparator.<Map.Entry<String, Long>>comparingLong(Map.Entry::getValue).reversed()
            .thenComparing(Map.Entry::getKey));
        Map<String, Integer> chosen = new TreeMap<>();
        long missing = c.totalNodes;
        for (Map.Entry<String, Long> f : free) {
          if (missing == 0) {
            break;
          }
          long take = Math.min(missing, f.getValue());
          chosen.put(f.getKey(), (int) take);
          missing -= take;
        }
        Map<SitePair, Long> bandwidth = pairs(chosen.keySet(), c.bps);
        Map<String, Long> links = linkDemand(bandwidth);
        if (links == null) {
          shortfall = new Shortfall("the network between " + chosen.keySet() + " (no path)", 0, c.bps, s, false);
        } else {
          for (Map.Entry<String, Long> l : links.entrySet()) {
            Calendar cal = linkCalendars.get(l.getKey());
            long t = cal.firstOver(s, e, cal.capacity() - l.getValue());
            if (t != Calendar.NONE) {
              shortfall = new Shortfall(cal.name(), cal.free(s, e), l.getValue(), t, false);
              break;
            }
          }
        }
        if (shortfall == null) {
          return new Plan(window(s, e), chosen, bandwidth, links);
        }
      }
      if (first == null) {
        first = shortfall;
      }
      long next = Long.MAX_VALUE;
      for (Calendar cal : siteCalendars.values()) {
        long t = cal.nextDecreaseAfter(s);
        if (t != Calendar.NONE) {
          next = Math.min(next, t);
        }
      }
      if (c.bps > 0) {
        for (Calendar cal : linkCalendars.values()) {
          long t = cal.nextDecreaseAfter(s);
          if (t != Calendar.NONE) {
            next = Math.min(next, t);
          }
        }
      }
      if (next == Long.MAX_VALUE) { // nothing will ever free up: this choice cannot work
        throw Errors.precondition("no window for " + c.totalNodes + " nodes: at the earliest start "
            + Instant.ofEpochMilli(c.start) + " " + first.describe() + ", and no later hold end changes that");
      }
      s = next;
    }
  }

  private Errors.RequestException noWindow(Checked c, Shortfall first) {
    String why = first == null
        ? "the window does not fit before the deadline"
        : "at the earliest start " + Instant.ofEpochMilli(c.start) + " the bottleneck is " + first.describe();
    return Errors.precondition("no window of " + Duration.ofMillis(c.duration) + " ends by the deadline "
        + Instant.ofEpochMilli(c.deadline) + ": " + why);
  }

  private static Window window(long s, long e) {
    return new Window(Instant.ofEpochMilli(s), Instant.ofEpochMilli(e));
  }

  // ---- holding ----------------------------------------------------------------------------

  private String nextId() {
    String id;
    do {
      id = String.format("resv-%06d", sequence.incrementAndGet());
    } while (holds.containsKey(id));
    return id;
  }

  private void holdChecked(String id, Plan plan) {
    for (String site : plan.nodes().keySet()) {
      topology.requireSite(site);
    }
    for (String link : plan.linkBps().keySet()) {
      if (!linkCalendars.containsKey(link)) {
        throw Errors.notFound("unknown link '" + link + "'");
      }
    }
    holdResources(id, new Held(plan.window(), plan.nodes(), plan.linkBps()));
    reservations.put(id, HeldPlan.of(id, plan));
  }

  /** Checks every calendar, then adds to every calendar: all or nothing. */
  private void holdResources(String id, Held h) {
    if (holds.containsKey(id)) {
      throw Errors.alreadyExists("hold '" + id + "' already exists");
    }
    long s = h.window.startMillis();
    long e = h.window.endMillis();
    for (Map.Entry<String, Integer> n : h.nodes.entrySet()) {
      Calendar cal = siteCalendars.get(n.getKey());
      if (!cal.fits(s, e, n.getValue())) {
        throw Errors.precondition(cal.name() + " has " + cal.free(s, e) + " nodes free in " + h.window
            + "; " + n.getValue() + " asked");
      }
    }
    for (Map.Entry<String, Long> l : h.linkBps.entrySet()) {
      Calendar cal = linkCalendars.get(l.getKey());
      if (!cal.fits(s, e, l.getValue())) {
        throw Errors.precondition(cal.name() + " has " + Quantities.formatRate(cal.free(s, e))
            + " free in " + h.window + "; " + Quantities.formatRate(l.getValue()) + " asked");
      }
    }
    h.nodes.forEach((site, n) -> siteCalendars.get(site).add(id, s, e, n));
    h.linkBps.forEach((link, bps) -> linkCalendars.get(link).add(id, s, e, bps));
    holds.put(id, h);
  }
}
