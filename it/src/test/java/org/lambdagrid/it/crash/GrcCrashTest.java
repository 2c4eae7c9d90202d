package org.lambdagrid.it.crash;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.store.StoreException;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.ReleaseShareResponse;
import org.lambdagrid.proto.v1.ReserveShareRequest;
import org.lambdagrid.proto.v1.ReserveShareResponse;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.SubmitJobRequest;

/**
 * kill -9 the GRC at random moments while clients submit and cancel jobs, many times over, and
 * check after every kill (from the GRC's database file, with the daemon dead) that:
 * <ul>
 *   <li>every job a client was told was created is recorded; every job a client was told was
 *       cancelled is recorded CANCELLED;
 *   <li>no two recorded address leases overlap;
 *   <li>every job a kill left unfinished is FAILED ("the GRC restarted ...") at the next kill;
 *   <li>every share a CRM still holds belongs to a job the GRC still tracks (an unfinished job
 *       or a lease), so nothing is leaked at the CRMs.
 * </ul>
 * Finally the GRC starts once more and runs undisturbed until the CRMs hold nothing; then no
 * lease may be left: whatever the last kill left (leases of jobs never recorded, jobs failed by
 * the restart) was released by the restart alone.
 * The CRMs are fakes in this JVM (ReserveShare/ReleaseShare only; jobs that start at once fail
 * in phase SETUP, which exercises the ending path). Iterations: {@code -Dlambdagrid.crash.grc}
 * (default 20; each costs a JVM start, 1.5-2 s on an idle 2-core machine).
 */
class GrcCrashTest {
  private static final int ITERATIONS = Integer.getInteger("lambdagrid.crash.grc", 20);

  @TempDir Path dir;
  private final List<Server> crms = new ArrayList<>();
  private final Map<String, FakeCrm> sites = new HashMap<>();
  /** Acknowledged by the GRC: job ids created, and those cancelled. */
  private final Set<String> created = ConcurrentHashMap.newKeySet();
  private final Set<String> cancelled = ConcurrentHashMap.newKeySet();
  private final AtomicInteger submits = new AtomicInteger();
  private final AtomicInteger cancels = new AtomicInteger();
  /** Refusals seen while the GRC was up (status: description -> count), for the report. */
  private final Map<String, Integer> refusals = new ConcurrentHashMap<>();
  private Set<String> unfinishedBefore = Set.of();
  private volatile boolean settling;
  private final java.util.concurrent.atomic.AtomicReference<String> lockMessage =
      new java.util.concurrent.atomic.AtomicReference<>();

  /** A CRM that records holds and releases; every other RPC is UNIMPLEMENTED. */
  static final class FakeCrm extends SiteServiceGrpc.SiteServiceImplBase {
    final Map<String, ReserveShareRequest> held = new ConcurrentHashMap<>();

    @Override
    public void reserveShare(ReserveShareRequest r, StreamObserver<ReserveShareResponse> out) {
      held.put(r.getJobId(), r);
      out.onNext(ReserveShareResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void releaseShare(ReleaseShareRequest r, StreamObserver<ReleaseShareResponse> out) {
      held.remove(r.getJobId());
      out.onNext(ReleaseShareResponse.getDefaultInstance());
      out.onCompleted();
    }
  }

  @AfterEach
  void stopCrms() {
    crms.forEach(Server::shutdownNow);
  }

  private Path stateDir() {
    return dir.resolve("state");
  }

  private String url() {
    return "jdbc:h2:file:" + stateDir().resolve("grc");
  }

  @Test
  void killedGrcLosesNoAcknowledgedJobAndLeaksNoLease() throws Exception {
    for (String s : List.of("alpha", "bravo")) {
      FakeCrm crm = new FakeCrm();
      Server server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
          .addService(crm).build().start();
      crms.add(server);
      sites.put(s, crm);
    }
    Path log = Path.of("target", "grc-crash.log"); // kept for a failure's post-mortem
    Files.deleteIfExists(log);
    CrashLoop loop = new CrashLoop((iteration, port, flags) -> {
      Path yaml = dir.resolve("grc.yaml");
      Files.writeString(yaml, "listen: 127.0.0.1:" + port + "\nstate_dir: " + stateDir()
          + "\nrpc_timeout: 5s\ncall_margin: 500ms\nphase_timeouts: {setup: 2s, keys: 2s,"
          + " set_keys: 2s, run: 2s, exec: 2s}\ntls: {insecure: true}\n");
      return new ProcessBuilder(CrashLoop.java(flags, "org.lambdagrid.grc.GrcMain", "--config",
          yaml.toString())).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }, 7);
    loop.workload(this::clients).workload(this::clients).invariant(this::check)
        .workload(this::lockedWhileRunning);
    CrashLoop.Report report = loop.run(ITERATIONS);
    // Once more, without a kill timer: everything the last kill left must be released at the
    // CRMs and its leases freed, by the restart alone.
    settling = true;
    loop.settle(() -> sites.values().stream().allMatch(c -> c.held.isEmpty()),
        Duration.ofSeconds(60), ITERATIONS + 1);
    System.out.printf("GrcCrashTest: %d kills in %d ms; %d jobs acknowledged created, %d"
        + " cancelled (%d submits, %d cancels attempted)%n", report.iterations(), report.millis(),
        created.size(), cancelled.size(), submits.get(), cancels.get());
    System.out.println("refusals while up: " + refusals);
    assertThat(report.killedWhileServing()).isEqualTo(ITERATIONS);
    assertThat(created).hasSizeGreaterThan(ITERATIONS);
    assertThat(cancelled).isNotEmpty();
    assertThat(lockMessage.get()).as("a second opener of the running GRC's database")
        .startsWith("state database " + url()).contains("is locked by another process");
  }

  /** One client: registers the sites (idempotent), then submits and cancels until stopped. */
  private void clients(int iteration, int port, AtomicBoolean stop, Runnable acked) {
    ManagedChannel ch = Grpc.newChannelBuilderForAddress("127.0.0.1", port,
        InsecureChannelCredentials.create()).build();
    Random random = new Random(iteration * 31L + Thread.currentThread().getId());
    List<String> mine = new ArrayList<>();
    try {
      if (iteration == 1) {
        var reg = SiteRegistryServiceGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS);
        int i = 0;
        for (String s : List.of("alpha", "bravo")) {
          reg.registerSite(RegisterSiteRequest.newBuilder().setName(s)
              .setCrmEndpoint("127.0.0.1:" + crms.get(i++).getPort()).setNodeCapacity(100000)
              .addRanges(AddressRange.newBuilder().setCidr("10.10.0.0/20")).build());
        }
      }
      var grid = GridServiceGrpc.newBlockingStub(ch);
      while (!stop.get()) {
        try {
          if (!mine.isEmpty() && random.nextInt(3) == 0) {
            String id = mine.remove(random.nextInt(mine.size()));
            cancels.incrementAndGet();
            Job j = grid.withDeadlineAfter(5, TimeUnit.SECONDS)
                .cancelJob(CancelJobRequest.newBuilder().setJobId(id).build()).getJob();
            if (j.getState() == JobState.JOB_CANCELLED) {
              cancelled.add(id);
            }
            acked.run();
          } else {
            JobSpec.Builder spec = JobSpec.newBuilder().setUser("alice").addArgv("true")
                .setWorkingDirectory("/tmp").putSiteNodes("alpha", 1 + random.nextInt(3));
            if (random.nextBoolean()) {
              spec.putSiteNodes("bravo", 1 + random.nextInt(2));
            }
            if (random.nextInt(4) != 0) { // most wait for a later start: PENDING
              spec.setStart(ProtoTime.toProto(Instant.now().plusSeconds(3600)));
            }
            submits.incrementAndGet();
            Job j = grid.withDeadlineAfter(5, TimeUnit.SECONDS)
                .submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build()).getJob();
            created.add(j.getId());
            mine.add(j.getId());
            acked.run();
          }
        } catch (StatusRuntimeException e) {
          // refused or cut off by the kill: nothing was promised
          if (stop.get()) {
            return;
          }
          if (e.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE) {
            pause(); // the daemon is gone (killed, not yet noticed): don't spin
            continue;
          }
          String d = String.valueOf(e.getStatus().getDescription());
          refusals.merge(e.getStatus().getCode() + ": " + d.substring(0, Math.min(80,
              d.length())), 1, Integer::sum);
        }
      }
    } catch (StatusRuntimeException e) {
      // registration cut off by the kill
    } finally {
      ch.shutdownNow();
    }
  }

  static void pause() {
    try {
      Thread.sleep(20);
    } catch (InterruptedException ie) {
      Thread.currentThread().interrupt();
    }
  }

  /** Once, while the GRC runs: a second opener of its database is told who holds it. */
  private void lockedWhileRunning(int iteration, int port, AtomicBoolean stop, Runnable acked) {
    if (iteration != 1 || lockMessage.get() != null) {
      return;
    }
    try (Database db = Database.open(url(), null, null, "grc", List.of())) {
      lockMessage.set("opened: " + db.url());
    } catch (StoreException e) {
      lockMessage.set(e.getMessage());
    }
  }

  private void check(int iteration) throws Exception {
    Map<String, JobState> states = new HashMap<>();
    Map<String, Job> jobs = new HashMap<>();
    Map<String, List<Ipv4Cidr>> leases = new HashMap<>();
    try (Connection c = DriverManager.getConnection(url())) {
      try (ResultSet rs = c.createStatement().executeQuery("SELECT id, state, job FROM jobs")) {
        while (rs.next()) {
          states.put(rs.getString(1), JobState.valueOf(rs.getString(2)));
          jobs.put(rs.getString(1), Job.parseFrom(rs.getBytes(3)));
        }
      }
      try (ResultSet rs = c.createStatement().executeQuery("SELECT job_id, cidr FROM leases")) {
        while (rs.next()) {
          leases.computeIfAbsent(rs.getString(1), k -> new ArrayList<>())
              .add(Ipv4Cidr.parse(rs.getString(2)));
        }
      }
    }
    String at = "after kill " + iteration + ": ";
    for (String id : created) {
      assertThat(states).as(at + "acknowledged job " + id + " is recorded").containsKey(id);
    }
    for (String id : cancelled) {
      assertThat(states.get(id)).as(at + "acknowledged cancel of " + id)
          .isEqualTo(JobState.JOB_CANCELLED);
    }
    List<Map.Entry<String, Ipv4Cidr>> all = new ArrayList<>();
    leases.forEach((job, blocks) -> blocks.forEach(b -> all.add(Map.entry(job, b))));
    for (int i = 0; i < all.size(); i++) {
      for (int j = i + 1; j < all.size(); j++) {
        assertThat(all.get(i).getValue().overlaps(all.get(j).getValue()))
            .as(at + "leases " + all.get(i) + " and " + all.get(j) + " overlap").isFalse();
      }
    }
    // A lease of an unrecorded job (killed between leasing and recording it) or of a job a
    // restart failed may outlive a kill: the restart keeps it until every CRM confirmed the
    // release. That it is freed in the end is what the settling round checks.
    if (settling) {
      assertThat(leases).as(at + "leases left after the restart settled").isEmpty();
    }
    for (String id : unfinishedBefore) {
      Job j = jobs.get(id);
      assertThat(j.getState()).as(at + "job " + id + " left unfinished by the previous kill")
          .isEqualTo(JobState.JOB_FAILED);
      assertThat(j.getMessage()).startsWith("the GRC restarted");
    }
    for (Map.Entry<String, FakeCrm> site : sites.entrySet()) {
      for (String job : site.getValue().held.keySet()) {
        JobState s = states.get(job);
        assertThat(leases.containsKey(job) || (s != null && !isTerminal(s)))
            .as(at + "site " + site.getKey() + " still holds a share of job " + job + " ("
                + s + ") that the GRC no longer tracks").isTrue();
      }
    }
    Set<String> unfinished = new HashSet<>();
    states.forEach((id, s) -> {
      if (!isTerminal(s)) {
        unfinished.add(id);
      }
    });
    unfinishedBefore = unfinished;
  }

  private static boolean isTerminal(JobState s) {
    return s == JobState.JOB_SUCCEEDED || s == JobState.JOB_FAILED || s == JobState.JOB_CANCELLED;
  }
}
