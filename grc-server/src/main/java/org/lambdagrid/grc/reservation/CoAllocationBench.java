package org.lambdagrid.grc.reservation;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.Calendar;

/**
 * Co-allocation cost: 100 sites, 10,000 nodes, 10,000 existing reservations, then N decisions
 * ({@link CoAllocator#find}); prints decisions/s and p50/p99 latency, and beside them two
 * baselines measured in the same run: a naive allocator that scans every reservation
 * for every candidate start (and must agree with the co-allocator's windows), and one
 * {@link Calendar#maxUsage} call. Prints, asserts nothing; deterministic input (seeded).
 *
 * <p>Run from the repository root:
 *
 * <pre>
 * mvn -q -B -o install -DskipTests -pl proto,common
 * mvn -q -B -o package -DskipTests -pl grc-server
 * java -cp 'grc-server/target/classes:grc-server/target/lib/*' \
 *     org.lambdagrid.grc.reservation.CoAllocationBench [decisions=20000] [seed=1]
 * </pre>
 *
 * (Only common and grpc-api's {@code Status}, via common's {@code Errors}, are needed at run time.)
 *
 * <p>Grid: sites s000..s099 with 100 nodes each, a ring of 100 Gbit/s links plus chords from
 * every site to the one ten further on at 40 Gbit/s (paths of up to 6 hops). Existing
 * reservations: 1-3 sites, 1-40 nodes per site, half with 1-10 Gbit/s between their sites,
 * 1-12 h long, earliest start uniform over 30 days, each placed by {@link CoAllocator#reserve}.
 * Decisions: 90% ask for 2-4 named sites, 10% for a total of 20-200 nodes.
 */
public final class CoAllocationBench {
  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  private static final int SITES = 100;
  private static final int NODES_PER_SITE = 100;
  private static final long G = 1_000_000_000L;

  private CoAllocationBench() {}

  public static void main(String[] args) {
    int decisions = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
    long seed = args.length > 1 ? Long.parseLong(args[1]) : 1;
    Topology topo = grid();
    CoAllocator alloc = new CoAllocator(topo);
    Random rnd = new Random(seed);

    long t = System.nanoTime();
    int moved = 0;
    for (int i = 0; i < 10_000; i++) {
      Request r = randomRequest(rnd, false);
      HeldPlan res = alloc.reserve(r, T0);
      if (res.window().start().isAfter(r.earliestStart())) {
        moved++;
      }
    }
    double setupMs = (System.nanoTime() - t) / 1e6;
    System.out.printf(Locale.ROOT, "machine: %d cpus, %s %s, java %s%n", Runtime.getRuntime().availableProcessors(),
        System.getProperty("os.name"), System.getProperty("os.arch"), System.getProperty("java.version"));
    System.out.printf(Locale.ROOT, "grid: %d sites, %d nodes, %d links; %d reservations placed in %.0f ms (%d moved past their earliest start)%n",
        SITES, SITES * NODES_PER_SITE, topo.links().size(), alloc.reservations().size(), setupMs, moved);

    // Decisions: warm up, then measure.
    List<Request> warm = new ArrayList<>();
    for (int i = 0; i < 5_000; i++) {
      warm.add(randomRequest(rnd, rnd.nextInt(10) == 0));
    }
    List<Request> reqs = new ArrayList<>();
    for (int i = 0; i < decisions; i++) {
      reqs.add(randomRequest(rnd, rnd.nextInt(10) == 0));
    }
    for (Request r : warm) {
      decide(alloc, r);
    }
    long[] lat = new long[reqs.size()];
    int refused = 0;
    long start = System.nanoTime();
    for (int i = 0; i < reqs.size(); i++) {
      long a = System.nanoTime();
      if (decide(alloc, reqs.get(i)) == null) {
        refused++;
      }
      lat[i] = System.nanoTime() - a;
    }
    double secs = (System.nanoTime() - start) / 1e9;
    System.out.printf(Locale.ROOT, "co-allocator find: %d decisions in %.3f s = %.0f decisions/s; latency p50 %.1f us, p99 %.1f us, max %.1f us (%d refused)%n",
        reqs.size(), secs, reqs.size() / secs, pct(lat, 50), pct(lat, 99), pct(lat, 100), refused);
    long[] named = select(lat, reqs, false);
    long[] total = select(lat, reqs, true);
    System.out.printf(Locale.ROOT, "  of which %d per-site: p50 %.1f us, p99 %.1f us; %d total-count: p50 %.1f us, p99 %.1f us%n",
        named.length, pct(named, 50), pct(named, 99), total.length, pct(total, 50), pct(total, 99));

    // reserve + release (the write path), same requests.
    long[] wlat = new long[Math.min(reqs.size(), 5_000)];
    for (int i = 0; i < wlat.length; i++) {
      long a = System.nanoTime();
      try {
        alloc.release(alloc.reserve(reqs.get(i), T0).id());
      } catch (Errors.RequestException e) {
        // counted as a decision all the same
      }
      wlat[i] = System.nanoTime() - a;
    }
    System.out.printf(Locale.ROOT, "co-allocator reserve+release: p50 %.1f us, p99 %.1f us%n", pct(wlat, 50), pct(wlat, 99));

    // Baseline 1: a naive allocator over the same reservations, on the same per-site requests.
    Naive naive = new Naive(topo, alloc.reservations());
    List<Request> perSite = reqs.stream().filter(r -> !r.nodesPerSite().isEmpty()).limit(200).toList();
    for (Request r : perSite.subList(0, Math.min(20, perSite.size()))) {
      naive.find(r); // warm-up
    }
    long[] nlat = new long[perSite.size()];
    long[] clat = new long[perSite.size()];
    int agree = 0;
    for (int i = 0; i < perSite.size(); i++) {
      Request r = perSite.get(i);
      long a = System.nanoTime();
      Instant n = naive.find(r);
      nlat[i] = System.nanoTime() - a;
      a = System.nanoTime();
      Plan p = decide(alloc, r);
      clat[i] = System.nanoTime() - a;
      if (p != null && p.window().start().equals(n)) {
        agree++;
      }
    }
    System.out.printf(Locale.ROOT, "baseline naive scan allocator (%d per-site requests): p50 %.1f us, p99 %.1f us; co-allocator on the same: p50 %.1f us, p99 %.1f us; speed-up p50 %.0fx, p99 %.0fx; same window %d/%d%n",
        perSite.size(), pct(nlat, 50), pct(nlat, 99), pct(clat, 50), pct(clat, 99),
        pct(nlat, 50) / pct(clat, 50), pct(nlat, 99) / pct(clat, 99), agree, perSite.size());

    // Baseline 2: one Calendar.maxUsage over a one-day window on a site calendar.
    Calendar cal = new Calendar("bench", Long.MAX_VALUE / 4);
    for (HeldPlan r : alloc.reservations()) {
      Integer n = r.nodes().get("s000");
      if (n != null) {
        cal.add(r.id(), r.window().startMillis(), r.window().endMillis(), n);
      }
    }
    long sink = 0;
    int reps = 1_000_000;
    long day = Duration.ofDays(1).toMillis();
    long[] starts = new long[1024];
    for (int i = 0; i < starts.length; i++) {
      starts[i] = T0.toEpochMilli() + (long) (rnd.nextDouble() * Duration.ofDays(30).toMillis());
    }
    for (int i = 0; i < reps; i++) {
      sink += cal.maxUsage(starts[i & 1023], starts[i & 1023] + day);
    }
    long a = System.nanoTime();
    for (int i = 0; i < reps; i++) {
      sink += cal.maxUsage(starts[i & 1023], starts[i & 1023] + day);
    }
    double perScan = (System.nanoTime() - a) / 1e3 / reps;
    System.out.printf(Locale.ROOT, "baseline Calendar.maxUsage (1-day window, %d holds on the site): %.3f us per call; one decision p50 = %.0f scans%n",
        cal.holdCount(), perScan, pct(lat, 50) / perScan);
    if (sink == 42) {
      System.out.println();
    }
  }

  private static long[] select(long[] lat, List<Request> reqs, boolean total) {
    long[] out = new long[lat.length];
    int n = 0;
    for (int i = 0; i < lat.length; i++) {
      if (reqs.get(i).nodesPerSite().isEmpty() == total) {
        out[n++] = lat[i];
      }
    }
    return Arrays.copyOf(out, n);
  }

  private static Plan decide(CoAllocator alloc, Request r) {
    try {
      return alloc.find(r, T0);
    } catch (Errors.RequestException e) {
      return null;
    }
  }

  static Topology grid() {
    List<Topology.Site> sites = new ArrayList<>();
    List<Topology.Link> links = new ArrayList<>();
    for (int i = 0; i < SITES; i++) {
      sites.add(new Topology.Site(name(i), NODES_PER_SITE));
      links.add(new Topology.Link(name(i), name((i + 1) % SITES), 100 * G));
      links.add(new Topology.Link(name(i), name((i + 10) % SITES), 40 * G));
    }
    return Topology.of(sites, links);
  }

  private static String name(int i) {
    return String.format(Locale.ROOT, "s%03d", i);
  }

  private static Request randomRequest(Random rnd, boolean total) {
    Duration d = Duration.ofMinutes(60 + rnd.nextInt(11 * 60 + 1));
    Instant start = T0.plusSeconds((long) (rnd.nextDouble() * Duration.ofDays(30).toSeconds()));
    if (total) {
      return Request.total(20 + rnd.nextInt(181), d, start);
    }
    int k = 1 + rnd.nextInt(3);
    Map<String, Integer> nodes = new TreeMap<>();
    while (nodes.size() < k) {
      nodes.put(name(rnd.nextInt(SITES)), 1 + rnd.nextInt(40));
    }
    Request r = Request.perSite(nodes, d, start);
    return k > 1 && rnd.nextBoolean() ? r.withBandwidth((1 + rnd.nextInt(10)) * G) : r;
  }

  private static double pct(long[] nanos, int p) {
    long[] s = nanos.clone();
    Arrays.sort(s);
    int i = p >= 100 ? s.length - 1 : (int) Math.ceil(p / 100.0 * s.length) - 1;
    return s[Math.max(0, i)] / 1e3;
  }

  /**
   * The baseline: the textbook allocator without calendars. For each candidate start (earliest
   * start, then every reservation end after it, in order) it scans every reservation to add up
   * what each site and link uses at every instant of the window. Per-site requests only.
   */
  static final class Naive {
    private final Topology topo;
    private final List<HeldPlan> all;
    private final long[] ends;

    Naive(Topology topo, List<HeldPlan> all) {
      this.topo = topo;
      this.all = all;
      TreeSet<Long> e = new TreeSet<>();
      all.forEach(r -> e.add(r.window().endMillis()));
      this.ends = e.stream().mapToLong(Long::longValue).toArray();
    }

    Instant find(Request r) {
      long d = r.duration().toMillis();
      Map<String, Long> links = new HashMap<>();
      if (r.bandwidthBps().isPresent()) {
        List<String> s = new ArrayList<>(r.nodesPerSite().keySet());
        for (int i = 0; i < s.size(); i++) {
          for (int j = i + 1; j < s.size(); j++) {
            for (Topology.Link l : topo.path(s.get(i), s.get(j))) {
              links.merge(l.id(), r.bandwidthBps().getAsLong(), Long::sum);
            }
          }
        }
      }
      long s = r.earliestStart().toEpochMilli();
      int idx = Arrays.binarySearch(ends, s);
      idx = idx < 0 ? -idx - 1 : idx + 1;
      while (true) {
        if (fits(r, links, s, s + d)) {
          return Instant.ofEpochMilli(s);
        }
        s = ends[idx++];
      }
    }

    private boolean fits(Request req, Map<String, Long> links, long s, long e) {
      List<HeldPlan> over = new ArrayList<>();
      for (HeldPlan r : all) {
        if (r.window().startMillis() < e && s < r.window().endMillis()) {
          over.add(r);
        }
      }
      for (Map.Entry<String, Integer> n : req.nodesPerSite().entrySet()) {
        if (peak(over, s, x -> x.nodes().getOrDefault(n.getKey(), 0)) + n.getValue() > NODES_PER_SITE) {
          return false;
        }
      }
      for (Map.Entry<String, Long> l : links.entrySet()) {
        long cap = topo.link(l.getKey()).orElseThrow().capacityBps();
        if (peak(over, s, x -> x.linkBps().getOrDefault(l.getKey(), 0L)) + l.getValue() > cap) {
          return false;
        }
      }
      return true;
    }

    private static long peak(List<HeldPlan> over, long s, java.util.function.ToLongFunction<HeldPlan> amount) {
      long max = 0;
      for (HeldPlan p : over) {
        long at = Math.max(s, p.window().startMillis());
        long sum = 0;
        for (HeldPlan q : over) {
          if (q.window().startMillis() <= at && at < q.window().endMillis()) {
            sum += amount.applyAsLong(q);
          }
        }
        max = Math.max(max, sum);
      }
      return max;
    }
  }
}
