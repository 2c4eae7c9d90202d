package org.lambdagrid.grc.reservation;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.reservation.SitePair;

/**
 * The grid as the co-allocator sees it: sites with their node counts, and undirected inter-site
 * links with their capacity in bit/s. Built once from configuration data and immutable, so
 * thread-safe; paths are computed on first use and cached.
 *
 * <p>{@link #path} is the shortest path in hops; among equally short paths the one found by a
 * breadth-first search that visits neighbours in name order wins, so the answer never depends on
 * the order of the configuration.
 */
public final class Topology {
  /** A site and the nodes it can give to reservations (0 for a pure network point). */
  public record Site(String name, int nodes) {}

  /** An undirected link. {@link #id} names it the same whichever way round it was written. */
  public record Link(String a, String b, long capacityBps) {
    public String id() {
      return a.compareTo(b) <= 0 ? a + "<->" + b : b + "<->" + a;
    }

    public boolean joins(String x, String y) {
      return (a.equals(x) && b.equals(y)) || (a.equals(y) && b.equals(x));
    }

    String other(String site) {
      return a.equals(site) ? b : a;
    }

    @Override
    public String toString() {
      return id() + " (" + Quantities.formatRate(capacityBps) + ")";
    }
  }

  private final Map<String, Site> sites;
  private final Map<String, Link> links; // by id, in id order
  private final Map<String, List<Link>> adjacency; // neighbours' links in neighbour-name order
  private final Map<SitePair, Optional<List<Link>>> paths = new ConcurrentHashMap<>();

  private Topology(Map<String, Site> sites, Map<String, Link> links) {
    this.sites = sites;
    this.links = links;
    Map<String, List<Link>> adj = new HashMap<>();
    for (String s : sites.keySet()) {
      adj.put(s, new ArrayList<>());
    }
    for (Link l : links.values()) {
      adj.get(l.a()).add(l);
      adj.get(l.b()).add(l);
    }
    for (Map.Entry<String, List<Link>> e : adj.entrySet()) {
      String self = e.getKey();
      e.getValue().sort((x, y) -> x.other(self).compareTo(y.other(self)));
      e.setValue(List.copyOf(e.getValue()));
    }
    this.adjacency = adj;
  }

  /**
   * Validates and builds. Throws {@link ConfigException} naming the field and the value:
   * {@code links[2].b: 'kyoto' is not a site}, {@code links[1]: 'a<->b' duplicates links[0]},
   * {@code links[0].capacityBps: '0' must be positive}.
   */
  public static Topology of(List<Site> sites, List<Link> links) {
    Map<String, Site> siteMap = new TreeMap<>();
    for (int i = 0; i < sites.size(); i++) {
      Site s = sites.get(i);
      String f = "sites[" + i + "]";
      if (s == null) {
        throw new ConfigException(f + ": is missing");
      }
      if (s.name() == null || s.name().isBlank()) {
        throw new ConfigException(f + ".name: '" + s.name() + "' must not be blank");
      }
      if (s.nodes() < 0) {
        throw new ConfigException(f + ".nodes: '" + s.nodes() + "' must not be negative");
      }
      if (siteMap.putIfAbsent(s.name(), s) != null) {
        throw new ConfigException(f + ".name: '" + s.name() + "' is already a site");
      }
    }
    Map<String, Link> linkMap = new TreeMap<>();
    Map<String, Integer> firstIndex = new HashMap<>();
    for (int i = 0; i < links.size(); i++) {
      Link l = links.get(i);
      String f = "links[" + i + "]";
      if (l == null) {
        throw new ConfigException(f + ": is missing");
      }
      for (String[] end : new String[][] {{"a", l.a()}, {"b", l.b()}}) {
        if (end[1] == null || !siteMap.containsKey(end[1])) {
          throw new ConfigException(
              f + "." + end[0] + ": '" + end[1] + "' is not a site (sites: "
                  + String.join(", ", siteMap.keySet()) + ")");
        }
      }
      if (l.a().equals(l.b())) {
        throw new ConfigException(f + ".b: '" + l.b() + "' is the same site as links[" + i + "].a");
      }
      if (l.capacityBps() <= 0) {
        throw new ConfigException(f + ".capacityBps: '" + l.capacityBps() + "' must be positive");
      }
      Integer earlier = firstIndex.putIfAbsent(l.id(), i);
      if (earlier != null) {
        throw new ConfigException(f + ": '" + l.id() + "' duplicates links[" + earlier + "]");
      }
      linkMap.put(l.id(), l);
    }
    return new Topology(Collections.unmodifiableMap(siteMap), Collections.unmodifiableMap(linkMap));
  }

  /** This topology with site {@code name} added, or its node count replaced; links unchanged. */
  public Topology withSite(String name, int nodes) {
    if (nodes < 0) {
      throw new IllegalArgumentException("site '" + name + "': nodes " + nodes + " is negative");
    }
    Map<String, Site> s = new TreeMap<>(sites);
    s.put(name, new Site(name, nodes));
    return new Topology(Collections.unmodifiableMap(s), links);
  }

  /** All sites, in name order. */
  public List<Site> sites() {
    return List.copyOf(sites.values());
  }

  public Optional<Site> site(String name) {
    return Optional.ofNullable(sites.get(name));
  }

  /** The site, or NOT_FOUND naming it and the known sites. */
  public Site requireSite(String name) {
    Site s = sites.get(name);
    if (s == null) {
      throw Errors.notFound("unknown site '" + name + "' (sites: " + describeSites() + ")");
    }
    return s;
  }

  /** All links, in id order. */
  public List<Link> links() {
    return List.copyOf(links.values());
  }

  public Optional<Link> link(String id) {
    return Optional.ofNullable(links.get(id));
  }

  /**
   * The links between two sites, shortest in hops (empty when {@code a} equals {@code b}); NOT_FOUND
   * for an unknown site; FAILED_PRECONDITION when no link chain joins them.
   */
  public List<Link> path(String a, String b) {
    return route(a, b).orElseThrow(() -> Errors.precondition(
        "no network path joins sites '" + a + "' and '" + b + "'"));
  }

  /** Like {@link #path} but empty when the sites are not connected. */
  public Optional<List<Link>> route(String a, String b) {
    requireSite(a);
    requireSite(b);
    SitePair key = SitePair.of(a, b);
    // Cached once per unordered pair (searched from the lower name): the same links either way.
    return paths.computeIfAbsent(key, k -> bfs(k.a(), k.b()));
  }

  /** The smallest capacity along a path; Long.MAX_VALUE for the empty path. */
  public static long bottleneck(List<Link> path) {
    long min = Long.MAX_VALUE;
    for (Link l : path) {
      min = Math.min(min, l.capacityBps());
    }
    return min;
  }

  private Optional<List<Link>> bfs(String from, String to) {
    if (from.equals(to)) {
      return Optional.of(List.of());
    }
    Map<String, Link> via = new LinkedHashMap<>();
    via.put(from, null);
    ArrayDeque<String> queue = new ArrayDeque<>();
    queue.add(from);
    while (!queue.isEmpty()) {
      String here = queue.poll();
      for (Link l : adjacency.get(here)) {
        String next = l.other(here);
        if (via.containsKey(next)) {
          continue;
        }
        via.put(next, l);
        if (next.equals(to)) {
          List<Link> path = new ArrayList<>();
          for (String s = to; !s.equals(from); s = via.get(s).other(s)) {
            path.add(via.get(s));
          }
          Collections.reverse(path);
          return Optional.of(List.copyOf(path));
        }
        queue.add(next);
      }
    }
    return Optional.empty();
  }

  private String describeSites() {
    if (sites.size() <= 10) {
      return String.join(", ", sites.keySet());
    }
    return String.join(", ", new ArrayList<>(sites.keySet()).subList(0, 10)) + ", ... "
        + sites.size() + " in all";
  }
}
