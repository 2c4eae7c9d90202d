package org.lambdagrid.grc.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.util.JsonFormat;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import org.lambdagrid.common.testing.FreePorts;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.grc.testing.FakeSites;
import io.grpc.stub.StreamObserver;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.ListJobsRequest;
import org.lambdagrid.proto.v1.ListJobsResponse;
import org.lambdagrid.proto.v1.ListReservationsRequest;
import org.lambdagrid.proto.v1.ListReservationsResponse;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.ListSitesResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class GrcCliTest {
  private final FakeSites fakes = new FakeSites();
  private FakeSite a;
  private GrcServer server;
  private String endpoint;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  @BeforeEach
  void setUp() throws Exception {
    a = fakes.add("a");
    fakes.add("b");
    GrcConfig config = new GrcConfig("127.0.0.1:0", GrcConfig.PhaseTimeouts.all("2s"), "2s",
        "200ms", null, null);
    server = new GrcServer(config, Clock.systemUTC(), fakes.factory(),
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))).start();
    endpoint = "127.0.0.1:" + server.port();
    server.registry().register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/16"), 1);
    server.registry().register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/16"), 1);
  }

  @AfterEach
  void tearDown() {
    server.close();
  }

  private int grc(String... args) {
    return grcWithEnv(Map.of("LAMBDAGRID_GRC", endpoint), args);
  }

  /** The server here is plaintext: the CLI dials it with LAMBDAGRID_INSECURE=1. */
  private int grcWithEnv(Map<String, String> env, String... args) {
    Map<String, String> all = new java.util.HashMap<>(env);
    all.put("LAMBDAGRID_INSECURE", "1");
    CommandLine cli = GrcCli.commandLine(all, "alice");
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  /** Usage errors say "see 'grc X --help'": that must work for every subcommand. */
  @Test
  void everySubcommandTakesHelp() {
    for (String cmd : List.of("sites", "reserve", "reservations", "submit", "status", "watch",
        "logs", "hosts", "cancel")) {
      for (String flag : List.of("--help", "-h")) {
        out.getBuffer().setLength(0);
        err.getBuffer().setLength(0);
        assertThat(grc(cmd, flag)).as("grc %s %s: %s", cmd, flag, err).isZero();
        assertThat(out.toString()).startsWith("Usage: grc " + cmd);
        assertThat(err.toString()).isEmpty();
      }
    }
  }

  @Test
  void sitesAsJsonParsesBackIntoTheResponse() throws Exception {
    assertThat(grc("sites", "-o", "json")).isZero();
    ListSitesResponse.Builder r = ListSitesResponse.newBuilder();
    JsonFormat.parser().merge(out.toString(), r);
    assertThat(r.getSitesList()).extracting(s -> s.getName()).containsExactly("a", "b");
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void reserveListSubmitIntoAndCancelAReservation() {
    a.holdExit();
    assertThat(grc("reserve", "--site", "a=2", "--site", "b=1", "--duration", "10m",
        "--cpus", "1", "--memory", "256M")).isZero();
    String r = out.toString().strip();
    assertThat(r).matches("r-[0-9a-f]{8}");
    assertThat(err.toString()).contains("grc: reserved " + r + ": a=2,b=1, 1 CPU, 256 MiB per"
        + " node, ");
    out.getBuffer().setLength(0);
    assertThat(grc("reservations")).isZero();
    assertThat(out.toString()).contains("RESERVATION").contains(r).contains("a=2,b=1")
        .contains("alice");
    out.getBuffer().setLength(0);
    assertThat(grc("submit", "--reservation", r, "--", "sleep", "60")).isZero();
    String job = out.toString().strip();
    assertThat(server.coordinator().get(job).getReservationId()).isEqualTo(r);
    out.getBuffer().setLength(0);
    assertThat(grc("reservations", r)).isZero();
    assertThat(out.toString()).contains("reservation: " + r).contains("jobs:        " + job)
        .contains("per node:    1 CPU, 256 MiB");
    out.getBuffer().setLength(0);
    assertThat(grc("status", job)).isZero();
    assertThat(out.toString()).contains("per node:   1 CPU, 256 MiB");
    out.getBuffer().setLength(0);
    assertThat(grc("cancel", r)).isZero();
    assertThat(out.toString().strip()).isEqualTo(r + " CANCELLED");
    assertThat(server.coordinator().get(job).getState()).isEqualTo(JobState.JOB_CANCELLED);
    assertThat(server.allocator().holders()).isEmpty();
  }

  @Test
  void badReservationsAreOneLineWithTheFieldAndNoStackTrace() {
    assertThat(grc("reserve", "--site", "a=1", "--site", "b=1", "--bandwidth", "0")).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo(
        "grc: spec.bandwidth_bps: '0' must be positive (leave it unset for no bandwidth)");
    err.getBuffer().setLength(0);
    assertThat(grc("reserve", "--site", "a=1", "--site", "b=1", "--bandwidth", "100M"))
        .isEqualTo(2);
    assertThat(err.toString().strip()).startsWith("grc: spec.bandwidth_bps:")
        .contains("no network path joins");
    err.getBuffer().setLength(0);
    assertThat(grc("reserve", "--site", "a=9")).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo(
        "grc: spec.site_nodes[a]: '9' is more nodes than site 'a' has (capacity 4)");
    err.getBuffer().setLength(0);
    assertThat(grc("reserve", "--site", "tokyo=1")).isEqualTo(1);
    assertThat(err.toString().strip()).isEqualTo(
        "grc: site 'tokyo' is not registered (known sites: a, b)");
    err.getBuffer().setLength(0);
    assertThat(grc("reserve", "--site", "a=1", "--start", "+1h", "--deadline", "+30m"))
        .isEqualTo(2);
    assertThat(err.toString().strip()).startsWith("grc: spec.deadline: '")
        .contains("is not after the start");
    err.getBuffer().setLength(0);
    assertThat(grc("reserve", "--site", "a=1", "--start", "2001-01-01T00:00:00Z")).isEqualTo(2);
    assertThat(err.toString().strip()).startsWith("grc: spec.start: '2001-01-01T00:00:00Z' is in"
        + " the past");
    err.getBuffer().setLength(0);
    assertThat(grc("reserve", "--site", "a=1", "--cpus", "0")).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo(
        "grc: --cpus: '0' must be at least 1 (leave it unset for all of the node's CPUs)");
    err.getBuffer().setLength(0);
    assertThat(grc("submit", "--site", "a=1", "--memory", "1x", "--", "true")).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo(
        "grc: --memory: '1x' is not a size (examples: 512M, 2G, 1.5G, 268435456)");
    err.getBuffer().setLength(0);
    assertThat(grc("cancel", "x-1")).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo(
        "grc: 'x-1' is neither a job id (j-...) nor a reservation id (r-...)");
    assertThat(err.toString()).doesNotContain("Exception").doesNotContain("\tat ");
  }

  @Test
  void eventLinesNameTheNodeOrTheSite() {
    org.lambdagrid.proto.v1.Event.Builder e = org.lambdagrid.proto.v1.Event.newBuilder()
        .setSequence(7).setTime(org.lambdagrid.common.ProtoTime.toProto(
            java.time.Instant.parse("2026-01-02T03:04:05Z")))
        .setSite("b").setPhase(org.lambdagrid.proto.v1.Phase.PHASE_EXEC);
    assertThat(Output.eventLine(e.setHostname("b-1")
        .setNodeState(org.lambdagrid.proto.v1.NodeState.NODE_LOST).setMessage("gone").build()))
        .isEqualTo("   7 2026-01-02T03:04:05Z b-1 LOST [EXEC]: gone");
    // A site-level note of the GRC's own (its CRM lost or back) has no state to print.
    assertThat(Output.eventLine(e.clearHostname().clearNodeState()
        .setMessage("the CRM of site 'b' is back; its share continues").build()))
        .isEqualTo("   7 2026-01-02T03:04:05Z site b [EXEC]: the CRM of site 'b' is back; its"
            + " share continues");
  }

  @Test
  void sitesAsATable() {
    assertThat(grc("--grc", endpoint, "sites")).isZero();
    assertThat(out.toString().lines()).hasSize(3);
    assertThat(out.toString()).contains("NAME").contains("a.fake:7301").contains("10.10.0.0/16");
    assertThat(out.toString()).as("no routed site: no OVERLAY column").doesNotContain("OVERLAY");
  }

  @Test
  void sitesShowsARoutedSitesOverlayEnd() {
    server.registry().register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/16"), 1,
        new org.lambdagrid.grc.site.Site.Overlay("172.31.255.6", "", 1550));
    assertThat(grc("--grc", endpoint, "sites")).isZero();
    List<String> lines = out.toString().lines().toList();
    assertThat(lines.get(0)).contains("OVERLAY");
    assertThat(lines.get(1)).startsWith("a ").endsWith("-");
    assertThat(lines.get(2)).startsWith("b ").endsWith("172.31.255.6 mtu 1550");
  }

  @Test
  void submitWaitStreamsOutputAndExitsWithTheCommandsExitCode() {
    a.stdout("hello from a-0\n").exitCode(7);
    int code = grc("submit", "--site", "a=2", "--site", "b=1", "--env", "K=V", "--wait",
        "--", "mpirun", "-np", "3", "./app");
    assertThat(code).isEqualTo(7);
    assertThat(out.toString()).isEqualTo("hello from a-0\n");
    assertThat(err.toString()).contains("SETTING_UP").contains("RUNNING")
        .doesNotContain("Exception");
    String failed = err.toString().strip().lines().reduce((x, y) -> y).orElseThrow();
    assertThat(failed).matches("grc: job j-[0-9a-f]{8} failed: command exited with code 7.*");
    String id = server.coordinator().list("", true).get(0).getId();
    assertThat(a.exec(id).getArgvList()).containsExactly("mpirun", "-np", "3", "./app");
    assertThat(a.exec(id).getEnvMap()).containsEntry("K", "V");
    assertThat(a.exec(id).getUser()).isEqualTo("alice");
    assertThat(a.exec(id).getWorkingDirectory()).isEqualTo(System.getProperty("user.dir"));
    assertThat(server.allocator().holders()).isEmpty();
  }

  @Test
  void submitWaitOnAJobThatFailsBeforeRunningExits1WithThePhase() {
    fakes.get("b").failOn("StartGuests", io.grpc.Status.ABORTED
        .withDescription("node b-0 missed phase RUN after 2s"));
    int code = grc("submit", "--site", "a=1", "--site", "b=1", "--wait", "--", "true");
    assertThat(code).isEqualTo(1);
    assertThat(err.toString()).contains("failed in phase RUN")
        .contains("node b-0 missed phase RUN");
  }

  @Test
  void submitWithoutWaitPrintsTheJobIdAndStatusShowsIt() throws Exception {
    a.holdExit();
    assertThat(grc("submit", "--site", "a=1", "--", "sleep", "1")).isZero();
    String id = out.toString().strip();
    assertThat(id).matches("j-[0-9a-f]{8}");
    out.getBuffer().setLength(0);
    assertThat(grc("status", id, "-o", "json")).isZero();
    Job.Builder job = Job.newBuilder();
    JsonFormat.parser().merge(out.toString(), job);
    assertThat(job.getId()).isEqualTo(id);
    out.getBuffer().setLength(0);
    assertThat(grc("status")).isZero();
    assertThat(out.toString()).contains(id).contains("a=1");
    out.getBuffer().setLength(0);
    assertThat(grc("cancel", id)).isZero();
    assertThat(out.toString().strip()).isEqualTo(id + " CANCELLED");
    assertThat(server.coordinator().get(id).getState()).isEqualTo(JobState.JOB_CANCELLED);
  }

  @Test
  void userErrorsPrintOneLineWithoutAStackTrace() {
    assertThat(grc("submit", "--site", "a=x", "--", "true")).isEqualTo(2);
    assertThat(err.toString()).startsWith("grc: ").contains("--site").doesNotContain("at org.");
    assertThat(err.toString().lines()).hasSize(1);

    err.getBuffer().setLength(0);
    assertThat(grc("submit", "--site", "a=1", "--duration", "forever", "--", "true"))
        .isEqualTo(2);
    assertThat(err.toString().strip())
        .isEqualTo("grc: --duration: 'forever' is not a duration (examples: 90s, 5m, 1h30m, 2d)");

    err.getBuffer().setLength(0);
    assertThat(grc("submit", "--site", "zz=1", "--", "true")).isEqualTo(1);
    assertThat(err.toString().strip()).startsWith("grc: site 'zz' is not registered");

    err.getBuffer().setLength(0);
    assertThat(grc("submit", "--site", "a=9", "--", "true")).isEqualTo(2);
    assertThat(err.toString().strip()).contains("spec.site_nodes[a]: '9'");

    err.getBuffer().setLength(0);
    assertThat(grc("status", "j-00000000")).isEqualTo(1);
    assertThat(err.toString().strip()).isEqualTo("grc: job 'j-00000000' not found");

    err.getBuffer().setLength(0);
    assertThat(grc("sites", "-o", "yaml")).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo("grc: -o: 'yaml' is not a format (text, json)");
  }

  @Test
  void anUnreachableGrcIsNamed() throws Exception {
    int port = FreePorts.pick(); // nobody listens, and no outgoing connection takes it
    int code = grcWithEnv(Map.of(), "--grc", "127.0.0.1:" + port, "sites");
    assertThat(code).isEqualTo(1);
    assertThat(err.toString()).startsWith("grc: cannot reach the GRC at 127.0.0.1:" + port + ": ");
    assertThat(err.toString().lines()).hasSize(1);
  }

  @Test
  void theEndpointComesFromTheRuntimeFileWhenNothingElseIsGiven(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    java.nio.file.Files.createDirectories(dir.resolve("lambdagrid"));
    java.nio.file.Files.writeString(dir.resolve("lambdagrid/grc.endpoint"), endpoint + "\n");
    assertThat(grcWithEnv(Map.of("XDG_RUNTIME_DIR", dir.toString()), "sites")).isZero();
    assertThat(out.toString()).contains("a.fake:7301");
  }

  @Test
  void hostsWatchAndLogsAfterAJob() throws Exception {
    a.stdout("line\n");
    // Site a runs grid user alice as its local account a.smith; site b reports no local account
    // (a CRM that predates it), so the GRC shows alice's own name there.
    a.mapUser("alice", "a.smith");
    assertThat(grc("submit", "--site", "a=1", "--site", "b=1", "--wait", "--", "true")).isZero();
    String id = server.coordinator().list("", true).get(0).getId();
    out.getBuffer().setLength(0);
    assertThat(grc("hosts", id)).isZero();
    assertThat(out.toString()).contains("a-0").contains("b-0").contains("HOSTNAME");
    List<String> lines = out.toString().lines().toList();
    assertThat(lines.get(0)).matches("HOSTNAME +ADDRESS +SITE +SLOTS +USER");
    assertThat(lines.get(1)).startsWith("a-0 ").endsWith(" a.smith");
    assertThat(lines.get(2)).startsWith("b-0 ").endsWith(" alice");
    // Every guest's trust bundle names the account to log in with on each node.
    assertThat(a.bundle(id).getNodesList()).extracting(n -> n.getLocalUser())
        .containsExactly("a.smith", "alice");
    out.getBuffer().setLength(0);
    assertThat(grc("hosts", id, "-o", "json")).isZero();
    org.lambdagrid.proto.v1.GetHostsResponse.Builder hosts =
        org.lambdagrid.proto.v1.GetHostsResponse.newBuilder();
    JsonFormat.parser().merge(out.toString(), hosts);
    assertThat(hosts.getNodesList()).extracting(n -> n.getLocalUser())
        .containsExactly("a.smith", "alice");
    assertThat(out.toString()).contains("\"localUser\": \"a.smith\"");
    out.getBuffer().setLength(0);
    assertThat(grc("watch", id)).isZero();
    assertThat(out.toString().lines().toList().get(0)).contains("job PENDING");
    assertThat(out.toString()).contains("addresses aggregated: 2 nodes on 2 sites (a 1, b 1)");
    assertThat(out.toString().strip()).endsWith("job SUCCEEDED: command exited with code 0");
    out.getBuffer().setLength(0);
    assertThat(grc("logs", "-f", id)).isZero();
    assertThat(out.toString()).isEqualTo("line\n");
  }


  /** Without --insecure: the token and local-login paths. */
  private int grcSecure(Map<String, String> env, String... args) {
    CommandLine cli = GrcCli.commandLine(env, "alice");
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  @Test
  void tokenFileErrorsAreOneLineAndNeverShowTheToken(@org.junit.jupiter.api.io.TempDir
      java.nio.file.Path dir) throws Exception {
    java.nio.file.Path missing = dir.resolve("nope");
    assertThat(grcSecure(Map.of(), "--token", missing.toString(), "status")).isEqualTo(2);
    assertThat(err.toString()).isEqualTo("grc: --token: the token file " + missing
        + " does not exist\n");
    err.getBuffer().setLength(0);

    java.nio.file.Path empty = java.nio.file.Files.createFile(dir.resolve("empty"));
    assertThat(grcSecure(Map.of("LAMBDAGRID_TOKEN_FILE", empty.toString()), "status"))
        .isEqualTo(2);
    assertThat(err.toString()).startsWith("grc: LAMBDAGRID_TOKEN_FILE: " + empty
        + " does not hold a token").doesNotContain("Exception").hasLineCount(1);
    err.getBuffer().setLength(0);

    java.nio.file.Path token = dir.resolve("token");
    java.nio.file.Files.writeString(token, "lgt_secret\n");
    assertThat(grcSecure(Map.of(), "--token", token.toString(), "--ca",
        dir.resolve("no-ca.crt").toString(), "status")).isEqualTo(2);
    assertThat(err.toString()).contains("CA certificate " + dir.resolve("no-ca.crt")
        + " does not exist").doesNotContain("lgt_secret").hasLineCount(1);
    err.getBuffer().setLength(0);

    java.nio.file.Files.writeString(dir.resolve("bad-ca.crt"), "not a certificate\n");
    assertThat(grcSecure(Map.of(), "--token", token.toString(), "--ca",
        dir.resolve("bad-ca.crt").toString(), "status")).isEqualTo(2);
    assertThat(err.toString()).contains("not a PEM certificate").doesNotContain("lgt_secret")
        .hasLineCount(1);
  }

  @Test
  void aDeadLocalSocketIsAOneLineError(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path socket = java.nio.file.Files.createFile(dir.resolve("grc.sock"));
    org.junit.jupiter.api.Assumptions.assumeFalse(java.nio.file.Files.exists(java.nio.file.Path.of(
        System.getProperty("user.home"), ".lambdagrid", "user.crt")), "a user certificate wins");
    assertThat(grcSecure(Map.of("LAMBDAGRID_LOCAL_SOCKET", socket.toString()), "status"))
        .isEqualTo(1);
    assertThat(err.toString()).startsWith("grc: cannot log in through the GRC's local socket "
        + socket + ": ").contains("is the GRC running?").hasLineCount(1);
  }

  /**
   * A GridService that answers ListReservations and ListJobs in pages of two (tokens "p2",
   * "p3", then ""), recording the requests.
   */
  private static final class PagedGrid extends GridServiceGrpc.GridServiceImplBase {
    final List<String> tokens = new java.util.concurrent.CopyOnWriteArrayList<>();
    final List<String> users = new java.util.concurrent.CopyOnWriteArrayList<>();

    static String next(String token) {
      return switch (token) {
        case "" -> "p2";
        case "p2" -> "p3";
        default -> "";
      };
    }

    static int first(String token) {
      return token.isEmpty() ? 0 : 2 * (Integer.parseInt(token.substring(1)) - 1);
    }

    @Override
    public void listReservations(ListReservationsRequest req,
        StreamObserver<ListReservationsResponse> out) {
      tokens.add(req.getPageToken());
      users.add(req.getUser());
      ListReservationsResponse.Builder b = ListReservationsResponse.newBuilder()
          .setNextPageToken(next(req.getPageToken()));
      for (int i = first(req.getPageToken()); i < first(req.getPageToken()) + 2 && i < 5; i++) {
        b.addReservations(Reservation.newBuilder().setId(String.format("r-%08x", i))
            .setState(ReservationState.RESERVATION_RESERVED).putSiteNodes("a", 1)
            .setSpec(ReservationSpec.newBuilder().setUser("alice")));
      }
      out.onNext(b.build());
      out.onCompleted();
    }

    @Override
    public void listJobs(ListJobsRequest req, StreamObserver<ListJobsResponse> out) {
      tokens.add(req.getPageToken());
      users.add(req.getUser());
      ListJobsResponse.Builder b = ListJobsResponse.newBuilder()
          .setNextPageToken(next(req.getPageToken()));
      for (int i = first(req.getPageToken()); i < first(req.getPageToken()) + 2 && i < 5; i++) {
        b.addJobs(Job.newBuilder().setId(String.format("j-%08x", i))
            .setState(JobState.JOB_RUNNING).setSpec(JobSpec.newBuilder().setUser("alice")));
      }
      out.onNext(b.build());
      out.onCompleted();
    }
  }

  @Test
  void reservationsAndStatusFollowEveryPage() throws Exception {
    PagedGrid paged = new PagedGrid();
    io.grpc.Server fake = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .addService(paged).build().start();
    try {
      Map<String, String> env = Map.of("LAMBDAGRID_GRC", "127.0.0.1:" + fake.getPort());
      assertThat(grcWithEnv(env, "reservations")).as(err.toString()).isZero();
      List<String> rows = out.toString().lines().toList();
      assertThat(rows.get(0)).startsWith("RESERVATION");
      assertThat(rows.subList(1, rows.size())).extracting(l -> l.split(" +")[0])
          .containsExactly("r-00000000", "r-00000001", "r-00000002", "r-00000003", "r-00000004");
      assertThat(paged.tokens).containsExactly("", "p2", "p3");
      assertThat(paged.users).containsOnly("alice");

      out.getBuffer().setLength(0);
      assertThat(grcWithEnv(env, "reservations", "--all", "-o", "json")).isZero();
      ListReservationsResponse.Builder json = ListReservationsResponse.newBuilder();
      JsonFormat.parser().merge(out.toString(), json);
      assertThat(json.getReservationsList()).extracting(Reservation::getId).hasSize(5)
          .endsWith("r-00000004");
      assertThat(json.getNextPageToken()).isEmpty();

      paged.tokens.clear();
      out.getBuffer().setLength(0);
      assertThat(grcWithEnv(env, "status")).as(err.toString()).isZero();
      rows = out.toString().lines().toList();
      assertThat(rows.get(0)).startsWith("JOB");
      assertThat(rows.subList(1, rows.size())).extracting(l -> l.split(" +")[0])
          .containsExactly("j-00000000", "j-00000001", "j-00000002", "j-00000003", "j-00000004");
      assertThat(paged.tokens).containsExactly("", "p2", "p3");
    } finally {
      fake.shutdownNow();
    }
  }
}
