package org.lambdagrid.it.crash;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.testing.FreePorts;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.proto.v1.AbortRequest;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;
import org.lambdagrid.proto.v1.ReleaseRequest;
import org.lambdagrid.proto.v1.SiteInfo;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SiteServiceGrpc;

/**
 * kill -9 of a CRM with the Slurm starter at the exact moments its Slurm reservation and its
 * database disagree, and what the restarted CRM makes of it. The CRM is its own JVM; Slurm is a
 * fake {@code scontrol} and {@code sinfo} in {@code pilot.slurm.bin_dir} that keeps reservations
 * as files and, when told, SIGKILLs its parent (the CRM) right before or after creating a
 * reservation, or right after deleting one: so the kill lands between creating the Slurm
 * reservation and recording the hold, between recording the name and creating, and between
 * deleting and forgetting. After each kill: the CRM's database (read with the CRM dead) still
 * names every Slurm reservation whose hold is not live; after the restart (which sweeps before it
 * serves) Slurm has exactly the reservations of live holds, the database names no other but the
 * names in doubt (a create slurmctld finishes after the restart, as the CRM asked for it, is
 * still found and deleted), and the GRC's retry of the prepare is answered. No root, no Slurm needed (the real Slurm:
 * {@code it/SlurmEndToEndTest}).
 */
class CrmSlurmReservationCrashTest {
  @TempDir Path dir;
  private TestDatabase db;
  private Server grc;
  private Process crm;
  private int port;
  private Path log;

  @BeforeEach
  void fakeGrcAndSlurm() throws Exception {
    db = TestDatabase.create(StoreBackend.H2, dir.resolve("crm-state"), "crm");
    grc = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
        .addService(new SiteRegistryServiceGrpc.SiteRegistryServiceImplBase() {
          @Override
          public void registerSite(RegisterSiteRequest r, StreamObserver<RegisterSiteResponse> o) {
            o.onNext(RegisterSiteResponse.newBuilder().setSite(SiteInfo.newBuilder()
                .setName(r.getName())).build());
            o.onCompleted();
          }
        }).build().start();
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Files.createDirectories(dir.resolve("resv"));
    tool(bin, "scontrol", """
        #!/bin/sh
        [ "$1" = -o ] && shift
        hook=$(cat "$D/kill" 2>/dev/null)
        die() { rm -f "$D/kill"; kill -9 $PPID; sleep 5; exit 1; }
        case "$1" in
        create)
          for a in "$@"; do case "$a" in ReservationName=*) name=${a#*=} ;; esac; done
          # What slurmctld would make of it, had it got the request: the test may make it later.
          # (Slurm shows Accounts=(null) when none was asked for; the first field of a name wins.)
          echo "ReservationName=$name NodeCnt=1 $* Accounts=(null)" > "$D/asked-$name"
          [ "$hook" = create-before ] && die
          if [ -f "$D/resv/$name" ]; then
            echo "Error creating the reservation: Duplicate reservation name" >&2; exit 1
          fi
          echo "ReservationName=$name NodeCnt=1 $* Accounts=(null)" > "$D/resv/$name"
          [ "$hook" = create-after ] && die
          echo "Reservation created: $name" ;;
        show)
          if [ -f "$D/resv/$3" ]; then cat "$D/resv/$3"; else echo "Reservation $3 not found"; exit 1; fi ;;
        delete)
          name=${2#*=}
          if [ ! -f "$D/resv/$name" ]; then
            echo "delete_reservation $2: Requested reservation is invalid" >&2; exit 1
          fi
          rm "$D/resv/$name"
          [ "$hook" = delete-after ] && die
          exit 0 ;;
        esac
        """);
    tool(bin, "sinfo", "#!/bin/sh\necho 'n1|idle|grid*'\necho 'n2|idle|grid*'\n");
    Files.writeString(dir.resolve("crm.yaml"), "site: alpha\nlisten: 127.0.0.1:PORT\n"
        + "grc: 127.0.0.1:" + grc.getPort() + "\nnode_capacity: 4\nranges: [10.10.0.0/24]\n"
        + "state_dir: " + dir.resolve("crm-state") + "\nhold_time: 60s\n"
        + "pilot:\n  starter: slurm\n  run_as_user: false\n  slurm:\n    bin_dir: " + bin
        + "\n    pilots_per_node: 2\n"
        + "tls: {insecure: true}\n" + db.stateYaml());
    log = Path.of("target", "crm-slurm-crash.log");
    Files.deleteIfExists(log);
  }

  private void tool(Path bin, String name, String script) throws IOException {
    Path p = bin.resolve(name);
    Files.writeString(p, script.replace("$D", dir.toString()));
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  @AfterEach
  void stop() throws Exception {
    if (crm != null) {
      crm.destroyForcibly();
      crm.waitFor(30, TimeUnit.SECONDS);
    }
    if (grc != null) {
      grc.shutdownNow();
    }
    if (db != null) {
      db.close();
    }
  }

  /** Starts the CRM and waits until it serves (it sweeps Slurm reservations before that). */
  private void startCrm() throws Exception {
    port = FreePorts.pick();
    Path yaml = dir.resolve("crm-" + port + ".yaml");
    Files.writeString(yaml, Files.readString(dir.resolve("crm.yaml"))
        .replace("PORT", Integer.toString(port)));
    crm = new ProcessBuilder(CrashLoop.java(List.of(), "org.lambdagrid.crm.CrmMain",
        "--config", yaml.toString())).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline) {
      assertThat(crm.isAlive()).as("the CRM is running (log: " + log.toAbsolutePath() + ")")
          .isTrue();
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException e) {
        Thread.sleep(50);
      }
    }
    throw new AssertionError("the CRM did not listen within 60 s (log: " + log + ")");
  }

  private <T> T site(java.util.function.Function<SiteServiceGrpc.SiteServiceBlockingStub, T> call) {
    ManagedChannel ch = Grpc.newChannelBuilderForAddress("127.0.0.1", port,
        InsecureChannelCredentials.create()).build();
    try {
      return call.apply(SiteServiceGrpc.newBlockingStub(ch).withDeadlineAfter(20,
          TimeUnit.SECONDS));
    } finally {
      ch.shutdownNow();
    }
  }

  /** When the test began: windows are counted from it, so a retried prepare asks the same. */
  private final Instant began = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS);

  /**
   * Prepares 2 nodes (one Slurm node) in a window and sub-range of their own; the same
   * {@code slot} gives the same window (as the GRC's retry of a prepare does).
   */
  private void prepare(String id, int slot) {
    Instant start = began.plusSeconds(3600L * (slot + 1));
    site(s -> s.prepare(PrepareRequest.newBuilder().setReservationId(id).setNodeCount(2)
        .setRange(AddressRange.newBuilder().setCidr("10.10.0." + slot * 8 + "/29"))
        .setUser("alice").setStart(ProtoTime.toProto(start))
        .setEnd(ProtoTime.toProto(start.plusSeconds(1800))).build()));
  }

  /** Arms the fake scontrol to SIGKILL the CRM at {@code hook}, runs {@code call}, waits. */
  private void killedAt(String hook, Runnable call) throws Exception {
    killedAt(hook, call, false);
  }

  /**
   * {@link #killedAt(String, Runnable)}; {@code answered}: the call's outcome is decided before
   * the kill (an abort or release: the CRM hands the delete to its sweep thread as it answers,
   * so the kill may land before or after the answer reaches us; either is fine, and what
   * matters is checked after).
   */
  private void killedAt(String hook, Runnable call, boolean answered) throws Exception {
    Files.writeString(dir.resolve("kill"), hook);
    if (answered) {
      try {
        call.run();
      } catch (StatusRuntimeException e) {
        assertThat(e.getStatus().getCode()).as("the call lost its answer to the kill: " + e)
            .isEqualTo(io.grpc.Status.Code.UNAVAILABLE);
      }
    } else {
      assertThatThrownBy(call::run).isInstanceOf(StatusRuntimeException.class);
    }
    assertThat(crm.waitFor(30, TimeUnit.SECONDS)).as("the CRM was killed at " + hook).isTrue();
    assertThat(crm.exitValue()).isEqualTo(137);
    assertThat(dir.resolve("kill")).doesNotExist();
  }

  private java.util.Set<String> slurmReservations() throws IOException {
    try (Stream<Path> s = Files.list(dir.resolve("resv"))) {
      return new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
    }
  }

  /** The CRM's records, read with the CRM dead: hold states and recorded Slurm names. */
  private record Records(Map<String, String> holds, Map<String, String> batch) {
    java.util.Set<String> liveHolds() {
      java.util.Set<String> live = new TreeSet<>();
      holds.forEach((id, st) -> {
        if (st.equals("PREPARED") || st.equals("COMMITTED")) {
          live.add(id);
        }
      });
      return live;
    }
  }

  private Records records() throws Exception {
    Map<String, String> holds = new TreeMap<>();
    Map<String, String> batch = new TreeMap<>();
    try (Connection c = db.connect()) {
      try (ResultSet rs = c.createStatement().executeQuery("SELECT id, state FROM holds")) {
        while (rs.next()) {
          holds.put(rs.getString(1), rs.getString(2));
        }
      }
      try (ResultSet rs = c.createStatement().executeQuery(
          "SELECT reservation_id, name FROM batch_reservations")) {
        while (rs.next()) {
          batch.put(rs.getString(1), rs.getString(2));
        }
      }
    }
    return new Records(holds, batch);
  }

  /**
   * With the CRM dead: every Slurm reservation belongs to a live hold or is recorded (so the
   * next start deletes it), and every live hold has its Slurm reservation.
   */
  private void assertNothingUntracked(String at) throws Exception {
    Records r = records();
    for (String name : slurmReservations()) {
      String id = name.substring("lg-alpha-".length());
      assertThat(r.liveHolds().contains(id) || name.equals(r.batch().get(id)))
          .as(at + ": Slurm reservation " + name + " is a live hold's or recorded: " + r)
          .isTrue();
    }
    for (String id : r.liveHolds()) {
      assertThat(slurmReservations()).as(at + ": live hold " + id).contains("lg-alpha-" + id);
    }
  }

  /**
   * With the CRM serving again: Slurm has exactly the reservations of live holds (at once after
   * a restart, which sweeps before it serves; after an abort or release within a few seconds,
   * as their deletes run on the CRM's sweep thread).
   */
  private void assertOnlyLiveHoldsReserved(String at, String... live) throws Exception {
    java.util.Set<String> want = new TreeSet<>();
    for (String id : live) {
      want.add("lg-alpha-" + id);
    }
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!slurmReservations().equals(want) && System.nanoTime() < end) {
      Thread.sleep(50);
    }
    assertThat(slurmReservations()).as(at).isEqualTo(want);
  }

  @Test
  void aKilledCrmLeavesNoSlurmReservationWithoutALiveHoldAfterItsRestart() throws Exception {
    startCrm();
    prepare("r-00000001", 0);
    site(s -> s.commit(CommitRequest.newBuilder().setReservationId("r-00000001").build()));

    // 1. Between creating the Slurm reservation and recording the hold.
    killedAt("create-after", () -> prepare("r-00000002", 1));
    assertThat(slurmReservations()).contains("lg-alpha-r-00000002");
    assertThat(records().holds()).doesNotContainKey("r-00000002");
    assertNothingUntracked("killed after creating r-00000002");
    startCrm();
    assertOnlyLiveHoldsReserved("restarted after creating r-00000002", "r-00000001");
    crm.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    // r-00000002's name stays recorded while in doubt (IN_DOUBT from the restart).
    assertThat(records().batch()).containsOnlyKeys("r-00000001", "r-00000002");
    assertNothingUntracked("killed again after the restart");
    startCrm();
    prepare("r-00000002", 1); // the GRC's retry after the restart
    assertOnlyLiveHoldsReserved("the retried prepare", "r-00000001", "r-00000002");

    // 2. Between recording the name and creating.
    killedAt("create-before", () -> prepare("r-00000003", 2));
    assertNothingUntracked("killed before creating r-00000003");
    assertThat(records().batch()).containsKey("r-00000003");
    startCrm();
    assertOnlyLiveHoldsReserved("restarted before creating r-00000003", "r-00000001",
        "r-00000002");
    // slurmctld finishes the create the killed CRM asked for after the restart swept: the name
    // is in doubt after a restart, so the periodic sweep finds it, sees the window and user the
    // CRM recorded, and deletes it.
    Files.copy(dir.resolve("asked-lg-alpha-r-00000003"),
        dir.resolve("resv").resolve("lg-alpha-r-00000003"));
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (slurmReservations().contains("lg-alpha-r-00000003") && System.nanoTime() < end) {
      Thread.sleep(100);
    }
    assertOnlyLiveHoldsReserved("a late create of r-00000003 after the restart",
        "r-00000001", "r-00000002");

    // 3. Between deleting (an abort) and forgetting the name.
    killedAt("delete-after", () -> site(s -> s.abort(AbortRequest.newBuilder()
        .setReservationId("r-00000002").build())), true);
    assertNothingUntracked("killed after deleting r-00000002");
    assertThat(records().holds()).containsEntry("r-00000002", "ABORTED");
    startCrm();
    assertOnlyLiveHoldsReserved("restarted after deleting r-00000002", "r-00000001");

    // A release ends the last one; nothing is left in Slurm or in the records.
    site(s -> s.release(ReleaseRequest.newBuilder().setReservationId("r-00000001")
        .setReason("test").build()));
    assertOnlyLiveHoldsReserved("all released");
    crm.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    // Names may stay recorded (in doubt after the last restart, or a kill between the sweep
    // thread's delete and its forgetting): without a live hold they are swept at the next start,
    // as step 1 shows.
    assertThat(records().liveHolds()).isEmpty();
  }
}
