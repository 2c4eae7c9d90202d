package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.lambdagrid.proto.v1.ConnectResponse.CommandCase.EXEC;
import static org.lambdagrid.proto.v1.ConnectResponse.CommandCase.GET_KEYS;
import static org.lambdagrid.proto.v1.ConnectResponse.CommandCase.RUN;
import static org.lambdagrid.proto.v1.ConnectResponse.CommandCase.SETUP;
import static org.lambdagrid.proto.v1.ConnectResponse.CommandCase.SET_KEYS;
import static org.lambdagrid.proto.v1.ConnectResponse.CommandCase.SHUTDOWN;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.crm.testing.InProcessCrm;
import org.lambdagrid.crm.testing.TestPilot;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CollectKeysRequest;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectResponse.CommandCase;
import org.lambdagrid.proto.v1.ExecCommandRequest;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.InstallTrustRequest;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.SetupResult;
import org.lambdagrid.proto.v1.StartGuestsRequest;
import org.lambdagrid.proto.v1.TrustBundle;
import org.lambdagrid.proto.v1.WatchShareRequest;
import org.lambdagrid.proto.v1.WatchShareResponse;

/** SiteService and PilotService over in-process gRPC, with test pilots answering commands. */
class SitePhasesTest {
  private final InProcessCrm crm = InProcessCrm.start("a", 4, "10.10.0.0/16");
  private final Watch watch = new Watch();

  @AfterEach
  void close() {
    crm.close();
  }

  /** A WatchShare client that collects everything. */
  static final class Watch implements StreamObserver<WatchShareResponse> {
    final List<WatchShareResponse> updates = new CopyOnWriteArrayList<>();
    final CompletableFuture<Status> end = new CompletableFuture<>();

    @Override
    public void onNext(WatchShareResponse value) {
      updates.add(value);
    }

    @Override
    public void onError(Throwable t) {
      end.complete(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      end.complete(Status.OK);
    }

    List<String> events(String hostname) {
      return updates.stream().filter(u -> u.hasEvent() && u.getEvent().getHostname().equals(hostname))
          .map(u -> u.getEvent().getNodeState().name()).toList();
    }

    boolean hasEvent(NodeState state, String messagePart) {
      return updates.stream().anyMatch(u -> u.hasEvent() && u.getEvent().getNodeState() == state
          && u.getEvent().getMessage().contains(messagePart));
    }
  }

  private void reserve(String job, int nodes) {
    crm.openShare(job, nodes, "10.10.0.0/29", "alice", null);
    crm.siteAsync().watchShare(WatchShareRequest.newBuilder().setJobId(job).build(), watch);
  }

  private List<NodeEntry> setup(String job, Duration timeout) {
    return crm.site().setupNodes(SetupNodesRequest.newBuilder().setJobId(job).setSite("a")
        .addPeerRanges(AddressRange.newBuilder().setCidr("10.10.0.8/29"))
        .setTimeout(ProtoTime.toProto(timeout)).build()).getNodesList();
  }

  /**
   * Advances the site's clock by {@code d} once {@code ready} holds, from another thread: the
   * test meanwhile blocks in the phase whose deadline this passes.
   */
  private void advanceClockWhen(java.util.concurrent.Callable<Boolean> ready, Duration d) {
    CompletableFuture.runAsync(() -> {
      await().atMost(5, TimeUnit.SECONDS).until(ready);
      crm.clock.advance(d);
    });
  }

  private static void assertStatus(Runnable call, Status.Code code, String description) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).isEqualTo(code);
      assertThat(e.getStatus().getDescription()).isEqualTo(description);
    });
  }

  @Test
  void keysThatSetupBroughtBackNeedNoGetKeys() {
    // A NodeManager answers SETUP with its guest's public keys; one of two pilots here does.
    crm.starter.configure(p -> p.answer(CommandCase.SETUP, c -> c.getSetup().getHostname()
        .equals("a-0")
        ? CommandReply.newBuilder().setRequestId(c.getRequestId()).setSetup(SetupResult
            .newBuilder().setKeys(TestPilot.keysFor("from-setup-a-0"))).build()
        : TestPilot.succeed(c)));
    reserve("j-1", 2);
    setup("j-1", Duration.ofSeconds(5));

    List<NodeKeys> keys = crm.site().collectKeys(CollectKeysRequest.newBuilder().setJobId("j-1")
        .build()).getKeysList();

    assertThat(keys).extracting(NodeKeys::getHostname).containsExactly("a-0", "a-1");
    assertThat(keys.get(0).getHostPublicKey()).contains("from-setup-a-0");
    assertThat(keys.get(0).getAddress()).isEqualTo("10.10.0.1");
    assertThat(keys.get(1).getHostPublicKey()).startsWith("ssh-ed25519 AAAAC3host");
    assertThat(crm.starter.pilot(0).receivedCommands()).containsExactly(SETUP);
    assertThat(crm.starter.pilot(1).receivedCommands()).containsExactly(SETUP, GET_KEYS);
  }

  @Test
  void aJobGoesThroughEveryPhaseAndReleaseLeavesNothing() {
    reserve("j-1", 2);
    List<NodeEntry> nodes = setup("j-1", Duration.ofSeconds(5));

    assertThat(nodes).extracting(NodeEntry::getHostname).containsExactly("a-0", "a-1");
    assertThat(nodes).extracting(NodeEntry::getAddress).containsExactly("10.10.0.1", "10.10.0.2");
    assertThat(nodes).allSatisfy(n -> {
      assertThat(n.getPrefixLength()).isEqualTo(29);
      assertThat(n.getSlots()).isEqualTo(1);
      assertThat(n.getSite()).isEqualTo("a");
    });
    List<PilotLaunch> launches = crm.starter.launches();
    assertThat(launches).extracting(PilotLaunch::user).containsOnly("alice");
    assertThat(launches.get(0).credential()).isNotEqualTo(launches.get(1).credential());
    TestPilot p0 = crm.starter.pilot(0);
    var setupCommand = p0.received().get(0).getSetup();
    assertThat(setupCommand.getHostname()).isEqualTo("a-0");
    assertThat(setupCommand.getAddress()).isEqualTo("10.10.0.1");
    assertThat(setupCommand.getUser()).isEqualTo("alice");
    assertThat(setupCommand.getRoutesList()).extracting(AddressRange::getCidr)
        .containsExactly("10.10.0.8/29");

    // A repeat returns the same nodes and starts nothing new.
    assertThat(setup("j-1", Duration.ofSeconds(5))).isEqualTo(nodes);
    assertThat(crm.starter.launches()).hasSize(2);

    List<NodeKeys> keys = crm.site().collectKeys(CollectKeysRequest.newBuilder().setJobId("j-1")
        .build()).getKeysList();
    assertThat(keys).extracting(NodeKeys::getHostname).containsExactly("a-0", "a-1");
    assertThat(keys).extracting(NodeKeys::getAddress).containsExactly("10.10.0.1", "10.10.0.2");
    assertThat(keys).allSatisfy(k -> assertThat(k.getHostPublicKey()).startsWith("ssh-ed25519 "));

    crm.site().installTrust(InstallTrustRequest.newBuilder().setJobId("j-1")
        .setBundle(TrustBundle.newBuilder().addAllNodes(nodes).setHostfile("x")).build());
    crm.site().startGuests(StartGuestsRequest.newBuilder().setJobId("j-1").build());
    crm.site().execCommand(ExecCommandRequest.newBuilder().setJobId("j-1").setHostname("a-0")
        .setExec(ExecSpec.newBuilder().addArgv("hostname")).build());
    assertThat(p0.receivedCommands()).containsExactly(SETUP, GET_KEYS, SET_KEYS, RUN, EXEC);
    assertThat(crm.starter.pilot(1).receivedCommands())
        .containsExactly(SETUP, GET_KEYS, SET_KEYS, RUN);

    p0.output("hello\n");
    p0.exit(0);
    await().atMost(5, TimeUnit.SECONDS).until(() -> watch.updates.stream().anyMatch(
        WatchShareResponse::hasExit));
    WatchShareResponse exit = watch.updates.stream().filter(WatchShareResponse::hasExit)
        .findFirst().orElseThrow();
    assertThat(exit.getExit().getHostname()).isEqualTo("a-0");
    assertThat(watch.updates).anySatisfy(u -> {
      assertThat(u.getOutput().getData().toStringUtf8()).isEqualTo("hello\n");
      assertThat(u.getOutput().getHostname()).isEqualTo("a-0");
    });

    // A second EXEC on the node is refused.
    assertStatus(() -> crm.site().execCommand(ExecCommandRequest.newBuilder().setJobId("j-1")
        .setHostname("a-0").setExec(ExecSpec.newBuilder().addArgv("hostname")).build()),
        Status.Code.FAILED_PRECONDITION,
        "node a-0 already ran a command for job j-1; EXEC is not repeated");

    crm.site().releaseShare(ReleaseShareRequest.newBuilder().setJobId("j-1").setReason("done")
        .build());
    assertThat(watch.end).succeedsWithin(Duration.ofSeconds(5)).isEqualTo(Status.OK);
    assertThat(p0.receivedCommands()).endsWith(SHUTDOWN);
    assertThat(crm.starter.stops()).hasSize(2);
    assertThat(watch.events("a-0")).containsExactly("NODE_LAUNCHING", "NODE_CONNECTED",
        "NODE_SET_UP", "NODE_KEYED", "NODE_READY", "NODE_EXECUTING", "NODE_DONE", "NODE_STOPPED");
    assertThat(watch.events("a-1")).containsExactly("NODE_LAUNCHING", "NODE_CONNECTED",
        "NODE_SET_UP", "NODE_KEYED", "NODE_READY", "NODE_STOPPED");
    assertThat(crm.server.shares().nodesInUse()).isZero();
  }

  @Test
  void aLateWatcherGetsTheHistoryFirst() {
    reserve("j-1", 1);
    setup("j-1", Duration.ofSeconds(5));
    Watch late = new Watch();
    crm.siteAsync().watchShare(WatchShareRequest.newBuilder().setJobId("j-1").build(), late);
    await().atMost(5, TimeUnit.SECONDS).until(() -> late.events("a-0").size() == 3);
    assertThat(late.events("a-0")).containsExactly("NODE_LAUNCHING", "NODE_CONNECTED",
        "NODE_SET_UP");
  }

  @Test
  void aNodeErrorAbortsThePhaseNamingNodeAndPhase() {
    crm.starter.configure(p -> {
      if (p.nodeIndex() == 1) {
        p.failOn(SETUP, "no space left on device");
      }
    });
    reserve("j-1", 2);
    assertStatus(() -> setup("j-1", Duration.ofSeconds(5)), Status.Code.ABORTED,
        "node a-1 failed phase SETUP: no space left on device");
    await().atMost(5, TimeUnit.SECONDS).until(() -> watch.hasEvent(NodeState.NODE_CONNECTED,
        "node a-1 failed phase SETUP: no space left on device"));
  }

  @Test
  void aSilentNodeMissesTheDeadlineAndIsNamed() {
    crm.starter.configure(p -> {
      if (p.nodeIndex() == 1) {
        p.silentOn(SETUP);
      }
    });
    reserve("j-1", 2);
    advanceClockWhen(() -> watch.events("a-0").contains("NODE_SET_UP")
        && crm.starter.pilot(1) != null && crm.starter.pilot(1).receivedCommands().contains(SETUP),
        Duration.ofMillis(500));
    assertStatus(() -> setup("j-1", Duration.ofMillis(500)), Status.Code.DEADLINE_EXCEEDED,
        "node a-1 missed phase SETUP after 500ms");
    await().atMost(5, TimeUnit.SECONDS).until(() -> watch.hasEvent(NodeState.NODE_LOST,
        "node a-1 missed phase SETUP after 500ms"));
    // The job cannot go on; a repeat says why.
    assertStatus(() -> setup("j-1", Duration.ofSeconds(1)), Status.Code.ABORTED,
        "node a-1 missed phase SETUP after 500ms");
  }

  @Test
  void aPilotThatNeverDialsInMissesLaunch() {
    crm.starter.neverDial(0);
    reserve("j-1", 1);
    advanceClockWhen(() -> crm.starter.launchChecks() > 0, Duration.ofMillis(400));
    assertStatus(() -> setup("j-1", Duration.ofMillis(400)), Status.Code.DEADLINE_EXCEEDED,
        "node a-0 missed phase LAUNCH after 400ms (pilot: test pilot a-0, running)");
  }

  @Test
  void aLauncherThatExitsBeforeDiallingInFailsThePhaseEarly() {
    crm.starter.dieBeforeDialling(1);
    reserve("j-1", 2);
    long t0 = System.nanoTime();
    assertStatus(() -> setup("j-1", Duration.ofSeconds(20)), Status.Code.ABORTED,
        "node a-1 failed phase LAUNCH: its pilot exited before dialling in"
            + " (test pilot a-1, exited with code 1)");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
  }

  @Test
  void aStartersLaunchProblemFailsThePhaseEarlyWithItsWords() {
    crm.starter.stuck(0, "pilot of a-0 still pending in Slurm (job 42, reason: Resources)"
        + " after 30s");
    reserve("j-1", 1);
    long t0 = System.nanoTime();
    assertStatus(() -> setup("j-1", Duration.ofSeconds(20)), Status.Code.ABORTED,
        "node a-0 failed phase LAUNCH: pilot of a-0 still pending in Slurm (job 42, reason:"
            + " Resources) after 30s");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
  }

  @Test
  void theWindowEndReachesTheStarter() {
    java.time.Instant end = java.time.Instant.now().plusSeconds(3600).truncatedTo(
        java.time.temporal.ChronoUnit.SECONDS);
    crm.openShare("j-1", 1, "10.10.0.0/29", "alice", end);
    setup("j-1", Duration.ofSeconds(5));
    assertThat(crm.starter.launches().get(0).windowEnd()).isEqualTo(end);
  }

  @Test
  void aPilotThatCannotBeStartedFailsLaunch() {
    crm.starter.failStart(0, "user 'alice' does not exist on this host");
    reserve("j-1", 1);
    assertStatus(() -> setup("j-1", Duration.ofSeconds(5)), Status.Code.ABORTED,
        "node a-0 failed phase LAUNCH: could not start its pilot: user 'alice' does not exist"
            + " on this host");
  }

  @Test
  void aPilotLostDuringAPhaseAbortsIt() {
    crm.starter.configure(p -> {
      if (p.nodeIndex() == 0) {
        p.answer(RUN, c -> {
          p.crash();
          return null;
        });
      }
    });
    reserve("j-1", 1);
    List<NodeEntry> nodes = setup("j-1", Duration.ofSeconds(5));
    crm.site().collectKeys(CollectKeysRequest.newBuilder().setJobId("j-1").build());
    crm.site().installTrust(InstallTrustRequest.newBuilder().setJobId("j-1")
        .setBundle(TrustBundle.newBuilder().addAllNodes(nodes)).build());
    assertStatus(() -> crm.site().startGuests(StartGuestsRequest.newBuilder().setJobId("j-1")
        .build()), Status.Code.ABORTED, "node a-0 was lost during phase RUN (pilot disconnected)");
  }

  @Test
  void aPilotLostOutsideAPhaseIsReportedAsNodeLost() {
    reserve("j-1", 2);
    setup("j-1", Duration.ofSeconds(5));
    crm.starter.pilot(1).crash();
    await().atMost(5, TimeUnit.SECONDS).until(() -> watch.hasEvent(NodeState.NODE_LOST,
        "node a-1 was lost"));
    assertStatus(() -> crm.site().collectKeys(CollectKeysRequest.newBuilder().setJobId("j-1")
        .build()), Status.Code.ABORTED, watch.updates.stream()
        .filter(u -> u.getEvent().getNodeState() == NodeState.NODE_LOST).findFirst().orElseThrow()
        .getEvent().getMessage());
  }

  @Test
  void aWrongCredentialIsRefused() {
    crm.starter.neverDial(0);
    reserve("j-1", 1);
    CompletableFuture<List<NodeEntry>> setup = CompletableFuture.supplyAsync(
        () -> setup("j-1", Duration.ofSeconds(5)));
    await().atMost(5, TimeUnit.SECONDS).until(() -> crm.starter.launches().size() == 1);
    TestPilot impostor = new TestPilot(crm.channel, "j-1", 0, "not-the-credential").connect();
    Status refused = impostor.closed().join();
    assertThat(refused.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(refused.getDescription())
        .isEqualTo("pilot refused: node 0 of job j-1: wrong credential");

    // The right credential still works after the impostor's attempt.
    new TestPilot(crm.channel, crm.starter.launches().get(0)).connect();
    assertThat(setup).succeedsWithin(Duration.ofSeconds(5));
  }

  @Test
  void aReusedCredentialIsRefused() {
    reserve("j-1", 1);
    setup("j-1", Duration.ofSeconds(5));
    TestPilot again = new TestPilot(crm.channel, crm.starter.launches().get(0)).connect();
    Status refused = again.closed().join();
    assertThat(refused.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(refused.getDescription())
        .isEqualTo("pilot refused: node 0 of job j-1: the credential was already used");
  }

  @Test
  void aPilotOfAnUnknownJobOrNodeIsRefused() {
    reserve("j-1", 1);
    setup("j-1", Duration.ofSeconds(5));
    String credential = crm.starter.launches().get(0).credential();
    assertThat(new TestPilot(crm.channel, "j-2", 0, credential).connect().closed().join()
        .getDescription()).isEqualTo("pilot refused: job 'j-2' holds no share on site 'a'");
    assertThat(new TestPilot(crm.channel, "j-1", 5, credential).connect().closed().join()
        .getDescription()).isEqualTo("pilot refused: node 5 of job j-1: no such node (the job"
            + " has 1 nodes on site 'a')");
  }

  @Test
  void theShapeGoesInEverySetupAndANoteBecomesAnEvent() {
    reserve("j-1", 2);
    crm.site().setupNodes(SetupNodesRequest.newBuilder().setJobId("j-1").setSite("a")
        .setCpus(1).setMemoryBytes(256L << 20).setTimeout(ProtoTime.toProto(Duration.ofSeconds(5)))
        .build());
    for (int i = 0; i < 2; i++) {
      var setupCommand = crm.starter.pilot(i).received().get(0).getSetup();
      assertThat(setupCommand.getCpus()).isEqualTo(1);
      assertThat(setupCommand.getMemoryBytes()).isEqualTo(256L << 20);
    }
    crm.starter.pilot(1).notify(NodeState.NODE_SET_UP, "set up again: not an event");
    crm.starter.pilot(1).note(NodeState.NODE_SET_UP, "node a-1: the job exceeded its memory"
        + " limit (256 MiB): the kernel's OOM killer killed 1 process");
    await().atMost(5, TimeUnit.SECONDS).until(() -> watch.hasEvent(NodeState.NODE_SET_UP,
        "exceeded its memory limit"));
    assertThat(watch.events("a-1")).containsExactly("NODE_LAUNCHING", "NODE_CONNECTED",
        "NODE_SET_UP", "NODE_SET_UP");
  }

  @Test
  void malformedRequestsNameTheField() {
    assertStatus(() -> crm.site().prepare(PrepareRequest.newBuilder().setReservationId("r-1")
        .setNodeCount(1).setRange(AddressRange.newBuilder().setCidr("10.10.0.0/33")).build()),
        Status.Code.INVALID_ARGUMENT, "range: '10.10.0.0/33' is not a CIDR block (expected"
            + " a.b.c.d/n)");
    reserve("j-1", 1);
    assertStatus(() -> crm.site().setupNodes(SetupNodesRequest.newBuilder().setJobId("j-1")
        .setSite("b").build()), Status.Code.INVALID_ARGUMENT, "site: 'b' is not this site ('a')");
    assertStatus(() -> crm.site().setupNodes(SetupNodesRequest.newBuilder().setJobId("j-1")
        .setSite("a").setCpus(-1).build()), Status.Code.INVALID_ARGUMENT,
        "cpus: '-1' must be at least 1 (leave it unset for all of the node's CPUs)");
    assertStatus(() -> crm.site().setupNodes(SetupNodesRequest.newBuilder().setJobId("j-1")
        .setSite("a").setMemoryBytes(1000).build()), Status.Code.INVALID_ARGUMENT,
        "memory_bytes: '1000' is less than the smallest memory limit, 32 MiB (33554432 bytes): a"
            + " guest needs that much for its sshd and the job's shell");
    assertStatus(() -> crm.site().collectKeys(CollectKeysRequest.newBuilder().setJobId("j-9")
        .build()), Status.Code.NOT_FOUND, "job 'j-9' holds no share on site 'a'");
    assertStatus(() -> crm.site().watchShare(WatchShareRequest.newBuilder().setJobId("j-9")
        .build()).hasNext(), Status.Code.NOT_FOUND, "job 'j-9' holds no share on site 'a'");
  }
}
