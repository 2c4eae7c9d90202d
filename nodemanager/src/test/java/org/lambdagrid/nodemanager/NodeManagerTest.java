package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.lambdagrid.common.Channels;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDrivers;
import org.lambdagrid.nodemanager.driver.fake.FakeGuestDriver;
import org.lambdagrid.nodemanager.driver.fake.OpenSshKeys;
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
import org.lambdagrid.proto.v1.RunCommand;
import org.lambdagrid.proto.v1.SetKeysCommand;
import org.lambdagrid.proto.v1.SetupCommand;
import org.lambdagrid.proto.v1.ShutdownCommand;
import org.lambdagrid.proto.v1.TrustBundle;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NodeManagerTest {
  private static final Duration T = Duration.ofSeconds(10);
  private static final String HOST = "tokyo-0";

  @TempDir Path stateDir;
  private final String job = "j-" + UUID.randomUUID().toString().substring(0, 8);
  private TestCrm crm;
  private DaemonServer server;
  private ManagedChannel channel;
  private NodeManager nm;
  private FakeGuestDriver driver;
  private TestCrm.Session session;

  @BeforeEach
  void startCrm() throws Exception {
    startCrm(new TestCrm());
  }

  private void startCrm(TestCrm testCrm) throws Exception {
    if (server != null) {
      server.close();
      Channels.close(channel);
    }
    String name = "crm-" + UUID.randomUUID();
    crm = testCrm;
    server = DaemonServer.inProcess(name, List.of(crm)).start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() {
    if (nm != null) {
      nm.close();
    }
    Channels.close(channel);
    server.close();
  }

  private void startNodeManager(Map<String, Object> fakeConfig) throws Exception {
    startNodeManager(fakeConfig, null);
  }

  private void startNodeManager(Map<String, Object> fakeConfig, String launchedBy)
      throws Exception {
    driver = (FakeGuestDriver) GuestDrivers.create("fake",
        new DriverContext(fakeConfig, stateDir));
    nm = new NodeManager(NodeManagerConfig.of("fake", fakeConfig, stateDir)
        .withTeardownTimeout(Duration.ofSeconds(5)), driver, channel,
        new PilotIdentity(job, 0, "secret-0", launchedBy));
    nm.start();
    session = crm.awaitSession(T);
  }

  // ------------------------------------------------------------------ command builders

  private ConnectResponse.Builder setup() {
    return ConnectResponse.newBuilder().setSetup(SetupCommand.newBuilder().setJobId(job)
        .setHostname(HOST).setAddress("10.10.0.1").setPrefixLength(24)
        .addRoutes(AddressRange.newBuilder().setCidr("10.20.0.0/24")).setUser("alice"));
  }

  private static ConnectResponse.Builder getKeys() {
    return ConnectResponse.newBuilder().setGetKeys(GetKeysCommand.getDefaultInstance());
  }

  private static ConnectResponse.Builder setKeys() {
    return ConnectResponse.newBuilder().setSetKeys(SetKeysCommand.newBuilder().setBundle(
        TrustBundle.newBuilder()
            .setHostfile("10.10.0.1 slots=1\n10.20.0.1 slots=1\n")
            .setKnownHosts("tokyo-0,10.10.0.1 ssh-ed25519 AAAA1\nosaka-0,10.20.0.1 ssh-ed25519 B\n")
            .setAuthorizedKeys("ssh-ed25519 U1\nssh-ed25519 U2\n")
            .setHosts("10.10.0.1 tokyo-0\n10.20.0.1 osaka-0\n")));
  }

  private static ConnectResponse.Builder run() {
    return ConnectResponse.newBuilder().setRun(RunCommand.getDefaultInstance());
  }

  private static ConnectResponse.Builder exec(String... argv) {
    return ConnectResponse.newBuilder().setExec(ExecCommand.newBuilder().setExec(
        ExecSpec.newBuilder().addAllArgv(List.of(argv)).putEnv("GREETING", "hello")));
  }

  private static ConnectResponse.Builder shutdown() {
    return ConnectResponse.newBuilder().setShutdown(ShutdownCommand.newBuilder()
        .setReason("job finished"));
  }

  private static ConnectResponse.Builder status() {
    return ConnectResponse.newBuilder().setGetStatus(GetStatusCommand.getDefaultInstance());
  }

  private void ok(CommandReply reply, CommandReply.ResultCase type) {
    assertThat(reply.getError()).isEmpty();
    assertThat(reply.getResultCase()).isEqualTo(type);
  }

  private void driveTo(String phase) throws Exception {
    ok(session.call(setup(), T), CommandReply.ResultCase.SETUP);
    if (phase.equals("setup")) {
      return;
    }
    ok(session.call(getKeys(), T), CommandReply.ResultCase.GET_KEYS);
    ok(session.call(setKeys(), T), CommandReply.ResultCase.SET_KEYS);
    ok(session.call(run(), T), CommandReply.ResultCase.RUN);
  }

  private Path guestDir() {
    return stateDir.resolve("fake");
  }

  private boolean noGuestLeft() throws Exception {
    return !Files.exists(guestDir()) || Files.list(guestDir()).findAny().isEmpty();
  }

  // ------------------------------------------------------------------ tests

  @Test
  void setKeysGivesTheDriverTheLocalAccountOfEveryNode_andRefusesOneThatIsNotALoginName()
      throws Exception {
    startNodeManager(Map.of());
    ok(session.call(setup(), T), CommandReply.ResultCase.SETUP);
    TrustBundle.Builder b = setKeys().getSetKeys().getBundle().toBuilder()
        .addNodes(NodeEntry.newBuilder().setHostname("tokyo-0").setAddress("10.10.0.1")
            .setLocalUser("alice"))
        .addNodes(NodeEntry.newBuilder().setHostname("osaka-0").setAddress("10.20.0.1")
            .setLocalUser("a.smith"))
        .addNodes(NodeEntry.newBuilder().setHostname("kyoto-0").setAddress("10.30.0.1"));

    CommandReply bad = session.call(ConnectResponse.newBuilder().setSetKeys(SetKeysCommand
        .newBuilder().setBundle(b.clone().setNodes(1, b.getNodes(1).toBuilder()
            .setLocalUser("x\n  ProxyCommand sh")))), T);
    assertThat(bad.getError()).contains("bundle.nodes[1].local_user: 'x\n  ProxyCommand sh' is"
        + " not a login name");

    ok(session.call(ConnectResponse.newBuilder().setSetKeys(SetKeysCommand.newBuilder()
        .setBundle(b)), T), CommandReply.ResultCase.SET_KEYS);
    // kyoto-0 came without one (a GRC that predates the field): ssh uses the guest's user there.
    assertThat(FakeGuestDriver.guest(job, HOST).orElseThrow().trust.logins()).containsExactly(
        new GuestTrust.Login("tokyo-0", "10.10.0.1", "alice"),
        new GuestTrust.Login("osaka-0", "10.20.0.1", "a.smith"));
  }

  @Test
  void fullSequence_answersEachCommandWithItsResult_streamsOutputThenExit_andNotifiesInOrder()
      throws Exception {
    startNodeManager(Map.of());
    assertThat(session.hello().getJobId()).isEqualTo(job);
    assertThat(session.hello().getNodeIndex()).isZero();
    assertThat(session.hello().getCredential()).isEqualTo("secret-0");
    assertThat(session.hello().getDriver()).isEqualTo("fake");

    CommandReply built = session.call(setup(), T);
    ok(built, CommandReply.ResultCase.SETUP);
    CommandReply keys = session.call(getKeys(), T);
    ok(keys, CommandReply.ResultCase.GET_KEYS);
    assertThat(OpenSshKeys.parseEd25519(keys.getGetKeys().getHostPublicKey())).hasSize(32);
    assertThat(keys.getGetKeys().getUserPublicKey()).startsWith("ssh-ed25519 ")
        .endsWith(" alice@" + HOST).isNotEqualTo(keys.getGetKeys().getHostPublicKey());
    // SETUP's reply carries the same keys, so the CRM needs no GET_KEYS round trip.
    assertThat(built.getSetup().getKeys()).isEqualTo(keys.getGetKeys());
    ok(session.call(setKeys(), T), CommandReply.ResultCase.SET_KEYS);
    FakeGuestDriver.FakeGuest guest = FakeGuestDriver.guest(job, HOST).orElseThrow();
    assertThat(Files.readString(guest.dir.resolve("authorized_keys")))
        .isEqualTo("ssh-ed25519 U1\nssh-ed25519 U2\n");
    assertThat(guest.spec.routes()).containsExactly("10.20.0.0/24");
    ok(session.call(run(), T), CommandReply.ResultCase.RUN);
    CommandReply st = session.call(status(), T);
    ok(st, CommandReply.ResultCase.GET_STATUS);
    assertThat(st.getGetStatus().getState()).isEqualTo(NodeState.NODE_READY);

    CommandReply exec = session.call(exec("sh", "-c",
        "echo \"$GREETING nodes=$LAMBDAGRID_NODES\"; cat \"$LAMBDAGRID_HOSTFILE\"; echo oops >&2;"
            + " exit 3"), T);
    ok(exec, CommandReply.ResultCase.EXEC);
    await().atMost(T).until(() -> session.exit().isPresent());
    assertThat(session.exit().get().getExitCode()).isEqualTo(3);
    assertThat(session.exit().get().getHostname()).isEqualTo(HOST);
    assertThat(session.output(OutputChunk.Stream.STDOUT))
        .isEqualTo("hello nodes=tokyo-0 osaka-0\n10.10.0.1 slots=1\n10.20.0.1 slots=1\n");
    assertThat(session.output(OutputChunk.Stream.STDERR)).isEqualTo("oops\n");
    int execReply = session.indexOf(r -> r.hasReply() && r.getReply().hasExec());
    int lastOutput = 0;
    for (int i = 0; i < session.received.size(); i++) {
      if (session.received.get(i).hasOutput()) {
        lastOutput = i;
      }
    }
    int exit = session.indexOf(ConnectRequest::hasExit);
    assertThat(exit).isGreaterThan(execReply).isGreaterThan(lastOutput);
    await().atMost(T).until(() -> session.states().contains(NodeState.NODE_DONE));

    CommandReply bye = session.call(shutdown(), T);
    ok(bye, CommandReply.ResultCase.SHUTDOWN);
    assertThat(session.ended.get()).isEqualTo(io.grpc.Status.OK);
    assertThat(session.states()).containsExactly(NodeState.NODE_CONNECTED, NodeState.NODE_SET_UP,
        NodeState.NODE_KEYED, NodeState.NODE_READY, NodeState.NODE_EXECUTING,
        NodeState.NODE_DONE, NodeState.NODE_STOPPED);
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.SHUTDOWN);
    assertThat(t.clean()).isTrue();
    assertThat(driver.calls()).contains("stop " + HOST, "destroy " + HOST);
    assertThat(driver.liveGuests()).isEmpty();
    assertThat(noGuestLeft()).isTrue();
  }

  @Test
  void setupFailure_repliesWithErrorNamingPhaseAndNode_andLeavesNoGuest() throws Exception {
    startNodeManager(Map.of("fail_at", "setup"));
    CommandReply reply = session.call(setup(), T);
    assertThat(reply.getError())
        .isEqualTo("SETUP failed on tokyo-0: fake driver: injected failure at setup");
    assertThat(driver.calls()).contains("destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
    assertThat(session.states()).containsExactly(NodeState.NODE_CONNECTED, NodeState.NODE_FAILED);

    assertThat(session.call(getKeys(), T).getError())
        .isEqualTo("GET_KEYS: not allowed in state FAILED (allowed in [SET_UP, KEYED, READY,"
            + " EXECUTING, DONE])");
    ok(session.call(shutdown(), T), CommandReply.ResultCase.SHUTDOWN);
    assertThat(nm.awaitTermination(T)).isPresent();
  }

  @ParameterizedTest
  @ValueSource(strings = {"get_keys", "set_keys", "run", "exec"})
  void driverFailureInALaterPhase_destroysTheBuiltGuestBeforeReplying(String phase)
      throws Exception {
    startNodeManager(Map.of("fail_at", phase));
    CommandReply reply = null;
    for (ConnectResponse.Builder c : List.of(setup(), getKeys(), setKeys(), run(), exec("true"))) {
      reply = session.call(c, T);
      if (!reply.getError().isEmpty()) {
        break;
      }
    }
    // SETUP's reply carries the public keys, so keys that cannot be read fail SETUP itself.
    String command = phase.equals("get_keys") ? "SETUP"
        : phase.equals("set_keys") ? "SET_KEYS" : phase.toUpperCase();
    assertThat(reply.getError()).isEqualTo(command + " failed on tokyo-0: fake driver: injected"
        + " failure at " + phase);
    assertThat(driver.calls()).endsWith("stop " + HOST, "destroy " + HOST);
    assertThat(driver.liveGuests()).isEmpty();
    assertThat(noGuestLeft()).isTrue();
    assertThat(session.states()).last().isEqualTo(NodeState.NODE_FAILED);
  }

  @Test
  void commandInWrongState_isRefusedWithoutTouchingTheGuest() throws Exception {
    startNodeManager(Map.of());
    assertThat(session.call(run(), T).getError())
        .isEqualTo("RUN: not allowed in state CONNECTED (allowed in [KEYED, READY])");
    driveTo("run");
    ok(session.call(exec("true"), T), CommandReply.ResultCase.EXEC);
    assertThat(session.call(exec("true"), T).getError())
        .startsWith("EXEC: a command was already started on tokyo-0");
    assertThat(driver.calls()).doesNotContain("destroy " + HOST);
    // a repeated SETUP with the same arguments is idempotent; only the SETUP that built the
    // guest brings its keys back (a repeat reads nothing of the guest, even while it runs)
    CommandReply repeated = session.call(setup(), T);
    ok(repeated, CommandReply.ResultCase.SETUP);
    assertThat(repeated.getSetup().hasKeys()).isFalse();
  }

  @Test
  void aPilotSetsUpExactlyOneGuest_anotherSetupIsRefusedSayingSo() throws Exception {
    // Its guest's state (the OOM kill counts included) is one guest's: a second guest could
    // not be told apart from the first.
    startNodeManager(Map.of());
    ok(session.call(setup(), T), CommandReply.ResultCase.SETUP);
    ConnectResponse.Builder other = setup();
    other.getSetupBuilder().setHostname("tokyo-1").setAddress("10.10.0.2");
    assertThat(session.call(other, T).getError()).isEqualTo("SETUP: this pilot already set up its"
        + " guest (for tokyo-0 at 10.10.0.1/24; now SET_UP, and these arguments differ); a pilot"
        + " sets up exactly one guest, for one node of one job");
    assertThat(driver.calls().stream().filter(c -> c.startsWith("build"))).containsExactly(
        "build " + HOST);
    assertThat(driver.calls()).doesNotContain("destroy " + HOST);
  }

  @Test
  void afterAFailedBuildNoSetupBuildsAgain() throws Exception {
    startNodeManager(Map.of("fail_at", "setup"));
    assertThat(session.call(setup(), T).getError()).startsWith("SETUP failed on tokyo-0");
    assertThat(session.call(setup(), T).getError()).isEqualTo("SETUP: this pilot already set up"
        + " its guest (for tokyo-0 at 10.10.0.1/24; now FAILED, torn down after a failure); a"
        + " pilot sets up exactly one guest, for one node of one job");
    assertThat(driver.calls().stream().filter(c -> c.startsWith("build"))).hasSize(1);
  }

  @Test
  void aPilotStartedThroughSudo_buildsOnlyForItsOwnUser_andNeverForRoot() throws Exception {
    startNodeManager(Map.of(), "bob");
    assertThat(session.call(setup(), T).getError())
        .contains("user: 'alice' is not the user who started this pilot ('bob')");
    ConnectResponse.Builder asRoot = setup();
    asRoot.getSetupBuilder().setUser("root");
    assertThat(session.call(asRoot, T).getError()).contains("jobs never run as root");
    assertThat(driver.calls()).noneMatch(c -> c.startsWith("build"));
  }

  @Test
  void aShapeReachesTheDriver_andBadOnesAreRefusedNamingTheField() throws Exception {
    startNodeManager(Map.of());
    ConnectResponse.Builder zero = setup();
    zero.getSetupBuilder().setCpus(-1);
    assertThat(session.call(zero, T).getError()).isEqualTo("SETUP: cpus: '-1' must be at least 1"
        + " (leave it unset for all of the node's CPUs)");
    ConnectResponse.Builder tiny = setup();
    tiny.getSetupBuilder().setMemoryBytes(4096);
    assertThat(session.call(tiny, T).getError()).startsWith("SETUP: memory_bytes: '4096' is less"
        + " than the smallest memory limit, 32 MiB");
    assertThat(driver.calls()).noneMatch(c -> c.startsWith("build"));
    ConnectResponse.Builder shaped = setup();
    shaped.getSetupBuilder().setCpus(2).setMemoryBytes(256L << 20);
    ok(session.call(shaped, T), CommandReply.ResultCase.SETUP);
    FakeGuestDriver.FakeGuest guest = FakeGuestDriver.guest(job, HOST).orElseThrow();
    assertThat(guest.spec.cpus()).isEqualTo(2);
    assertThat(guest.spec.memoryBytes()).isEqualTo(256L << 20);
    await().atMost(T).until(() -> session.received.stream().anyMatch(r -> r.hasNotification()
        && r.getNotification().getMessage().endsWith(" with 2 CPUs, 256 MiB")));
  }

  @Test
  void aShapeOnADriverThatCannotLimitIsRefused() throws Exception {
    FakeGuestDriver fake = (FakeGuestDriver) GuestDrivers.create("fake",
        new DriverContext(Map.of(), stateDir));
    org.lambdagrid.nodemanager.driver.GuestDriver unlimited = new org.lambdagrid.nodemanager.driver.ForwardingGuestDriver(fake) {
      @Override
      public org.lambdagrid.nodemanager.driver.Capabilities capabilities() {
        return new org.lambdagrid.nodemanager.driver.Capabilities(false, false, false);
      }
    };
    nm = new NodeManager(NodeManagerConfig.of("fake", Map.of(), stateDir)
        .withTeardownTimeout(Duration.ofSeconds(5)), unlimited, channel,
        new PilotIdentity(job, 0, "secret-0", null));
    nm.start();
    session = crm.awaitSession(T);
    ConnectResponse.Builder shaped = setup();
    shaped.getSetupBuilder().setMemoryBytes(256L << 20);
    assertThat(session.call(shaped, T).getError()).isEqualTo("SETUP: memory_bytes: the fake guest"
        + " driver of node tokyo-0 cannot limit a guest's CPUs or memory; leave --cpus and"
        + " --memory unset");
    assertThat(fake.calls()).noneMatch(c -> c.startsWith("build"));
  }

  @Test
  void aCommandTheKernelKilledForTheMemoryLimitSaysSo_andEveryNodeNotesItsOomKills()
      throws Exception {
    startNodeManager(Map.of("oom_kills", 1));
    ConnectResponse.Builder shaped = setup();
    shaped.getSetupBuilder().setMemoryBytes(256L << 20);
    ok(session.call(shaped, T), CommandReply.ResultCase.SETUP);
    // While the guest is up, the node notes the kill in its current state (SET_UP here).
    await().atMost(T).until(() -> session.received.stream().anyMatch(r -> r.hasNotification()
        && r.getNotification().getNote()
        && r.getNotification().getState() == NodeState.NODE_SET_UP
        && r.getNotification().getMessage().equals("node tokyo-0: the job exceeded its memory"
            + " limit (256 MiB): the kernel's OOM killer killed a process")));
    ok(session.call(getKeys(), T), CommandReply.ResultCase.GET_KEYS);
    ok(session.call(setKeys(), T), CommandReply.ResultCase.SET_KEYS);
    ok(session.call(run(), T), CommandReply.ResultCase.RUN);
    // The command's own kill (the fake counts a line in $LAMBDAGRID_FAKE_OOM as one).
    ok(session.call(exec("sh", "-c", "echo kill >> \"$LAMBDAGRID_FAKE_OOM\"; kill -9 $$"), T),
        CommandReply.ResultCase.EXEC);
    await().atMost(T).until(() -> session.exit().isPresent());
    assertThat(session.exit().get().getExitCode()).isEqualTo(137);
    assertThat(session.exit().get().getMessage()).isEqualTo("node tokyo-0: the job exceeded its"
        + " memory limit (256 MiB): killed by the kernel's OOM killer");
    long notes = session.received.stream().filter(r -> r.hasNotification()
        && r.getNotification().getNote()).count();
    assertThat(notes).as("one note per new kill; the command's is in its exit").isEqualTo(1);
    await().atMost(T).until(() -> session.received.stream().anyMatch(r -> r.hasNotification()
        && r.getNotification().getState() == NodeState.NODE_DONE && r.getNotification()
            .getMessage().equals("command killed by signal 9: the job exceeded its memory limit"
                + " (256 MiB): killed by the kernel's OOM killer")));
  }

  @Test
  void aKillTheCommandDiesOfWithinASecondIsReportedInItsExitAndNotAlsoAsANote()
      throws Exception {
    startNodeManager(Map.of());
    ConnectResponse.Builder shaped = setup();
    shaped.getSetupBuilder().setMemoryBytes(256L << 20);
    ok(session.call(shaped, T), CommandReply.ResultCase.SETUP);
    ok(session.call(getKeys(), T), CommandReply.ResultCase.GET_KEYS);
    ok(session.call(setKeys(), T), CommandReply.ResultCase.SET_KEYS);
    ok(session.call(run(), T), CommandReply.ResultCase.RUN);
    // The kill is counted 0.7 s before the command is gone, and a look at the limits (every
    // 1 s) falls in between: the command starts 0.5 s after one.
    int looks = driver.limitLooks();
    await().atMost(T).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(5))
        .until(() -> driver.limitLooks() > looks);
    Thread.sleep(500);
    ok(session.call(exec("sh", "-c", "echo kill >> \"$LAMBDAGRID_FAKE_OOM\"; sleep 0.7;"
        + " kill -9 $$"), T), CommandReply.ResultCase.EXEC);
    await().atMost(T).until(() -> session.exit().isPresent());
    assertThat(session.exit().get().getMessage()).isEqualTo("node tokyo-0: the job exceeded its"
        + " memory limit (256 MiB): killed by the kernel's OOM killer");
    Thread.sleep(2 * NodeManager.LIMITS_POLL.toMillis()); // a late note would be sent by now
    assertThat(session.received.stream().filter(r -> r.hasNotification()
        && r.getNotification().getNote()).count()).as("the kill is in the exit only").isZero();
  }

  @Test
  void anOomKillBeforeTheCommandStartedIsNotTheCommandsFailure() throws Exception {
    startNodeManager(Map.of("oom_kills", 1)); // one kill in the guest before EXEC
    ConnectResponse.Builder shaped = setup();
    shaped.getSetupBuilder().setMemoryBytes(256L << 20);
    ok(session.call(shaped, T), CommandReply.ResultCase.SETUP);
    await().atMost(T).until(() -> session.received.stream().anyMatch(r -> r.hasNotification()
        && r.getNotification().getNote()));
    ok(session.call(getKeys(), T), CommandReply.ResultCase.GET_KEYS);
    ok(session.call(setKeys(), T), CommandReply.ResultCase.SET_KEYS);
    ok(session.call(run(), T), CommandReply.ResultCase.RUN);
    ok(session.call(exec("sh", "-c", "kill -9 $$"), T), CommandReply.ResultCase.EXEC);
    await().atMost(T).until(() -> session.exit().isPresent());
    assertThat(session.exit().get().getExitCode()).isEqualTo(137);
    assertThat(session.exit().get().getMessage()).isEqualTo("killed by signal 9");
    await().atMost(T).until(() -> session.received.stream().anyMatch(r -> r.hasNotification()
        && r.getNotification().getState() == NodeState.NODE_DONE));
    assertThat(session.received.stream().filter(r -> r.hasNotification()
        && r.getNotification().getState() == NodeState.NODE_DONE).findFirst().orElseThrow()
        .getNotification().getMessage()).isEqualTo("command killed by signal 9");
  }

  @Test
  void malformedSetup_namesTheField() throws Exception {
    startNodeManager(Map.of());
    ConnectResponse.Builder bad = setup();
    bad.getSetupBuilder().setRoutes(0, AddressRange.newBuilder().setCidr("10.20.0.1/24"));
    assertThat(session.call(bad, T).getError()).startsWith("SETUP: routes[0]: '10.20.0.1/24' is"
        + " not a CIDR block: host bits are set");
    assertThat(driver.calls()).noneMatch(c -> c.startsWith("build"));
  }

  @Test
  void crmBreaksTheStream_guestIsDestroyedAndNodeManagerTerminates() throws Exception {
    startNodeManager(Map.of());
    driveTo("run");
    session.fail(Status.UNAVAILABLE.withDescription("CRM restarting"));
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.CRM_FAILED);
    assertThat(t.message()).isEqualTo("lost the CRM: UNAVAILABLE: CRM restarting");
    assertThat(driver.calls()).endsWith("stop " + HOST, "destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
  }

  @Test
  void crmClosesTheStream_guestIsDestroyedAndNodeManagerTerminates() throws Exception {
    startNodeManager(Map.of());
    driveTo("setup");
    session.complete();
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.CRM_CLOSED);
    assertThat(driver.calls()).contains("destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
  }

  @Test
  void hungSetup_stillAnswersStatus_andShutdownInterruptsItAndDestroysTheHalfBuiltGuest()
      throws Exception {
    startNodeManager(Map.of("hang_at", "setup"));
    long setupId = session.send(setup());
    await().atMost(T).until(() -> driver.calls().contains("hang setup " + HOST));
    CommandReply st = session.call(status(), T);
    assertThat(st.getGetStatus().getState()).isEqualTo(NodeState.NODE_CONNECTED);
    assertThat(Files.list(guestDir()).count()).isEqualTo(1);

    CommandReply bye = session.call(shutdown(), T);
    ok(bye, CommandReply.ResultCase.SHUTDOWN);
    assertThat(session.awaitReply(setupId, T).getError())
        .isEqualTo("SETUP: interrupted: node tokyo-0 is shutting down");
    assertThat(driver.calls()).contains("recover", "destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
    assertThat(session.states()).last().isEqualTo(NodeState.NODE_STOPPED);
  }

  @Test
  void lifelineEof_tearsDownAndTellsTheCrm() throws Exception {
    startNodeManager(Map.of());
    PipedOutputStream launcher = new PipedOutputStream();
    nm.closeWhenEnded(Lifeline.ofStream(new PipedInputStream(launcher), "stdin"));
    driveTo("run");
    launcher.close();
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.CLOSED);
    assertThat(t.message()).isEqualTo("launcher gone: stdin closed");
    assertThat(driver.calls()).endsWith("stop " + HOST, "destroy " + HOST);
    assertThat(noGuestLeft()).isTrue();
    assertThat(session.ended.get(5, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(Status.OK);
    assertThat(session.states()).last().isEqualTo(NodeState.NODE_STOPPED);
  }

  @Test
  void closeWhileTheCommandRuns_killsItReportsItsExitAndDestroysTheGuest() throws Exception {
    startNodeManager(Map.of());
    driveTo("run");
    ok(session.call(exec("sleep", "30"), T), CommandReply.ResultCase.EXEC);
    nm.close();
    assertThat(session.exit()).isPresent();
    assertThat(session.exit().get().getExitCode()).isEqualTo(143);
    assertThat(session.states()).endsWith(NodeState.NODE_EXECUTING, NodeState.NODE_DONE,
        NodeState.NODE_STOPPED);
    assertThat(noGuestLeft()).isTrue();
  }

  @Test
  void destroyLeavingSomething_isReportedInTheShutdownReplyAndTermination() throws Exception {
    startNodeManager(Map.of("destroy_leaves", "netns lg-x still exists"));
    driveTo("setup");
    CommandReply bye = session.call(shutdown(), T);
    assertThat(bye.getError()).isEqualTo("SHUTDOWN: teardown of tokyo-0 left: netns lg-x still"
        + " exists");
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.leftovers()).containsExactly("netns lg-x still exists");
    assertThat(t.clean()).isFalse();
  }

  @Test
  void wrongCredential_endsWithPermissionDenied() throws Exception {
    startCrm(new TestCrm("the-right-one"));
    startNodeManager(Map.of());
    Termination t = nm.awaitTermination(T).orElseThrow();
    assertThat(t.reason()).isEqualTo(Termination.Reason.CRM_FAILED);
    assertThat(t.message()).isEqualTo("the CRM refused this pilot: PERMISSION_DENIED: wrong"
        + " credential for node 0");
    assertThat(driver.calls()).noneMatch(c -> c.startsWith("build"));
  }

  @Test
  void start_destroysGuestsOfAGoneNodeManager_butNotThoseOfALiveOne() throws Exception {
    Path crashed = guestDir().resolve("fake-j-old-kobe-0");
    Files.createDirectories(crashed);
    Files.writeString(crashed.resolve("spec.properties"), "job=j-old\nhostname=kobe-0\n"
        + "address=10.10.0.9\nprefix=24\nuser=alice\n");
    FakeGuestDriver live = (FakeGuestDriver) GuestDrivers.create("fake",
        new DriverContext(Map.of(), stateDir));
    live.build(new org.lambdagrid.nodemanager.driver.GuestSpec("j-live", "nara-0", "10.10.0.8",
        24, List.of(), "alice"));

    startNodeManager(Map.of());
    assertThat(driver.calls()).contains("destroy kobe-0").doesNotContain("destroy nara-0");
    assertThat(Files.exists(crashed)).isFalse();
    assertThat(Files.list(guestDir()).map(p -> p.getFileName().toString()))
        .containsExactly("fake-j-live-nara-0");
  }

  @Test
  void unreachableCrm_failsStartWithinTheConnectTimeout() throws Exception {
    ManagedChannel nowhere = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder
        .forAddress("127.0.0.1", 1).usePlaintext().build();
    try {
      Map<String, Object> none = new HashMap<>();
      // each reading of the clock is a second later: the connect timeout is over at once
      NodeManager lonely = new NodeManager(NodeManagerConfig.of("fake", none, stateDir)
          .withConnectTimeout(Duration.ofSeconds(1)),
          GuestDrivers.create("fake", new DriverContext(none, stateDir)), nowhere,
          new PilotIdentity(job, 1, ""), new SteppingClock(Duration.ofSeconds(1)), null);
      assertThatThrownBy(lonely::start).isInstanceOf(CrmUnreachableException.class)
          .hasMessageStartingWith("cannot reach the CRM at 127.0.0.1:1 within 1s");
      assertThat(lonely.awaitTermination(T)).isPresent();
    } finally {
      Channels.close(nowhere);
    }
  }
}
