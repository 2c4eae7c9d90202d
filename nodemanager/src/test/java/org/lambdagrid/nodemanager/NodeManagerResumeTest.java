package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.lambdagrid.common.Channels;
import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDrivers;
import org.lambdagrid.nodemanager.driver.fake.FakeGuestDriver;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.ExecCommand;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.GetKeysCommand;
import org.lambdagrid.proto.v1.GetStatusCommand;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.PilotHello;
import org.lambdagrid.proto.v1.RunCommand;
import org.lambdagrid.proto.v1.SetKeysCommand;
import org.lambdagrid.proto.v1.SetupCommand;
import org.lambdagrid.proto.v1.ShutdownCommand;
import org.lambdagrid.proto.v1.TrustBundle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A welcomed pilot survives its CRM going away: the in-process "CRM" server is shut down hard and
 * a new one is started under the same name, as a restarted CRM listens on the same address. The
 * pilot's channel is the same throughout, as in production.
 */
class NodeManagerResumeTest {
  /** Generous: the machine may be slow and busy; nothing here waits this long when it works. */
  private static final Duration T = Duration.ofSeconds(30);
  private static final String HOST = "tokyo-0";
  private static final String RECONNECT = "reconnect-credential-7";

  @TempDir Path stateDir;
  @TempDir Path work;
  private final String job = "j-" + UUID.randomUUID().toString().substring(0, 8);
  private final String serverName = "crm-" + UUID.randomUUID();
  private Server server;
  private ManagedChannel channel;
  private NodeManager nm;
  private FakeGuestDriver driver;

  @BeforeEach
  void openChannel() {
    channel = InProcessChannelBuilder.forName(serverName).build();
  }

  @AfterEach
  void stop() throws Exception {
    if (nm != null) {
      nm.close();
    }
    Channels.close(channel);
    if (server != null) {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** Starts a "CRM" under the test's one name; the previous one must be down. */
  private TestCrm startCrm(TestCrm crm) throws Exception {
    server = InProcessServerBuilder.forName(serverName).addService(crm).build().start();
    return crm;
  }

  /** The CRM dies: every stream breaks at once and the name is free again. */
  private void killCrm() throws Exception {
    server.shutdownNow();
    assertThat(server.awaitTermination(T.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    server = null;
  }

  private TestCrm.Session startNodeManager(TestCrm crm, Duration grace) throws Exception {
    return startNodeManager(crm, grace, null);
  }

  /** With {@code redials} running the redials and the grace timer (null: the pilot's own). */
  private TestCrm.Session startNodeManager(TestCrm crm, Duration grace,
      ScheduledExecutorService redials) throws Exception {
    Map<String, Object> fake = Map.of();
    driver = (FakeGuestDriver) GuestDrivers.create("fake", new DriverContext(fake, stateDir));
    nm = new NodeManager(NodeManagerConfig.of("fake", fake, stateDir)
        .withTeardownTimeout(Duration.ofSeconds(5)).withReconnectGrace(grace), driver, channel,
        new PilotIdentity(job, 0, "secret-0"), Clock.systemUTC(), redials);
    nm.start();
    return crm.awaitSession(T);
  }

  private void driveToRun(TestCrm.Session s) throws Exception {
    ok(s.call(ConnectResponse.newBuilder().setSetup(SetupCommand.newBuilder().setJobId(job)
        .setHostname(HOST).setAddress("10.10.0.1").setPrefixLength(24)
        .addRoutes(AddressRange.newBuilder().setCidr("10.20.0.0/24")).setUser("alice")), T));
    ok(s.call(ConnectResponse.newBuilder().setGetKeys(GetKeysCommand.getDefaultInstance()), T));
    ok(s.call(ConnectResponse.newBuilder().setSetKeys(SetKeysCommand.newBuilder().setBundle(
        TrustBundle.newBuilder().setHostfile("10.10.0.1 slots=1\n")
            .setKnownHosts("tokyo-0,10.10.0.1 ssh-ed25519 AAAA1\n")
            .setAuthorizedKeys("ssh-ed25519 U1\n").setHosts("10.10.0.1 tokyo-0\n"))), T));
    ok(s.call(ConnectResponse.newBuilder().setRun(RunCommand.getDefaultInstance()), T));
  }

  private static ConnectResponse.Builder exec(String... argv) {
    return ConnectResponse.newBuilder().setExec(ExecCommand.newBuilder().setExec(
        ExecSpec.newBuilder().addAllArgv(List.of(argv))));
  }

  private static void ok(CommandReply reply) {
    assertThat(reply.getError()).isEmpty();
  }

  private boolean guestDestroyed() {
    return driver.calls().stream().anyMatch(c -> c.startsWith("destroy ") || c.startsWith("stop "));
  }

  private boolean noGuestLeft() throws Exception {
    Path dir = stateDir.resolve("fake");
    try (var files = Files.exists(dir) ? Files.list(dir) : java.util.stream.Stream.<Path>empty()) {
      return files.findAny().isEmpty();
    }
  }

  /**
   * A command that prints "before", waits for the file {@code gate}, then prints two lines on
   * stdout and one on stderr and exits 7.
   */
  private String[] gatedCommand(Path gate) {
    return new String[] {"sh", "-c", "echo before; while [ ! -e '" + gate + "' ]; do sleep 0.05;"
        + " done; echo after-1; echo oops >&2; echo after-2; exit 7"};
  }

  /** Breaks the stream by killing the CRM, and waits until the pilot knows and redials. */
  private void loseTheCrm() throws Exception {
    killCrm();
    await().atMost(T).until(nm::redialling);
  }

  // ------------------------------------------------------------------ tests

  @Test
  void crmRestart_pilotKeepsGuestAndCommand_resumesWithCredentialStateAndExit_thenSendsHeldOutput()
      throws Exception {
    TestCrm first = startCrm(TestCrm.welcoming(RECONNECT));
    TestCrm.Session a = startNodeManager(first, T);
    driveToRun(a);
    Path gate = work.resolve("go");
    ok(a.call(exec(gatedCommand(gate)), T));
    await().atMost(T).until(() -> a.output(OutputChunk.Stream.STDOUT).equals("before\n"));

    loseTheCrm();
    Files.createFile(gate); // the command now writes and ends while no CRM is there
    await().atMost(T).until(() -> nm.state() == org.lambdagrid.nodemanager.PilotState.DONE);
    assertThat(nm.awaitTermination(Duration.ZERO)).isEmpty();
    assertThat(guestDestroyed()).isFalse();

    TestCrm second = startCrm(TestCrm.welcoming(RECONNECT));
    TestCrm.Session b = second.awaitSession(T);
    PilotHello hello = b.hello();
    assertThat(hello.getResume()).isTrue();
    assertThat(hello.getCredential()).isEqualTo(RECONNECT);
    assertThat(hello.getJobId()).isEqualTo(job);
    assertThat(hello.getNodeIndex()).isZero();
    assertThat(hello.getDriver()).isEqualTo("fake");
    assertThat(hello.getState()).isEqualTo(NodeState.NODE_DONE);
    // the command ended while no CRM was there: its exit was never sent, so it is held and
    // follows what the command wrote before it, not in the hello
    assertThat(hello.hasExit()).isFalse();

    // what the command wrote while the CRM was away follows the hello, then the exit, then DONE
    await().atMost(T).until(() -> b.states().contains(NodeState.NODE_DONE));
    assertThat(b.output(OutputChunk.Stream.STDOUT)).isEqualTo("after-1\nafter-2\n");
    assertThat(b.output(OutputChunk.Stream.STDERR)).isEqualTo("oops\n");
    assertThat(a.output(OutputChunk.Stream.STDOUT)).isEqualTo("before\n");
    int lastOutput = -1;
    for (int i = 0; i < b.received.size(); i++) {
      if (b.received.get(i).hasOutput()) {
        lastOutput = i;
      }
    }
    assertThat(b.indexOf(r -> r.hasNotification()
        && r.getNotification().getState() == NodeState.NODE_DONE)).isGreaterThan(lastOutput);
    assertThat(b.indexOf(ConnectRequest::hasExit)).isGreaterThan(lastOutput);
    assertThat(b.received).filteredOn(ConnectRequest::hasExit).hasSize(1)
        .first().satisfies(r -> {
          assertThat(r.getExit().getExitCode()).isEqualTo(7);
          assertThat(r.getExit().getHostname()).isEqualTo(HOST);
        });
    assertThat(b.received).noneMatch(ConnectRequest::hasReply);
    assertThat(guestDestroyed()).isFalse();

    // the resumed stream is the pilot's stream now: it answers and obeys SHUTDOWN
    CommandReply status = b.call(ConnectResponse.newBuilder()
        .setGetStatus(GetStatusCommand.getDefaultInstance()), T);
    assertThat(status.getGetStatus().getState()).isEqualTo(NodeState.NODE_DONE);
    ok(b.call(ConnectResponse.newBuilder().setShutdown(ShutdownCommand.newBuilder()
        .setReason("job finished")), T));
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.SHUTDOWN);
    assertThat(t.clean()).isTrue();
    assertThat(driver.calls()).endsWith("stop " + HOST, "destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
  }

  /** As in production: a Netty channel, and a CRM that comes back on the same port. */
  @Test
  void overTcp_aCrmRestartedOnTheSamePort_takesThePilotBack() throws Exception {
    Channels.close(channel);
    TestCrm first = TestCrm.welcoming(RECONNECT);
    server = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder
        .forAddress(new java.net.InetSocketAddress("127.0.0.1", 0))
        .addService(first).build().start();
    int port = server.getPort();
    channel = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder
        .forAddress("127.0.0.1", port).usePlaintext().build();
    TestCrm.Session a = startNodeManager(first, T);
    driveToRun(a);
    Path gate = work.resolve("go");
    ok(a.call(exec(gatedCommand(gate)), T));
    await().atMost(T).until(() -> a.output(OutputChunk.Stream.STDOUT).equals("before\n"));

    killCrm();
    await().atMost(T).until(nm::redialling);
    Files.createFile(gate);
    await().atMost(T).until(() -> nm.state() == org.lambdagrid.nodemanager.PilotState.DONE);
    TestCrm second = TestCrm.welcoming(RECONNECT);
    server = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder
        .forAddress(new java.net.InetSocketAddress("127.0.0.1", port))
        .addService(second).build().start();
    TestCrm.Session b = second.awaitSession(T);
    assertThat(b.hello().getResume()).isTrue();
    assertThat(b.hello().hasExit()).isFalse(); // it ended while redialling: held, not repeated
    await().atMost(T).until(() -> b.states().contains(NodeState.NODE_DONE));
    assertThat(b.output(OutputChunk.Stream.STDOUT)).isEqualTo("after-1\nafter-2\n");
    assertThat(b.exit()).hasValueSatisfying(e -> assertThat(e.getExitCode()).isEqualTo(7));
    assertThat(guestDestroyed()).isFalse();
  }

  @Test
  void threeRestarts_outputOfEachOutageArrivesOnTheNextStream_andAnExitAlreadySentIsRepeated()
      throws Exception {
    TestCrm.Session a = startNodeManager(startCrm(TestCrm.welcoming(RECONNECT)), T);
    driveToRun(a);
    Path gate1 = work.resolve("go1");
    Path gate2 = work.resolve("go2");
    ok(a.call(exec("sh", "-c", "echo one; while [ ! -e '" + gate1 + "' ]; do sleep 0.05; done;"
        + " echo two; while [ ! -e '" + gate2 + "' ]; do sleep 0.05; done; echo three; exit 3"),
        T));
    await().atMost(T).until(() -> a.output(OutputChunk.Stream.STDOUT).equals("one\n"));

    loseTheCrm();
    Files.createFile(gate1);
    TestCrm.Session b = startCrm(TestCrm.welcoming(RECONNECT)).awaitSession(T);
    assertThat(b.hello().getResume()).isTrue();
    assertThat(b.hello().getState()).isEqualTo(NodeState.NODE_EXECUTING);
    await().atMost(T).until(() -> b.output(OutputChunk.Stream.STDOUT).equals("two\n"));
    await().atMost(T).until(() -> !nm.redialling());

    loseTheCrm();
    Files.createFile(gate2);
    await().atMost(T).until(() -> nm.state() == org.lambdagrid.nodemanager.PilotState.DONE);
    TestCrm.Session c = startCrm(TestCrm.welcoming(RECONNECT)).awaitSession(T);
    assertThat(c.hello().getResume()).isTrue();
    assertThat(c.hello().getCredential()).isEqualTo(RECONNECT);
    assertThat(c.hello().hasExit()).isFalse();
    await().atMost(T).until(() -> c.states().contains(NodeState.NODE_DONE));
    assertThat(c.output(OutputChunk.Stream.STDOUT)).isEqualTo("three\n");
    assertThat(c.received).filteredOn(ConnectRequest::hasExit).hasSize(1);
    assertThat(c.indexOf(ConnectRequest::hasExit))
        .isGreaterThan(c.indexOf(r -> r.hasOutput()));
    assertThat(b.exit()).isEmpty();

    // The exit went out on c; c's CRM may have died before passing it on, so the next
    // resumed hello repeats it, and the stream does not send it again.
    await().atMost(T).until(() -> !nm.redialling());
    loseTheCrm();
    TestCrm.Session d = startCrm(TestCrm.welcoming(RECONNECT)).awaitSession(T);
    assertThat(d.hello().getExit().getExitCode()).isEqualTo(3);
    assertThat(d.hello().getState()).isEqualTo(NodeState.NODE_DONE);
    await().atMost(T).until(() -> !nm.redialling());
    assertThat(d.exit()).isEmpty();
    assertThat(guestDestroyed()).isFalse();
    assertThat(nm.awaitTermination(Duration.ZERO)).isEmpty();
  }

  @Test
  void outputBeyondTheHeldBound_isDropped_andOneStderrChunkSaysHowMuch() throws Exception {
    TestCrm.Session a = startNodeManager(startCrm(TestCrm.welcoming(RECONNECT)), T);
    driveToRun(a);
    Path gate = work.resolve("go");
    int total = CrmLink.HELD_OUTPUT_BYTES + (1 << 20);
    ok(a.call(exec("sh", "-c", "while [ ! -e '" + gate + "' ]; do sleep 0.05; done;"
        + " head -c " + total + " /dev/zero | tr '\\0' x; exit 0"), T));
    loseTheCrm();
    Files.createFile(gate);
    await().atMost(T).until(() -> nm.state() == org.lambdagrid.nodemanager.PilotState.DONE);

    TestCrm.Session b = startCrm(TestCrm.welcoming(RECONNECT)).awaitSession(T);
    await().atMost(T).until(() -> b.states().contains(NodeState.NODE_DONE));
    long kept = b.received.stream().filter(r -> r.hasOutput()
        && r.getOutput().getStream() == OutputChunk.Stream.STDOUT)
        .mapToLong(r -> r.getOutput().getData().size()).sum();
    List<String> notes = b.received.stream().filter(r -> r.hasOutput()
        && r.getOutput().getStream() == OutputChunk.Stream.STDERR)
        .map(r -> r.getOutput().getData().toString(StandardCharsets.UTF_8)).toList();
    assertThat(notes).hasSize(1);
    Matcher m = Pattern.compile("lambdagrid: (\\d+) bytes of output of tokyo-0 were dropped")
        .matcher(notes.get(0));
    assertThat(m.find()).as(notes.get(0)).isTrue();
    long dropped = Long.parseLong(m.group(1));
    assertThat(kept).isLessThanOrEqualTo(CrmLink.HELD_OUTPUT_BYTES).isPositive();
    assertThat(dropped).isPositive();
    assertThat(kept + dropped).isEqualTo(total);
    assertThat(b.hello().hasExit()).isFalse();
    assertThat(b.exit()).hasValueSatisfying(e -> assertThat(e.getExitCode()).isZero());
    assertThat(guestDestroyed()).isFalse();
  }

  @Test
  void redialRefusedWithPermissionDenied_tearsDownAndEndsCrmFailed() throws Exception {
    TestCrm.Session a = startNodeManager(startCrm(TestCrm.welcoming(RECONNECT)), T);
    driveToRun(a);
    ok(a.call(exec("sleep", "60"), T));
    loseTheCrm();
    assertThat(guestDestroyed()).isFalse();

    // a restarted CRM that does not know the job: only the launch credential would pass
    TestCrm stranger = startCrm(new TestCrm("secret-0"));
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(stranger.awaitSession(T).hello().getCredential()).isEqualTo(RECONNECT);
    assertThat(t.reason()).isEqualTo(Termination.Reason.CRM_FAILED);
    assertThat(t.message()).isEqualTo("the CRM refused to re-adopt this pilot: PERMISSION_DENIED:"
        + " wrong credential for node 0");
    assertThat(driver.calls()).contains("stop " + HOST, "destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
    assertThat(nm.state()).isEqualTo(org.lambdagrid.nodemanager.PilotState.STOPPED);
  }

  @Test
  void noCrmWithinTheGrace_tearsDownAndNamesTheGrace() throws Exception {
    ManualScheduler redials = new ManualScheduler();
    TestCrm.Session a = startNodeManager(startCrm(TestCrm.welcoming(RECONNECT)),
        Duration.ofSeconds(1), redials);
    driveToRun(a);
    ok(a.call(exec("sleep", "60"), T));
    loseTheCrm();
    redials.advance(Duration.ofSeconds(1)); // the grace is over; no CRM came back
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.CRM_FAILED);
    assertThat(t.message()).startsWith("the CRM did not take this pilot back within"
        + " reconnect_grace (1s): lost the CRM: UNAVAILABLE");
    assertThat(driver.calls()).contains("stop " + HOST, "destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
  }

  @Test
  void closeWhileRedialling_tearsDownAtOnce() throws Exception {
    TestCrm.Session a = startNodeManager(startCrm(TestCrm.welcoming(RECONNECT)),
        Duration.ofMinutes(10));
    driveToRun(a);
    ok(a.call(exec("sleep", "60"), T));
    loseTheCrm();
    nm.closeAsync("launcher gone: stdin closed");
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.CLOSED);
    assertThat(t.message()).isEqualTo("launcher gone: stdin closed");
    assertThat(driver.calls()).contains("stop " + HOST, "destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
    assertThat(nm.redialling()).isFalse();
  }

  @Test
  void streamBrokenBeforeAnyWelcome_tearsDownAtOnceEvenIfACrmIsBack() throws Exception {
    TestCrm.Session a = startNodeManager(startCrm(new TestCrm()), Duration.ofMinutes(10));
    driveToRun(a);
    killCrm();
    TestCrm again = startCrm(TestCrm.welcoming(RECONNECT));
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.CRM_FAILED);
    assertThat(t.message()).startsWith("lost the CRM: UNAVAILABLE");
    assertThat(driver.calls()).contains("stop " + HOST, "destroy " + HOST);
    // it ended without redialling: nothing dials after termination
    assertThat(again.hasWaitingSession()).isFalse();
  }

  @Test
  void welcome_isNotAnswered_andQueuedCommandsStillWork() throws Exception {
    TestCrm.Session a = startNodeManager(startCrm(TestCrm.welcoming(RECONNECT)), T);
    // commands run in order on one thread: had the welcome been queued and answered, its
    // reply would come before SETUP's
    CommandReply setup = a.call(ConnectResponse.newBuilder().setSetup(SetupCommand.newBuilder()
        .setJobId(job).setHostname(HOST).setAddress("10.10.0.1").setPrefixLength(24)
        .setUser("alice")), T);
    ok(setup);
    CommandReply status = a.call(ConnectResponse.newBuilder()
        .setGetStatus(GetStatusCommand.getDefaultInstance()), T);
    assertThat(a.received.stream().filter(ConnectRequest::hasReply)
        .map(r -> r.getReply().getRequestId()).toList())
        .containsExactly(setup.getRequestId(), status.getRequestId());
    assertThat(a.states()).containsExactly(NodeState.NODE_CONNECTED, NodeState.NODE_SET_UP);
  }
}
