package org.lambdagrid.grc.scale;

import com.google.protobuf.util.Durations;
import com.google.protobuf.util.Timestamps;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.lambdagrid.grc.cli.Pager;
import org.lambdagrid.proto.v1.CancelReservationRequest;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.ListReservationsRequest;
import org.lambdagrid.proto.v1.ListReservationsResponse;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReserveRequest;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.WatchJobRequest;
import org.lambdagrid.proto.v1.WatchJobResponse;

/**
 * Grid scale (issue 20): one real grc-server process and N {@link SimulatedSite}s, for each N
 * of {@code --sizes}: registration and re-registration of every site; {@code --reservations}
 * live reservations through the real two-phase commit (2 to 4 sites each, 1 to 4 nodes per
 * site, a fifth with bandwidth, windows of 1 to 4 h starting 2 h to 7 days ahead), about one in
 * ten cancelled; small jobs (2 to 10 sites) with watchers; one big job (up to
 * {@code --job-nodes} over up to {@code --job-sites} sites) whose aggregation is measured (GRC
 * CPU, trust-bundle bytes the sites received); the GRC's state checked from outside
 * ({@link StateCheck}, every live reservation committed at each of its sites); the GRC's heap
 * after a full GC. With {@code --kill}, the GRC is killed with SIGKILL halfway through the
 * reservations of the largest size and restarted: every reservation it had granted (and the
 * bench had not cancelled) must come back live. Ratios are against the smallest size of the run.
 * Exit code 0 when every check held, 1 when one failed.
 *
 * <pre>
 * GridScaleBench [--sizes 10,100,1000] [--reservations 10000] [--threads 4] [--capacity 128]
 *   [--job-nodes 10000] [--job-sites 100] [--small-jobs 10] [--watchers 3] [--kill]
 *   [--launcher 'bin/grc-server'] [--work DIR] [--markdown FILE] [--label h2]
 *   [--state-url jdbc:postgresql://127.0.0.1:5433/lgscale_%d --state-user U --state-password-file F]
 * </pre>
 */
public final class GridScaleBench {
  static final long LINK_BPS = 1_000_000_000L;

  /** What one size measured. */
  static final class Result {
    int sites;
    double regWallS;
    double regP50Ms;
    double regP99Ms;
    double reregWallS;
    int reserved;
    int refused;
    int unknown;
    int cancelled;
    double resP50Ms;
    double resP99Ms;
    double resPerS;
    int smallJobs;
    int smallJobsOk;
    double smallJobP50Ms;
    long watcherEvents;
    int bigNodes;
    int bigSites;
    boolean bigOk;
    String bigMessage = "";
    double bigWallS;
    double bigCpuS;
    long bigTrustBytes;
    long bigTrustCalls;
    double refCpuS;
    int refNodes;
    long heapBytes;
    int live;
    List<String> violations = new ArrayList<>();
    String kill = "";
  }

  final Map<String, String> opt = new HashMap<>();

  GridScaleBench(String[] args) {
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument '" + a + "'");
      }
      if (a.equals("--kill")) {
        opt.put("kill", "true");
      } else if (i + 1 < args.length) {
        opt.put(a.substring(2), args[++i]);
      } else {
        throw new IllegalArgumentException(a + ": needs a value");
      }
    }
  }

  int num(String name, int def) {
    String v = opt.get(name);
    try {
      return v == null ? def : Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + ": '" + v + "' is not a number");
    }
  }

  public static void main(String[] args) throws Exception {
    GridScaleBench b;
    try {
      b = new GridScaleBench(args);
    } catch (IllegalArgumentException e) {
      System.err.println("GridScaleBench: " + e.getMessage());
      System.exit(2);
      return;
    }
    List<Result> rs;
    try {
      rs = b.runAll();
    } catch (IllegalArgumentException e) {
      System.err.println("GridScaleBench: " + e.getMessage());
      System.exit(2);
      return;
    }
    boolean ok = rs.stream().allMatch(r -> r.violations.isEmpty());
    System.exit(ok ? 0 : 1);
  }

  List<Result> runAll() throws Exception {
    List<Integer> sizes = Arrays.stream(opt.getOrDefault("sizes", "10,100,1000").split(","))
        .map(String::strip).map(Integer::parseInt).toList();
    // without --work, a temporary directory that is removed at the end
    Path work = opt.containsKey("work") ? Path.of(opt.get("work"))
        : Files.createTempDirectory("lg-gridscale");
    try {
      return runAll(work, sizes);
    } finally {
      if (!opt.containsKey("work")) {
        try (var files = Files.walk(work)) {
          files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
      }
    }
  }

  private List<Result> runAll(Path work, List<Integer> sizes) throws Exception {
    long t0 = System.nanoTime();
    KeyPool keys = new KeyPool(num("keys", 64));
    log("generated %d ed25519 key pairs for the pool in %.1f s", 2 * num("keys", 64),
        (System.nanoTime() - t0) / 1e9);
    List<Result> out = new ArrayList<>();
    int largest = sizes.stream().max(Integer::compare).orElse(0);
    for (int n : sizes) {
      Result r = runSize(n, keys, work.resolve("size-" + n),
          opt.containsKey("kill") && n == largest);
      out.add(r);
      print(r, out.get(0));
    }
    String md = markdown(out);
    System.out.println(md);
    if (opt.containsKey("markdown")) {
      Files.writeString(Path.of(opt.get("markdown")), md);
    }
    return out;
  }

  static void log(String fmt, Object... args) {
    System.err.println("gridscale: " + String.format(Locale.ROOT, fmt, args));
  }

  String yaml(SimulatedGrid grid, int n) {
    StringBuilder sb = new StringBuilder("topology:\n  sites: [core");
    grid.sites.forEach(s -> sb.append(", ").append(s.name));
    sb.append("]\n  links:\n");
    grid.sites.forEach(s -> sb.append("    - {a: ").append(s.name).append(", b: core, capacity: 1G}\n"));
    String url = opt.get("state-url");
    if (url != null) {
      sb.append("state:\n  url: ").append(String.format(Locale.ROOT, url, n)).append('\n');
      if (opt.containsKey("state-user")) {
        sb.append("  user: ").append(opt.get("state-user")).append('\n');
      }
      if (opt.containsKey("state-password-file")) {
        sb.append("  password_file: ").append(opt.get("state-password-file")).append('\n');
      }
    }
    return sb.toString();
  }

  List<String> launcher() {
    String l = opt.get("launcher");
    return l == null ? GrcProcess.sameJvm() : List.of(l.split(" "));
  }

  Result runSize(int n, KeyPool keys, Path dir, boolean kill) throws Exception {
    if (Files.exists(dir.resolve("state")) || Files.exists(dir.resolve("grc.yaml"))) {
      throw new IllegalArgumentException("--work: " + dir + " holds an earlier run's GRC; give a"
          + " fresh directory");
    }
    Files.createDirectories(dir);
    Result r = new Result();
    r.sites = n;
    int capacity = num("capacity", 128);
    log("== %d sites (load %s)", n, load());
    try (SimulatedGrid grid = new SimulatedGrid(n, capacity, keys);
         GrcProcess grc = new GrcProcess(launcher(), dir, yaml(grid, n))) {
      grc.start();
      ManagedChannel ch = NettyChannelBuilder.forTarget(grc.endpoint()).usePlaintext()
          .maxInboundMessageSize(256 << 20).build();
      try {
        // 1. registration, then re-registration (same endpoint, capacity and range)
        long t = System.nanoTime();
        long[] lat = grid.register(grc.endpoint(), 8);
        r.regWallS = (System.nanoTime() - t) / 1e9;
        r.regP50Ms = pct(lat, 50) / 1e6;
        r.regP99Ms = pct(lat, 99) / 1e6;
        t = System.nanoTime();
        grid.register(grc.endpoint(), 8);
        r.reregWallS = (System.nanoTime() - t) / 1e9;
        log("registered %d sites in %.2f s (p50 %.2f ms, p99 %.2f ms); again in %.2f s", n,
            r.regWallS, r.regP50Ms, r.regP99Ms, r.reregWallS);
        // 2. reservations (and cancels; a SIGKILL of the GRC halfway with --kill)
        Set<String> granted = reservations(r, grid, grc, ch, kill);
        // 3. small jobs with watchers, then the big job
        smallJobs(r, grid, ch);
        bigJob(r, grid, grc, ch);
        // 4. the state, checked from outside
        check(r, grid, ch, granted, capacity);
        r.heapBytes = grc.heapAfterGc();
      } finally {
        ch.shutdownNow();
      }
    }
    return r;
  }

  static String load() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).split(" ", 4)[0];
    } catch (IOException e) {
      return "?";
    }
  }

  static double pct(long[] v, int p) {
    long[] s = v.clone();
    Arrays.sort(s);
    return s.length == 0 ? Double.NaN : s[Math.min(s.length - 1, (int) Math.ceil(p / 100.0 * s.length) - 1)];
  }

  /** Picks k distinct sites of n. */
  static List<String> pick(Random rnd, SimulatedGrid grid, int k) {
    List<Integer> idx = new ArrayList<>();
    for (int i = 0; i < k; i++) {
      int j;
      do {
        j = rnd.nextInt(grid.sites.size());
      } while (idx.contains(j));
      idx.add(j);
    }
    return idx.stream().map(i -> grid.sites.get(i).name).toList();
  }

  Set<String> reservations(Result r, SimulatedGrid grid, GrcProcess grc, ManagedChannel ch,
      boolean kill) throws Exception {
    int total = num("reservations", 10_000);
    int threads = num("threads", 4);
    long[] lat = new long[total];
    Arrays.fill(lat, -1);
    Set<String> granted = ConcurrentHashMap.newKeySet();
    AtomicInteger refused = new AtomicInteger();
    AtomicInteger unknown = new AtomicInteger();
    AtomicInteger cancelled = new AtomicInteger();
    AtomicInteger done = new AtomicInteger();
    AtomicBoolean killed = new AtomicBoolean();
    // Calls wait while the GRC restarts; those in flight at the kill fail (outcome unknown).
    java.util.concurrent.atomic.AtomicReference<CountDownLatch> up =
        new java.util.concurrent.atomic.AtomicReference<>(new CountDownLatch(0));
    long now = System.currentTimeMillis();
    var stub = GridServiceGrpc.newBlockingStub(ch);
    long t0 = System.nanoTime();
    Parallel.run(total, threads, i -> {
      Random rnd = new Random(1000L * r.sites + i);
      if (kill && done.get() >= total / 2 && killed.compareAndSet(false, true)) {
        up.set(new CountDownLatch(1));
        try {
          long k0 = System.nanoTime();
          grc.kill();
          grc.start();
          r.kill = String.format(Locale.ROOT, "SIGKILL after %d reservations granted; restarted"
              + " and serving in %.1f s", granted.size(), (System.nanoTime() - k0) / 1e9);
          log("%s", r.kill);
        } catch (IOException | InterruptedException e) {
          throw new IllegalStateException("restarting the GRC: " + e.getMessage(), e);
        } finally {
          up.get().countDown();
        }
      }
      int k = Math.min(grid.sites.size(), 2 + rnd.nextInt(3));
      ReservationSpec.Builder spec = ReservationSpec.newBuilder().setUser("bench")
          .setPrebuild(false)
          .setStart(Timestamps.fromMillis(now + TimeUnit.HOURS.toMillis(2)
              + (long) (rnd.nextDouble() * TimeUnit.DAYS.toMillis(7))))
          .setDuration(Durations.fromSeconds(3600L * (1 + rnd.nextInt(4))));
      pick(rnd, grid, k).forEach(s -> spec.putSiteNodes(s, 1 + rnd.nextInt(4)));
      if (rnd.nextInt(5) == 0) {
        spec.setBandwidthBps(100_000_000L);
      }
      try {
        up.get().await();
        long a = System.nanoTime();
        Reservation res = stub.withDeadlineAfter(60, TimeUnit.SECONDS)
            .reserve(ReserveRequest.newBuilder().setSpec(spec).build()).getReservation();
        lat[i] = System.nanoTime() - a;
        granted.add(res.getId());
        if (rnd.nextInt(10) == 0) {
          List<String> mine = new ArrayList<>(granted);
          String victim = mine.get(rnd.nextInt(mine.size()));
          if (granted.remove(victim)) {
            stub.withDeadlineAfter(60, TimeUnit.SECONDS).cancelReservation(
                CancelReservationRequest.newBuilder().setReservationId(victim).build());
            cancelled.incrementAndGet();
          }
        }
      } catch (StatusRuntimeException e) {
        Status.Code c = e.getStatus().getCode();
        if (c == Status.Code.FAILED_PRECONDITION || c == Status.Code.RESOURCE_EXHAUSTED) {
          refused.incrementAndGet();
        } else if (c == Status.Code.UNAVAILABLE || c == Status.Code.DEADLINE_EXCEEDED) {
          unknown.incrementAndGet();
        } else {
          throw e;
        }
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      } finally {
        done.incrementAndGet();
      }
    });
    double wall = (System.nanoTime() - t0) / 1e9;
    long[] ok = Arrays.stream(lat).filter(x -> x >= 0).toArray();
    r.reserved = ok.length;
    r.refused = refused.get();
    r.unknown = unknown.get();
    r.cancelled = cancelled.get();
    r.resP50Ms = pct(ok, 50) / 1e6;
    r.resP99Ms = pct(ok, 99) / 1e6;
    r.resPerS = total / wall;
    log("%d reservations granted (%d refused, %d unknown, %d cancelled) in %.1f s: p50 %.2f ms,"
        + " p99 %.2f ms", r.reserved, r.refused, r.unknown, r.cancelled, wall, r.resP50Ms,
        r.resP99Ms);
    return granted;
  }

  /** Waits until the job is terminal (polling), returns it. */
  static Job await(GridServiceGrpc.GridServiceBlockingStub stub, String id, long timeoutMs)
      throws InterruptedException {
    long end = System.currentTimeMillis() + timeoutMs;
    while (true) {
      Job j = stub.getJob(GetJobRequest.newBuilder().setJobId(id).build()).getJob();
      JobState s = j.getState();
      if (s == JobState.JOB_SUCCEEDED || s == JobState.JOB_FAILED || s == JobState.JOB_CANCELLED
          || System.currentTimeMillis() > end) {
        return j;
      }
      Thread.sleep(20);
    }
  }

  /** Opens {@code n} WatchJob streams on the job, counting events; returns their latch. */
  static CountDownLatch watch(GridServiceGrpc.GridServiceStub async, String id, int n,
      AtomicLong events) {
    CountDownLatch l = new CountDownLatch(n);
    for (int w = 0; w < n; w++) {
      async.watchJob(WatchJobRequest.newBuilder().setJobId(id).build(),
          new StreamObserver<WatchJobResponse>() {
            @Override
            public void onNext(WatchJobResponse v) {
              events.incrementAndGet();
            }

            @Override
            public void onError(Throwable t) {
              l.countDown();
            }

            @Override
            public void onCompleted() {
              l.countDown();
            }
          });
    }
    return l;
  }

  void smallJobs(Result r, SimulatedGrid grid, ManagedChannel ch) throws Exception {
    int jobs = num("small-jobs", 10);
    int watchers = num("watchers", 3);
    var stub = GridServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.MINUTES);
    var async = GridServiceGrpc.newStub(ch);
    AtomicLong events = new AtomicLong();
    long[] wall = new long[jobs];
    AtomicInteger ok = new AtomicInteger();
    List<CountDownLatch> latches = Collections.synchronizedList(new ArrayList<>());
    Parallel.run(jobs, 4, i -> {
      Random rnd = new Random(7L * r.sites + i);
      int k = Math.min(grid.sites.size(), 2 + rnd.nextInt(9));
      JobSpec.Builder spec = JobSpec.newBuilder().setUser("bench").addArgv("true").setWorkingDirectory("/tmp")
          .setDuration(Durations.fromSeconds(600));
      // 4 jobs at a time never need more than a site has
      int most = Math.max(1, Math.min(10, num("capacity", 128) / 4));
      pick(rnd, grid, k).forEach(s -> spec.putSiteNodes(s, 1 + rnd.nextInt(most)));
      long a = System.nanoTime();
      Job j = stub.submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build()).getJob();
      latches.add(watch(async, j.getId(), watchers, events));
      try {
        j = await(stub, j.getId(), 120_000);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
      wall[i] = System.nanoTime() - a;
      if (j.getState() == JobState.JOB_SUCCEEDED) {
        ok.incrementAndGet();
      } else {
        log("small job %s ended %s: %s", j.getId(), j.getState(), j.getMessage());
      }
    });
    for (CountDownLatch l : latches) {
      l.await(30, TimeUnit.SECONDS);
    }
    r.smallJobs = jobs;
    r.smallJobsOk = ok.get();
    r.smallJobP50Ms = pct(wall, 50) / 1e6;
    r.watcherEvents = events.get();
    if (r.smallJobsOk != jobs) {
      r.violations.add((jobs - r.smallJobsOk) + " of " + jobs + " small jobs did not succeed");
    }
    log("%d/%d small jobs succeeded (p50 %.0f ms submit to end); %d watchers per job saw %d"
        + " events", ok.get(), jobs, r.smallJobP50Ms, watchers, events.get());
  }

  /** Every reservation, following ListReservations' pages (1,000 a page). */
  private static List<Reservation> everyReservation(GridServiceGrpc.GridServiceBlockingStub stub) {
    ListReservationsRequest.Builder req = ListReservationsRequest.newBuilder()
        .setIncludeFinished(true).setPageSize(1000);
    return Pager.all(token -> stub.withDeadlineAfter(60, TimeUnit.SECONDS)
            .listReservations(req.setPageToken(token).build()),
        ListReservationsResponse::getReservationsList, ListReservationsResponse::getNextPageToken);
  }

  /** One job of nodes over sites (nodes / sites each), measured; returns its GRC CPU seconds. */
  double job(Result r, SimulatedGrid grid, GrcProcess grc, ManagedChannel ch, int sites,
      int perSite, boolean big) throws Exception {
    var stub = GridServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.MINUTES);
    JobSpec.Builder spec = JobSpec.newBuilder().setUser("bench").addArgv("true").setWorkingDirectory("/tmp")
        .setDuration(Durations.fromSeconds(600));
    for (int i = 0; i < sites; i++) {
      spec.putSiteNodes(grid.sites.get(i).name, perSite);
    }
    long bytes0 = grid.sites.stream().mapToLong(s -> s.trustBytes.get()).sum();
    long calls0 = grid.sites.stream().mapToLong(s -> s.trustCalls.get()).sum();
    double cpu0 = grc.cpuSeconds();
    long a = System.nanoTime();
    Job j = stub.submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build()).getJob();
    AtomicLong events = new AtomicLong();
    CountDownLatch w = watch(GridServiceGrpc.newStub(ch), j.getId(), big ? num("watchers", 3) : 0,
        events);
    j = await(stub, j.getId(), 600_000);
    double wallS = (System.nanoTime() - a) / 1e9;
    double cpu = grc.cpuSeconds() - cpu0;
    w.await(30, TimeUnit.SECONDS);
    if (big) {
      r.bigNodes = sites * perSite;
      r.bigSites = sites;
      r.bigOk = j.getState() == JobState.JOB_SUCCEEDED;
      r.bigMessage = j.getMessage();
      r.bigWallS = wallS;
      r.bigCpuS = cpu;
      r.bigTrustBytes = grid.sites.stream().mapToLong(s -> s.trustBytes.get()).sum() - bytes0;
      r.bigTrustCalls = grid.sites.stream().mapToLong(s -> s.trustCalls.get()).sum() - calls0;
      if (!r.bigOk) {
        r.violations.add("the " + r.bigNodes + "-node job ended " + j.getState() + ": "
            + j.getMessage());
      }
      log("%d-node job over %d sites: %s in %.2f s, GRC CPU %.2f s, %d trust bytes in %d"
          + " InstallTrust calls (%.0f per node); %d watcher events", r.bigNodes, sites,
          j.getState(), wallS, cpu, r.bigTrustBytes, r.bigTrustCalls,
          r.bigTrustBytes / (double) r.bigNodes, events.get());
    } else if (j.getState() != JobState.JOB_SUCCEEDED) {
      r.violations.add("the reference job ended " + j.getState() + ": " + j.getMessage());
    }
    return cpu;
  }

  void bigJob(Result r, SimulatedGrid grid, GrcProcess grc, ManagedChannel ch) throws Exception {
    int sites = Math.min(num("job-sites", 100), grid.sites.size());
    int perSite = Math.min(num("capacity", 128), Math.max(1, num("job-nodes", 10_000) / sites));
    // the reference: the same sites, one node each (the fixed cost of a job)
    r.refNodes = sites;
    r.refCpuS = job(r, grid, grc, ch, sites, 1, false);
    job(r, grid, grc, ch, sites, perSite, true);
  }

  void check(Result r, SimulatedGrid grid, ManagedChannel ch, Set<String> granted,
      int capacity) throws InterruptedException {
    var stub = GridServiceGrpc.newBlockingStub(ch);
    Map<String, Integer> caps = new LinkedHashMap<>();
    grid.sites.forEach(s -> caps.put(s.name, capacity));
    // A restarted GRC releases the reservations caught in the two-phase commit in the
    // background: wait (up to 30 s) until every site's committed holds match the GRC's.
    List<Reservation> all = List.of();
    List<String> mismatch = List.of();
    for (int attempt = 0; attempt < 60; attempt++) {
      all = everyReservation(stub);
      mismatch = crossCheck(all, grid);
      if (mismatch.isEmpty()) {
        break;
      }
      Thread.sleep(500);
    }
    r.violations.addAll(mismatch);
    r.violations.addAll(StateCheck.check(all, caps, LINK_BPS));
    r.violations.addAll(grid.violations());
    Map<String, Reservation> byId = new HashMap<>();
    all.forEach(x -> byId.put(x.getId(), x));
    for (String id : granted) {
      Reservation x = byId.get(id);
      if (x == null || !StateCheck.live(x)) {
        r.violations.add("reservation " + id + " was granted but is "
            + (x == null ? "unknown" : x.getState() + " (" + x.getMessage() + ")")
            + " at the end");
      }
    }
    r.live = (int) all.stream().filter(StateCheck::live).count();
    log("state: %d live reservations, %d granted by the bench and not cancelled; %d violations%s",
        r.live, granted.size(), r.violations.size(),
        r.violations.isEmpty() ? "" : ": " + String.join("; ", r.violations.subList(0,
            Math.min(5, r.violations.size()))));
  }

  /** Every live reservation committed at each of its sites, and nothing else committed there. */
  static List<String> crossCheck(List<Reservation> all, SimulatedGrid grid) {
    List<String> out = new ArrayList<>();
    Map<String, Map<String, Integer>> committed = new HashMap<>();
    grid.sites.forEach(s -> committed.put(s.name, s.committed()));
    for (Reservation x : all) {
      boolean live = StateCheck.live(x);
      x.getSiteNodesMap().forEach((site, nodes) -> {
        Integer held = committed.getOrDefault(site, Map.of()).remove(x.getId());
        if (live && !Integer.valueOf(nodes).equals(held)) {
          out.add("reservation " + x.getId() + " holds " + nodes + " nodes on " + site
              + " but the site has " + (held == null ? "no committed hold" : held + " committed"));
        }
      });
    }
    committed.forEach((site, left) -> left.keySet().forEach(id -> {
      Reservation x = all.stream().filter(y -> y.getId().equals(id)).findFirst().orElse(null);
      out.add("site " + site + " has reservation " + id + " committed; the GRC has it "
          + (x == null ? "not at all" : x.getState().toString()));
    }));
    return out;
  }

  static void print(Result r, Result base) {
    log("%d sites: reserve p50 %.2f ms (x%.2f), p99 %.2f ms (x%.2f); violations %d", r.sites,
        r.resP50Ms, r.resP50Ms / base.resP50Ms, r.resP99Ms, r.resP99Ms / base.resP99Ms,
        r.violations.size());
  }

  static String f(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.2f", v);
  }

  static String x(double v, double base) {
    return base <= 0 || Double.isNaN(v) || Double.isNaN(base) ? "n/a"
        : String.format(Locale.ROOT, "**x%.2f**", v / base);
  }

  String markdown(List<Result> rs) {
    Result b = rs.get(0);
    String label = opt.getOrDefault("label", opt.containsKey("state-url") ? "PostgreSQL" : "H2");
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "Store: %s. %d reservations per size (%d client threads),"
        + " node capacity %d per site, %d small jobs with %d watchers each; ratios against %d"
        + " sites.%n%n", label, num("reservations", 10_000), num("threads", 4),
        num("capacity", 128), num("small-jobs", 10), num("watchers", 3), b.sites));
    sb.append("| sites | register all (s) | p50 / p99 (ms) | re-register all (s) | reserve p50 (ms) |"
        + " ratio | reserve p99 (ms) | ratio | reservations/s | granted / refused / unknown /"
        + " cancelled | live at end | small jobs ok (p50 ms) | GRC heap after GC (MiB) | ratio |"
        + " violations |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|\n");
    for (Result r : rs) {
      sb.append(String.format(Locale.ROOT,
          "| %d | %s | %s / %s | %s | %s | %s | %s | %s | %s | %d / %d / %d / %d | %d | %d/%d (%s) |"
              + " %s | %s | %d |%n", r.sites, f(r.regWallS), f(r.regP50Ms), f(r.regP99Ms),
          f(r.reregWallS), f(r.resP50Ms), x(r.resP50Ms, b.resP50Ms), f(r.resP99Ms),
          x(r.resP99Ms, b.resP99Ms), f(r.resPerS), r.reserved, r.refused, r.unknown,
          r.cancelled, r.live, r.smallJobsOk, r.smallJobs, f(r.smallJobP50Ms),
          f(r.heapBytes / 1048576.0), x(r.heapBytes, b.heapBytes), r.violations.size()));
    }
    sb.append("\nAggregation: one job over the first sites, every phase through the simulated"
        + " CRMs; reference = a job of one node per site on the same sites (same run).\n\n");
    sb.append("| grid sites | job sites | job nodes | result | wall (s) | GRC CPU (s) | CPU ms per node |"
        + " reference CPU ms per node (1 node/site) | trust bytes sent | InstallTrust calls |"
        + " bytes per node | bytes per node per site |\n"
        + "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (Result r : rs) {
      sb.append(String.format(Locale.ROOT, "| %d | %d | %d | %s | %s | %s | %s | %s | %d | %d | %s | %s |%n",
          r.sites, r.bigSites, r.bigNodes, r.bigOk ? "succeeded" : "FAILED: " + r.bigMessage.replace('|', '/'),
          f(r.bigWallS), f(r.bigCpuS), f(1000 * r.bigCpuS / Math.max(1, r.bigNodes)),
          f(1000 * r.refCpuS / Math.max(1, r.refNodes)), r.bigTrustBytes, r.bigTrustCalls,
          f(r.bigTrustBytes / (double) Math.max(1, r.bigNodes)),
          f(r.bigTrustBytes / (double) Math.max(1, r.bigNodes) / Math.max(1, r.bigSites))));
    }
    for (Result r : rs) {
      if (!r.kill.isEmpty()) {
        sb.append("\nKill -9 at ").append(r.sites).append(" sites: ").append(r.kill)
            .append(r.violations.stream().anyMatch(v -> v.contains("was granted but"))
                ? "; at the end some reservation granted and not cancelled was NOT live (below).\n"
                : "; at the end every reservation granted and not cancelled was live.\n");
      }
      if (!r.violations.isEmpty()) {
        sb.append("\nViolations at ").append(r.sites).append(" sites:\n");
        r.violations.stream().limit(20).forEach(v -> sb.append("- ").append(v).append('\n'));
      }
    }
    return sb.toString();
  }
}
