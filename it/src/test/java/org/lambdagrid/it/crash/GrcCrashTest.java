package org.lambdagrid.it.crash;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.store.StoreException;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.crm.site.SiteReservations;
import org.lambdagrid.crm.site.SiteSettings;
import org.lambdagrid.proto.v1.AbortRequest;
import org.lambdagrid.proto.v1.AbortResponse;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.CancelReservationRequest;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.CommitResponse;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.OpenShareRequest;
import org.lambdagrid.proto.v1.OpenShareResponse;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.PrepareResponse;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.ReleaseRequest;
import org.lambdagrid.proto.v1.ReleaseResponse;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.ReleaseShareResponse;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;
import org.lambdagrid.proto.v1.ReserveRequest;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.SubmitJobRequest;

/**
 * kill -9 the GRC at random moments while clients create and cancel reservations (and submit
 * and cancel jobs, each of which makes its own reservation), many times over, and check after
 * every kill, from the GRC's database with the daemon dead, that:
 * <ul>
 *   <li>every reservation a client was told was committed is recorded; every one a client was
 *       told was cancelled is recorded CANCELLED; the same for jobs;
 *   <li>no two recorded address leases overlap, and no two live reservations on a site have
 *       overlapping ranges;
 *   <li>no site's nodes and no link's bandwidth are overbooked at any instant by the live
 *       reservations (a sweep over every window boundary of the recorded calendars);
 *   <li>every hold a CRM still has (PREPARED or COMMITTED) belongs to a live recorded
 *       reservation or to a lease the GRC still tracks, so nothing is leaked at the CRMs;
 *   <li>every job a kill left unfinished is FAILED ("the GRC restarted ...") at the next kill.
 * </ul>
 * Finally the GRC starts once more and runs undisturbed until the CRMs are quiet; then every CRM
 * hold belongs to a live reservation and every lease to one. The CRMs are in this JVM: the real
 * {@link SiteReservations} (node calendar, hold table) behind Prepare/Commit/Abort/Release; jobs
 * that start at once fail in phase SETUP (UNIMPLEMENTED), which exercises the ending path.
 * Iterations: {@code -Dlambdagrid.crash.grc} (default 20; 100 for the acceptance run,
 * see docs/architecture.md; each costs a JVM start, 1.5-2 s on an idle 2-core machine).
 *
 * <p>Runs twice, on the GRC's default H2 file and on a fresh database of a real PostgreSQL
 * ({@link TestDatabase}; skipped without scripts/postgres-local), there
 * {@code -Dlambdagrid.crash.grc.postgresql} times (default 10): the same restarts on the same
 * database, the same checks.
 */
class GrcCrashTest {
  private static final int ITERATIONS = Integer.getInteger("lambdagrid.crash.grc", 20);
  /** The kills on PostgreSQL: {@code -Dlambdagrid.crash.grc.postgresql} (default 10). */
  private static final int PG_ITERATIONS = Integer.getInteger("lambdagrid.crash.grc.postgresql",
      10);
  private static final int CAPACITY = 8;
  private static final long LINK_BPS = 1_000_000_000L;
  private static final List<String> SITES = List.of("alpha", "bravo");

  @TempDir Path dir;
  /** This run's state database (a fresh one per run on PostgreSQL). */
  private TestDatabase db;
  private final List<Server> crms = new ArrayList<>();
  private final Map<String, FakeCrm> sites = new HashMap<>();
  /** Acknowledged by the GRC. */
  private final Set<String> committed = ConcurrentHashMap.newKeySet();
  private final Set<String> cancelledReservations = ConcurrentHashMap.newKeySet();
  private final Set<String> created = ConcurrentHashMap.newKeySet();
  private final Set<String> cancelled = ConcurrentHashMap.newKeySet();
  /** Acknowledged and not cancelled yet, across iterations: what the clients may cancel. */
  private final Set<String> cancellable = ConcurrentHashMap.newKeySet();
  private final AtomicInteger reserves = new AtomicInteger();
  private final AtomicInteger submits = new AtomicInteger();
  private final AtomicInteger cancels = new AtomicInteger();
  private final AtomicInteger checks = new AtomicInteger();
  /** Refusals seen while the GRC was up (status: description -> count), for the report. */
  private final Map<String, Integer> refusals = new ConcurrentHashMap<>();
  private Set<String> unfinishedBefore = Set.of();
  private volatile boolean settling;
  private final AtomicReference<String> lockMessage = new AtomicReference<>();

  /** A CRM whose reservations are the real site calendar and hold table, in memory. */
  static final class FakeCrm extends SiteServiceGrpc.SiteServiceImplBase {
    final SiteReservations rs;
    final AtomicInteger calls = new AtomicInteger();

    FakeCrm(String site) {
      rs = new SiteReservations(new SiteSettings(site, CAPACITY,
          List.of(Ipv4Cidr.parse("10.10.0.0/20")), 1, Duration.ofSeconds(5),
          Duration.ofSeconds(1)), Clock.systemUTC(), Duration.ofSeconds(120));
    }

    private <T> void answer(StreamObserver<T> out, T ok, Runnable r) {
      calls.incrementAndGet();
      try {
        r.run();
        out.onNext(ok);
        out.onCompleted();
      } catch (Errors.RequestException e) {
        out.onError(Status.fromCode(e.code()).withDescription(e.getMessage()).asException());
      }
    }

    @Override
    public void prepare(PrepareRequest r, StreamObserver<PrepareResponse> out) {
      answer(out, PrepareResponse.getDefaultInstance(), () -> rs.prepare(r.getReservationId(),
          new Window(ProtoTime.fromProto(r.getStart()), ProtoTime.fromProto(r.getEnd())),
          r.getNodeCount(), Ipv4Cidr.parse(r.getRange().getCidr()), r.getUser()));
    }

    @Override
    public void commit(CommitRequest r, StreamObserver<CommitResponse> out) {
      answer(out, CommitResponse.getDefaultInstance(), () -> rs.commit(r.getReservationId()));
    }

    @Override
    public void abort(AbortRequest r, StreamObserver<AbortResponse> out) {
      answer(out, AbortResponse.getDefaultInstance(), () -> rs.abort(r.getReservationId()));
    }

    @Override
    public void release(ReleaseRequest r, StreamObserver<ReleaseResponse> out) {
      answer(out, ReleaseResponse.getDefaultInstance(), () -> rs.release(r.getReservationId()));
    }

    @Override
    public void openShare(OpenShareRequest r, StreamObserver<OpenShareResponse> out) {
      answer(out, OpenShareResponse.getDefaultInstance(), () -> rs.committed(
          r.getReservationId()));
    }

    @Override
    public void releaseShare(ReleaseShareRequest r, StreamObserver<ReleaseShareResponse> out) {
      answer(out, ReleaseShareResponse.getDefaultInstance(), () -> { });
    }

    /** Ids held now (PREPARED or COMMITTED). */
    Set<String> live() {
      Set<String> out = new TreeSet<>();
      rs.snapshot().forEach((id, st) -> {
        if (st == HoldTable.State.PREPARED || st == HoldTable.State.COMMITTED) {
          out.add(id);
        }
      });
      return out;
    }
  }

  @AfterEach
  void stopCrms() {
    crms.forEach(Server::shutdownNow);
    if (db != null) {
      db.close();
    }
  }

  private Path stateDir() {
    return dir.resolve("state");
  }

  private static int iterations(StoreBackend backend) {
    return backend == StoreBackend.H2 ? ITERATIONS : PG_ITERATIONS;
  }

  private String url() {
    return db.url();
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void killedGrcLosesNoCommittedReservationAndOverbooksNothing(StoreBackend backend)
      throws Exception {
    db = TestDatabase.create(backend, stateDir(), "grc");
    int iterations = iterations(backend);
    for (String s : SITES) {
      FakeCrm crm = new FakeCrm(s);
      Server server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
          .addService(crm).build().start();
      crms.add(server);
      sites.put(s, crm);
    }
    // kept for a failure's post-mortem
    Path log = Path.of("target", "grc-crash-" + backend.name().toLowerCase() + ".log");
    Files.deleteIfExists(log);
    CrashLoop loop = new CrashLoop((iteration, port, flags) -> {
      Path yaml = dir.resolve("grc.yaml");
      Files.writeString(yaml, "listen: 127.0.0.1:" + port + "\nstate_dir: " + stateDir()
          + "\nrpc_timeout: 5s\ncall_margin: 500ms\nphase_timeouts: {setup: 2s, keys: 2s,"
          + " set_keys: 2s, run: 2s, exec: 2s}\ntls: {insecure: true}\n"
          + "topology:\n  sites: [alpha, bravo, core]\n  links:\n"
          + "    - {a: alpha, b: core, capacity: 1G}\n    - {a: bravo, b: core, capacity: 1G}\n"
          + db.stateYaml());
      return new ProcessBuilder(CrashLoop.java(flags, "org.lambdagrid.grc.GrcMain", "--config",
          yaml.toString())).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }, 7);
    loop.workload(this::clients).workload(this::clients).invariant(this::check)
        .workload(this::lockedWhileRunning);
    CrashLoop.Report report = loop.run(iterations);
    // Once more, without a kill timer: whatever the last kill left (holds of reservations never
    // recorded) must be released at the CRMs and its leases freed, by the restart alone.
    settling = true;
    int[] last = {-1};
    long[] quietSince = {System.nanoTime()};
    loop.settle(() -> {
      int n = sites.values().stream().mapToInt(c -> c.calls.get()).sum();
      if (n != last[0]) {
        last[0] = n;
        quietSince[0] = System.nanoTime();
      }
      return System.nanoTime() - quietSince[0] > Duration.ofSeconds(4).toNanos();
    }, Duration.ofSeconds(90), iterations + 1);
    System.out.printf("GrcCrashTest (%s): %d kills in %d ms, %d invariant checks passed;"
        + " reservations: %d acknowledged committed, %d cancelled (%d reserve attempts);"
        + " jobs: %d acknowledged created, %d cancelled (%d submits); %d cancel attempts%n",
        backend, report.iterations(), report.millis(), checks.get(), committed.size(),
        cancelledReservations.size(), reserves.get(), created.size(), cancelled.size(),
        submits.get(), cancels.get());
    System.out.println("refusals while up: " + refusals);
    assertThat(report.killedWhileServing()).isEqualTo(iterations);
    assertThat(checks.get()).isEqualTo(iterations + 1);
    assertThat(committed).hasSizeGreaterThan(iterations);
    assertThat(cancelledReservations).isNotEmpty();
    assertThat(lockMessage.get()).as("a second opener of the running GRC's database")
        .startsWith("state database " + url()).contains("is locked by another process");
  }

  /** One client: registers the sites (idempotent), then reserves, submits and cancels. */
  private void clients(int iteration, int port, AtomicBoolean stop, Runnable acked) {
    ManagedChannel ch = Grpc.newChannelBuilderForAddress("127.0.0.1", port,
        InsecureChannelCredentials.create()).build();
    Random random = new Random(iteration * 31L + Thread.currentThread().getId());
    try {
      if (iteration == 1) {
        var reg = SiteRegistryServiceGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS);
        int i = 0;
        for (String s : SITES) {
          reg.registerSite(RegisterSiteRequest.newBuilder().setName(s)
              .setCrmEndpoint("127.0.0.1:" + crms.get(i++).getPort()).setNodeCapacity(CAPACITY)
              .addRanges(AddressRange.newBuilder().setCidr("10.10.0.0/20")).build());
        }
      }
      var grid = GridServiceGrpc.newBlockingStub(ch);
      while (!stop.get()) {
        try {
          int what = random.nextInt(6);
          String id = what <= 1 ? take(random) : null;
          if (id != null) {
            cancels.incrementAndGet();
            if (id.startsWith("r-")) {
              Reservation r = grid.withDeadlineAfter(5, TimeUnit.SECONDS).cancelReservation(
                  CancelReservationRequest.newBuilder().setReservationId(id).build())
                  .getReservation();
              if (r.getState() == ReservationState.RESERVATION_CANCELLED) {
                cancelledReservations.add(id);
              }
            } else {
              Job j = grid.withDeadlineAfter(5, TimeUnit.SECONDS)
                  .cancelJob(CancelJobRequest.newBuilder().setJobId(id).build()).getJob();
              if (j.getState() == JobState.JOB_CANCELLED) {
                cancelled.add(id);
              }
            }
            acked.run();
          } else if (what == 2) {
            JobSpec.Builder spec = JobSpec.newBuilder().setUser("alice").addArgv("true")
                .setWorkingDirectory("/tmp").putSiteNodes("alpha", 1 + random.nextInt(2));
            if (random.nextInt(4) != 0) { // most wait for a later start: PENDING
              spec.setStart(ProtoTime.toProto(Instant.now().plusSeconds(600
                  + random.nextInt(20_000))));
            }
            submits.incrementAndGet();
            Job j = grid.withDeadlineAfter(5, TimeUnit.SECONDS)
                .submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build()).getJob();
            created.add(j.getId());
            cancellable.add(j.getId());
            acked.run();
          } else {
            ReservationSpec.Builder spec = ReservationSpec.newBuilder().setUser("alice")
                .putSiteNodes("alpha", 1 + random.nextInt(3))
                .setStart(ProtoTime.toProto(Instant.now().plusSeconds(60
                    + random.nextInt(20_000))))
                .setDuration(ProtoTime.toProto(Duration.ofMinutes(10 + random.nextInt(50))));
            if (random.nextBoolean()) {
              spec.putSiteNodes("bravo", 1 + random.nextInt(3));
              spec.setBandwidthBps(100_000_000L * (1 + random.nextInt(4)));
            }
            reserves.incrementAndGet();
            Reservation r = grid.withDeadlineAfter(10, TimeUnit.SECONDS)
                .reserve(ReserveRequest.newBuilder().setSpec(spec).build()).getReservation();
            committed.add(r.getId());
            cancellable.add(r.getId());
            acked.run();
          }
        } catch (StatusRuntimeException e) {
          // refused or cut off by the kill: nothing was promised
          if (stop.get()) {
            return;
          }
          String d = String.valueOf(e.getStatus().getDescription());
          refusals.merge(e.getStatus().getCode() + ": " + d.substring(0, Math.min(60,
              d.length())), 1, Integer::sum);
        }
      }
    } catch (StatusRuntimeException e) {
      // registration cut off by the kill
    } finally {
      ch.shutdownNow();
    }
  }

  /** Removes and returns a random acknowledged, not yet cancelled id; null if none. */
  private String take(Random random) {
    List<String> all = new ArrayList<>(cancellable);
    if (all.isEmpty()) {
      return null;
    }
    String id = all.get(random.nextInt(all.size()));
    return cancellable.remove(id) ? id : null;
  }

  /** Once, while the GRC runs: a second opener of its database is told who holds it. */
  private void lockedWhileRunning(int iteration, int port, AtomicBoolean stop, Runnable acked) {
    if (iteration != 1 || lockMessage.get() != null) {
      return;
    }
    try (Database second = db.open("grc", List.of())) {
      lockMessage.set("opened: " + second.url());
    } catch (StoreException e) {
      lockMessage.set(e.getMessage());
    }
  }

  private static boolean live(ReservationState s) {
    return s == ReservationState.RESERVATION_RESERVED || s == ReservationState.RESERVATION_ACTIVE;
  }

  private void check(int iteration) throws Exception {
    Map<String, JobState> states = new HashMap<>();
    Map<String, Job> jobs = new HashMap<>();
    Map<String, Map<String, Ipv4Cidr>> leases = new HashMap<>();
    Map<String, Reservation> reservations = new HashMap<>();
    Map<String, Long> pairBps = new HashMap<>();
    try (Connection c = db.connect()) {
      try (ResultSet rs = c.createStatement().executeQuery("SELECT id, state, job FROM jobs")) {
        while (rs.next()) {
          states.put(rs.getString(1), JobState.valueOf(rs.getString(2)));
          jobs.put(rs.getString(1), Job.parseFrom(rs.getBytes(3)));
        }
      }
      try (ResultSet rs = c.createStatement().executeQuery(
          "SELECT job_id, site, cidr FROM leases")) {
        while (rs.next()) {
          leases.computeIfAbsent(rs.getString(1), k -> new HashMap<>())
              .put(rs.getString(2), Ipv4Cidr.parse(rs.getString(3)));
        }
      }
      try (ResultSet rs = c.createStatement().executeQuery(
          "SELECT id, pair_bps, reservation FROM reservations")) {
        while (rs.next()) {
          Reservation r = Reservation.parseFrom(rs.getBytes(3));
          reservations.put(rs.getString(1), r);
          String p = rs.getString(2);
          long sum = 0;
          if (!p.isEmpty()) {
            for (String part : p.split(";")) {
              sum += Long.parseLong(part.split("=")[1]);
            }
          }
          pairBps.put(rs.getString(1), sum);
        }
      }
    }
    String at = "after kill " + iteration + ": ";
    for (String id : committed) {
      assertThat(reservations).as(at + "acknowledged reservation " + id + " is recorded")
          .containsKey(id);
    }
    for (String id : cancelledReservations) {
      assertThat(reservations.get(id).getState()).as(at + "acknowledged cancel of " + id)
          .isEqualTo(ReservationState.RESERVATION_CANCELLED);
    }
    for (String id : created) {
      assertThat(states).as(at + "acknowledged job " + id + " is recorded").containsKey(id);
    }
    for (String id : cancelled) {
      assertThat(states.get(id)).as(at + "acknowledged cancel of " + id)
          .isEqualTo(JobState.JOB_CANCELLED);
    }
    // Leases never overlap (they are disjoint across sites and reservations).
    List<Map.Entry<String, Ipv4Cidr>> all = new ArrayList<>();
    leases.forEach((id, blocks) -> blocks.values().forEach(b -> all.add(Map.entry(id, b))));
    for (int i = 0; i < all.size(); i++) {
      for (int j = i + 1; j < all.size(); j++) {
        assertThat(all.get(i).getValue().overlaps(all.get(j).getValue()))
            .as(at + "leases " + all.get(i) + " and " + all.get(j) + " overlap").isFalse();
      }
    }
    List<Reservation> liveOnes = reservations.values().stream()
        .filter(r -> live(r.getState())).toList();
    for (Reservation r : liveOnes) {
      assertThat(leases).as(at + "live reservation " + r.getId() + " keeps its lease")
          .containsKey(r.getId());
    }
    for (String site : SITES) {
      List<Reservation> on = liveOnes.stream().filter(r -> r.containsSiteNodes(site)).toList();
      for (int i = 0; i < on.size(); i++) {
        for (int j = i + 1; j < on.size(); j++) {
          Ipv4Cidr a = Ipv4Cidr.parse(on.get(i).getSiteRangesOrThrow(site).getCidr());
          Ipv4Cidr b = Ipv4Cidr.parse(on.get(j).getSiteRangesOrThrow(site).getCidr());
          assertThat(a.overlaps(b)).as(at + "site " + site + ": live reservations "
              + on.get(i).getId() + " (" + a + ") and " + on.get(j).getId() + " (" + b
              + ") overlap").isFalse();
        }
      }
      assertNotOverbooked(at + "site " + site + " nodes", on, r -> (long) r.getSiteNodesOrThrow(
          site), CAPACITY);
    }
    // Every pair (alpha, bravo) crosses both links of the star.
    assertNotOverbooked(at + "links alpha<->core and bravo<->core", liveOnes,
        r -> pairBps.getOrDefault(r.getId(), 0L), LINK_BPS);
    for (String id : unfinishedBefore) {
      Job j = jobs.get(id);
      assertThat(j.getState()).as(at + "job " + id + " left unfinished by the previous kill")
          .isEqualTo(JobState.JOB_FAILED);
      assertThat(j.getMessage()).startsWith("the GRC restarted");
    }
    for (Map.Entry<String, FakeCrm> site : sites.entrySet()) {
      for (String id : site.getValue().live()) {
        Reservation r = reservations.get(id);
        boolean tracked = (r != null && live(r.getState()))
            || (!settling && leases.containsKey(id));
        assertThat(tracked).as(at + "site " + site.getKey() + " still holds reservation " + id
            + " (" + (r == null ? "never recorded" : r.getState()) + ") that the GRC no longer"
            + " tracks").isTrue();
      }
    }
    if (settling) {
      for (String id : leases.keySet()) {
        Reservation r = reservations.get(id);
        assertThat(r != null && live(r.getState())).as(at + "lease of " + id
            + " left after the restart settled").isTrue();
      }
    }
    Set<String> unfinished = new HashSet<>();
    states.forEach((id, s) -> {
      if (!isTerminal(s)) {
        unfinished.add(id);
      }
    });
    unfinishedBefore = unfinished;
    checks.incrementAndGet();
  }

  /** At no instant do the reservations together use more than {@code capacity}. */
  private static void assertNotOverbooked(String what, List<Reservation> rs,
      java.util.function.ToLongFunction<Reservation> use, long capacity) {
    Set<Instant> edges = new TreeSet<>();
    rs.forEach(r -> edges.add(ProtoTime.fromProto(r.getStart())));
    for (Instant t : edges) {
      long sum = 0;
      List<String> who = new ArrayList<>();
      for (Reservation r : rs) {
        if (!t.isBefore(ProtoTime.fromProto(r.getStart()))
            && t.isBefore(ProtoTime.fromProto(r.getEnd()))) {
          sum += use.applyAsLong(r);
          who.add(r.getId());
        }
      }
      assertThat(sum).as(what + " at " + t + " (" + who + ")").isLessThanOrEqualTo(capacity);
    }
  }

  private static boolean isTerminal(JobState s) {
    return s == JobState.JOB_SUCCEEDED || s == JobState.JOB_FAILED || s == JobState.JOB_CANCELLED;
  }
}
