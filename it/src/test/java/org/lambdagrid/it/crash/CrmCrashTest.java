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
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.store.StoreException;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.ReserveShareRequest;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.SiteInfo;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SiteServiceGrpc;

/**
 * kill -9 a CRM at random moments while a GRC (this test) reserves, releases and starts shares,
 * and check after every kill, from the CRM's database file with the daemon dead, that:
 * <ul>
 *   <li>every share the CRM acknowledged (and that was not released or started since) is
 *       recorded, with the range it was given; every acknowledged release is gone;
 *   <li>the recorded shares never hold more nodes than the site has, nor two overlapping ranges
 *       (every window here overlaps every other), so nothing is handed out twice;
 *   <li>a share that had been started (pilots launched) before a kill is gone by the next kill:
 *       its pilots cannot survive the CRM, and the restart forgets it.
 * </ul>
 * Pilots: the launcher is {@code /bin/true}, so SetupNodes launches pilots that exit at once
 * and fails, but the share is then "started". Iterations: {@code -Dlambdagrid.crash.crm}
 * (default 20).
 */
class CrmCrashTest {
  private static final int ITERATIONS = Integer.getInteger("lambdagrid.crash.crm", 20);
  private static final int CAPACITY = 8;

  @TempDir Path dir;
  private Server grc;
  private final Map<String, ReserveShareRequest> reserved = new ConcurrentHashMap<>();
  private final Set<String> released = ConcurrentHashMap.newKeySet();
  private final Set<String> setupTried = ConcurrentHashMap.newKeySet();
  /**
   * Shares the CRM may hold, across iterations (reserved shares survive restarts): acknowledged
   * ones and ones whose reserve was cut off by a kill; each is released some time later.
   */
  private final Set<String> live = ConcurrentHashMap.newKeySet();
  /** Releases that failed (perhaps after taking effect): whether the share exists is unknown. */
  private final Set<String> uncertain = ConcurrentHashMap.newKeySet();
  private final AtomicInteger jobs = new AtomicInteger();
  private final AtomicReference<String> lockMessage = new AtomicReference<>();
  private Set<String> startedBefore = Set.of();

  @AfterEach
  void stopGrc() {
    if (grc != null) {
      grc.shutdownNow();
    }
  }

  private String url() {
    return "jdbc:h2:file:" + dir.resolve("crm-state").resolve("crm");
  }

  @Test
  void killedCrmKeepsEveryAcknowledgedShareAndHandsNothingOutTwice() throws Exception {
    grc = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
        .addService(new SiteRegistryServiceGrpc.SiteRegistryServiceImplBase() {
          @Override
          public void registerSite(RegisterSiteRequest r, StreamObserver<RegisterSiteResponse> o) {
            o.onNext(RegisterSiteResponse.newBuilder().setSite(SiteInfo.newBuilder()
                .setName(r.getName())).build());
            o.onCompleted();
          }
        }).build().start();
    Path log = Path.of("target", "crm-crash.log"); // kept for a failure's post-mortem
    Files.deleteIfExists(log);
    CrashLoop loop = new CrashLoop((iteration, port, flags) -> {
      Path yaml = dir.resolve("crm.yaml");
      Files.writeString(yaml, "site: alpha\nlisten: 127.0.0.1:" + port + "\ngrc: 127.0.0.1:"
          + grc.getPort() + "\nnode_capacity: " + CAPACITY + "\nranges: [10.10.0.0/24]\n"
          + "state_dir: " + dir.resolve("crm-state") + "\nshutdown_wait: 1s\n"
          + "pilot:\n  launcher: /bin/true\n  run_as_user: false\n  stop_grace: 1s\n"
          + "tls: {insecure: true}\n");
      return new ProcessBuilder(CrashLoop.java(flags, "org.lambdagrid.crm.CrmMain", "--config",
          yaml.toString())).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }, 11);
    loop.workload(this::grc).workload(this::grc).workload(this::lockedWhileRunning)
        .invariant(this::check);
    CrashLoop.Report report = loop.run(ITERATIONS);
    System.out.printf("CrmCrashTest: %d kills in %d ms; %d shares acknowledged, %d releases,"
        + " %d setups tried (%d reserve attempts)%n", report.iterations(), report.millis(),
        reserved.size(), released.size(), setupTried.size(), jobs.get());
    assertThat(reserved).hasSizeGreaterThan(ITERATIONS);
    assertThat(released).isNotEmpty();
    assertThat(lockMessage.get()).as("a second opener of the running CRM's database")
        .startsWith("state database " + url()).contains("is locked by another process");
  }

  /** The GRC's side: reserve, release and (sometimes) start shares until the kill. */
  private void grc(int iteration, int port, AtomicBoolean stop, Runnable acked) {
    ManagedChannel ch = Grpc.newChannelBuilderForAddress("127.0.0.1", port,
        InsecureChannelCredentials.create()).build();
    Random random = new Random(iteration * 17L + Thread.currentThread().getId());
    var site = SiteServiceGrpc.newBlockingStub(ch);
    try {
      while (!stop.get()) {
        try {
          int what = random.nextInt(6);
          String id = what < 3 ? take(random) : null;
          if (id != null && what < 2) {
            try {
              site.withDeadlineAfter(5, TimeUnit.SECONDS).releaseShare(ReleaseShareRequest
                  .newBuilder().setJobId(id).setReason("crash test").build());
            } catch (StatusRuntimeException e) {
              uncertain.add(id);
              live.add(id); // try again later: ReleaseShare is idempotent
              throw e;
            }
            released.add(id);
            acked.run();
          } else if (id != null) {
            setupTried.add(id);
            try {
              site.withDeadlineAfter(5, TimeUnit.SECONDS).setupNodes(SetupNodesRequest
                  .newBuilder().setJobId(id).setSite("alpha").setUser("alice")
                  .setTimeout(ProtoTime.toProto(Duration.ofMillis(500))).build());
            } catch (StatusRuntimeException e) {
              // expected: the pilots (/bin/true) exit at once
            }
            live.add(id); // started (forgotten by the next restart) or not: release it later
            acked.run();
          } else {
            int n = 1 + random.nextInt(2);
            int block = random.nextInt(64); // a /30 (or /29 for 2 nodes) of 10.10.0.0/24
            String cidr = n == 1 ? "10.10.0." + block * 4 + "/30" : "10.10.0." + (block / 2) * 8
                + "/29";
            String job = "j-" + iteration + "-" + jobs.incrementAndGet();
            Instant now = Instant.now();
            ReserveShareRequest r = ReserveShareRequest.newBuilder().setJobId(job).setNodeCount(n)
                .setRange(AddressRange.newBuilder().setCidr(cidr)).setUser("alice")
                .setStart(ProtoTime.toProto(now)).setEnd(ProtoTime.toProto(now.plusSeconds(3600)))
                .build();
            try {
              site.withDeadlineAfter(5, TimeUnit.SECONDS).reserveShare(r);
            } catch (StatusRuntimeException e) {
              if (e.getStatus().getCode() != io.grpc.Status.Code.FAILED_PRECONDITION) {
                live.add(job); // perhaps held after all: release it later (idempotent)
              }
              throw e;
            }
            reserved.put(job, r);
            live.add(job);
            acked.run();
          }
        } catch (StatusRuntimeException e) {
          // refused (full, overlapping) or cut off by the kill: nothing was promised
          if (e.getStatus().getCode() == io.grpc.Status.Code.UNAVAILABLE) {
            GrcCrashTest.pause(); // the daemon is gone (killed, not yet noticed): don't spin
          }
        }
      }
    } finally {
      ch.shutdownNow();
    }
  }

  /** Takes one live share (no other client gets it), or null. */
  private String take(Random random) {
    List<String> all = new ArrayList<>(live);
    if (all.isEmpty()) {
      return null;
    }
    String id = all.get(random.nextInt(all.size()));
    return live.remove(id) ? id : null;
  }

  /** Once, while the CRM runs: a second opener of its database is told who holds it. */
  private void lockedWhileRunning(int iteration, int port, AtomicBoolean stop, Runnable acked) {
    if (iteration != 1 || lockMessage.get() != null) {
      return;
    }
    try (Database db = Database.open(url(), null, null, "crm", List.of())) {
      lockMessage.set("opened: " + db.url());
    } catch (StoreException e) {
      lockMessage.set(e.getMessage());
    }
  }

  private void check(int iteration) throws Exception {
    Map<String, String> ranges = new HashMap<>();
    Map<String, Integer> nodes = new HashMap<>();
    Set<String> started = new HashSet<>();
    try (Connection c = DriverManager.getConnection(url())) {
      try (ResultSet rs = c.createStatement().executeQuery(
          "SELECT job_id, node_count, cidr, started FROM shares")) {
        while (rs.next()) {
          ranges.put(rs.getString(1), rs.getString(3));
          nodes.put(rs.getString(1), rs.getInt(2));
          if (rs.getInt(4) != 0) {
            started.add(rs.getString(1));
          }
        }
      }
    }
    String at = "after kill " + iteration + ": ";
    for (Map.Entry<String, ReserveShareRequest> e : reserved.entrySet()) {
      String id = e.getKey();
      if (released.contains(id)) {
        assertThat(ranges).as(at + "released share " + id).doesNotContainKey(id);
      } else if (!setupTried.contains(id) && !uncertain.contains(id)) {
        assertThat(ranges.get(id)).as(at + "acknowledged share " + id)
            .isEqualTo(e.getValue().getRange().getCidr());
      }
    }
    assertThat(nodes.values().stream().mapToInt(Integer::intValue).sum())
        .as(at + "nodes held by recorded shares " + nodes).isLessThanOrEqualTo(CAPACITY);
    List<Map.Entry<String, String>> all = new ArrayList<>(ranges.entrySet());
    for (int i = 0; i < all.size(); i++) {
      for (int j = i + 1; j < all.size(); j++) {
        assertThat(Ipv4Cidr.parse(all.get(i).getValue())
            .overlaps(Ipv4Cidr.parse(all.get(j).getValue())))
            .as(at + "shares " + all.get(i) + " and " + all.get(j) + " overlap").isFalse();
      }
    }
    for (String id : startedBefore) {
      assertThat(ranges).as(at + "share " + id + " was started before the previous kill")
          .doesNotContainKey(id);
    }
    startedBefore = started;
  }
}
