package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.security.BearerTokens;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.RoleAuthorizer;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.grc.cli.GrcCli;
import org.lambdagrid.grc.local.LoginAnswer;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.ListJobsRequest;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import picocli.CommandLine;

/**
 * Local users log in on the GRC's Unix socket: the kernel's peer credentials name the user, the
 * GRC answers a session token for its token port (plus the endpoint and CA), and that token is
 * that user's exactly as an issued one. Also the {@code grc} CLI with {@code --token FILE} and
 * through the local socket.
 */
class LocalUsersTest {
  @TempDir Path dir;
  private final List<AutoCloseable> closeMe = new ArrayList<>();
  private TestCa ca;
  private Path tokens;
  private GrcServer grc;

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeMe.size() - 1; i >= 0; i--) {
      closeMe.get(i).close();
    }
  }

  private Path socket() {
    return dir.resolve("run").resolve("grc.sock");
  }

  private void startGrc(String sessionTtl) throws Exception {
    startGrc(sessionTtl, Clock.systemUTC());
  }

  private void startGrc(String sessionTtl, Clock clock) throws Exception {
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    ca = TestCa.init(dir.resolve("ca"));
    TestCa.Cert crmCert = ca.issue("crm", "alpha");
    DaemonServer crm = new DaemonServer("crm-alpha", DaemonServer.netty("crm",
        new Endpoint("127.0.0.1", 0), new TlsConfig(crmCert.ca().toString(),
            crmCert.cert().toString(), crmCert.key().toString(), null)),
        List.of(new TokenUsersTest.HoldingCrm()), RoleAuthorizer.anyRole()).start();
    closeMe.add(crm);
    tokens = dir.resolve("tokens");
    BearerTokens.issue(tokens, Role.USER, "placeholder");
    GrcConfig config = ConfigLoader.parse("grc.yaml", "listen: 127.0.0.1:0\nstate_dir: "
        + dir.resolve("grc") + "\ntokens: {listen: 127.0.0.1:0, file: " + tokens + "}\n"
        + "local: {socket: " + socket() + ", session_ttl: " + sessionTtl + "}\n"
        + ca.issue("grc", "grc").yaml(), GrcConfig.class);
    grc = GrcServer.tcp("grc.yaml", config, clock).start();
    closeMe.add(grc);
    grc.registry().register("alpha", "127.0.0.1:" + crm.port(), 8, List.of("10.10.0.0/24"), 1);
  }

  private static LoginAnswer login(Path socket) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      return LoginAnswer.parse(Channels.newInputStream(ch));
    }
  }

  /** Logs in as the OS user nobody (the suite runs as root): a real, different peer user. */
  private LoginAnswer loginAsNobody() throws Exception {
    Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "/usr/bin/python3", "-c", "import socket,sys\n"
            + "s=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\nb=b''\n"
            + "while True:\n  d=s.recv(65536)\n  if not d: break\n  b+=d\n"
            + "sys.stdout.buffer.write(b)\n", socket().toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(new String(out, StandardCharsets.UTF_8)).isZero();
    return LoginAnswer.parse(new ByteArrayInputStream(out));
  }

  private ManagedChannel channel(LoginAnswer a) {
    Endpoint e = Endpoint.parse(a.endpoint());
    ManagedChannel ch = NettyChannelBuilder.forAddress(e.host(), e.port(),
        Tls.tokenChannelCredentials("the login's CA", a.caPem().getBytes(StandardCharsets.UTF_8),
            Role.GRC)).build();
    closeMe.add(ch::shutdownNow);
    return ch;
  }

  private static GridServiceGrpc.GridServiceBlockingStub as(ManagedChannel ch, String token) {
    Metadata md = new Metadata();
    md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return GridServiceGrpc.newBlockingStub(ch)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
        .withDeadlineAfter(20, TimeUnit.SECONDS);
  }

  private static Status.Code code(Runnable call) {
    try {
      call.run();
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }

  private static final JobSpec SPEC = JobSpec.newBuilder().putSiteNodes("alpha", 1)
      .addArgv("true").setWorkingDirectory("/tmp")
      .setStart(ProtoTime.toProto(Instant.now().plusSeconds(3600))).build();

  private static Job submit(ManagedChannel ch, String token) {
    return as(ch, token).submitJob(SubmitJobRequest.newBuilder().setSpec(SPEC).build()).getJob();
  }

  private static List<String> listed(ManagedChannel ch, String token) {
    return as(ch, token).listJobs(ListJobsRequest.newBuilder().setIncludeFinished(true).build())
        .getJobsList().stream().map(Job::getId).toList();
  }

  @Test
  void aLocalLoginIsTheOsUserAndSeesOnlyItsOwnJobs() throws Exception {
    startGrc("5m");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket())))
        .isEqualTo("rw-rw-rw-");
    String osUser = System.getProperty("user.name");
    LoginAnswer me = login(socket());
    assertThat(me.ok()).as(String.valueOf(me.error())).isTrue();
    assertThat(me.user()).isEqualTo(osUser);
    assertThat(me.endpoint()).isEqualTo("127.0.0.1:" + grc.tokenPort());
    assertThat(me.caPem()).isEqualTo(Files.readString(ca.issue("crm", "x").ca()));
    assertThat(Files.readString(tokens)).as("sessions stay in memory").doesNotContain(me.token());

    String bob = BearerTokens.issue(tokens, Role.USER, "bob");
    ManagedChannel ch = channel(me);
    Job bobs = submit(ch, bob);

    // The local user under test: this OS user unless it is root (root is an operator and sees
    // everything), else the OS user nobody, logged in by a child process running as nobody.
    LoginAnswer local = me;
    if (osUser.equals("root")) {
      assertThat(listed(ch, me.token())).as("root logs in as an operator").contains(bobs.getId());
      Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")),
          "needs /usr/bin/python3 to connect as nobody");
      local = loginAsNobody();
      assertThat(local.user()).isEqualTo("nobody");
    }
    String token = local.token();
    Job mine = submit(ch, token);
    assertThat(mine.getSpec().getUser()).isEqualTo(local.user());
    assertThat(listed(ch, token)).containsExactly(mine.getId());
    assertThat(code(() -> as(ch, token).getJob(GetJobRequest.newBuilder()
        .setJobId(bobs.getId()).build()))).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(listed(ch, bob)).containsExactly(bobs.getId());

    // Another GRC on the same socket refuses to start; closing removes the socket.
    GrcConfig again = grc.config().withListen("127.0.0.1:0");
    GrcServer second = GrcServer.tcp("grc2.yaml", new GrcConfig(again.listen(),
        again.phaseTimeouts(), again.rpcTimeout(), again.callMargin(), again.defaultDuration(),
        again.outputBufferBytes(), again.topology(), again.network(), again.tls(),
        dir.resolve("grc2").toString(), again.state(), again.tokens(), again.local()),
        Clock.systemUTC());
    try {
      second.start();
      org.assertj.core.api.Assertions.fail("a second GRC started on " + socket());
    } catch (IllegalStateException e) {
      assertThat(e).hasMessageContaining("another GRC is already answering on " + socket());
    } finally {
      second.close();
    }
    assertThat(socket()).as("the failed second GRC leaves the first one's socket").exists();
    assertThat(login(socket()).ok()).isTrue();
    grc.close();
    assertThat(socket()).doesNotExist();
  }

  @Test
  void anExpiredSessionTokenIsUnauthenticated() throws Exception {
    // The GRC's own clock: a slow first TLS call cannot outlive the token before its first use.
    TestClock clock = TestClock.ofNow();
    startGrc("1s", clock);
    LoginAnswer me = login(socket());
    ManagedChannel ch = channel(me);
    assertThat(code(() -> listed(ch, me.token()))).isEqualTo(Status.Code.OK);
    clock.advance(Duration.ofMillis(1200));
    assertThat(code(() -> listed(ch, me.token()))).isEqualTo(Status.Code.UNAUTHENTICATED);
    String fresh = login(socket()).token();
    assertThat(code(() -> listed(ch, fresh))).as("a new login works").isEqualTo(Status.Code.OK);
  }

  private record Run(int exit, String out, String err) { }

  private static Run cli(Map<String, String> env, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine c = GrcCli.commandLine(env);
    c.setOut(new PrintWriter(out, true));
    c.setErr(new PrintWriter(err, true));
    int exit = c.execute(args);
    return new Run(exit, out.toString(), err.toString());
  }

  @Test
  void theCliWithATokenFileListsOnlyItsOwnJobs() throws Exception {
    startGrc("5m");
    Path aliceFile = dir.resolve("alice.token");
    Files.writeString(aliceFile, BearerTokens.issue(tokens, Role.USER, "alice") + "\n");
    String bob = BearerTokens.issue(tokens, Role.USER, "bob");
    ManagedChannel ch = channel(login(socket()));
    Job bobs = submit(ch, bob);
    Path caFile = ca.issue("crm", "y").ca();
    String at = "127.0.0.1:" + grc.tokenPort();

    Run sub = cli(Map.of("LAMBDAGRID_TOKEN_FILE", aliceFile.toString()), "--grc", at, "--ca",
        caFile.toString(), "submit", "--site", "alpha=1", "--start", "+1h", "--", "true");
    assertThat(sub.exit()).as(sub.err()).isZero();
    String alices = sub.out().strip();
    Run list = cli(Map.of(), "--token", aliceFile.toString(), "--grc", at, "--ca",
        caFile.toString(), "status");
    assertThat(list.exit()).as(list.err()).isZero();
    assertThat(list.out()).contains(alices).contains("alice").doesNotContain(bobs.getId());

    Path revoked = dir.resolve("made-up.token");
    Files.writeString(revoked, BearerTokens.PREFIX + "made-up\n");
    Run refused = cli(Map.of(), "--token", revoked.toString(), "--grc", at, "--ca",
        caFile.toString(), "status");
    assertThat(refused.exit()).isEqualTo(1);
    assertThat(refused.err()).isEqualTo("grc: the GRC refused the token in " + revoked
        + ": unknown or revoked token\n");
  }

  @Test
  void theCliLogsInThroughTheLocalSocket() throws Exception {
    Assumptions.assumeFalse(Files.exists(Path.of(System.getProperty("user.home"), ".lambdagrid",
        "user.crt")), "a user certificate would win over the local login");
    startGrc("5m");
    String bob = BearerTokens.issue(tokens, Role.USER, "bob");
    Job bobs = submit(channel(login(socket())), bob);
    Run list = cli(Map.of("LAMBDAGRID_LOCAL_SOCKET", socket().toString(),
        "LAMBDAGRID_GRC", "127.0.0.1:1"), "status");
    assertThat(list.exit()).as(list.err()).isZero();
    assertThat(list.out()).doesNotContain(bobs.getId());
    assertThat(list.err()).isEmpty();
  }
}
