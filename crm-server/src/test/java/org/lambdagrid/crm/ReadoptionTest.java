package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.crm.pilot.PilotServiceImpl;
import org.lambdagrid.crm.site.SetupParams;
import org.lambdagrid.crm.site.SiteLedger;
import org.lambdagrid.crm.site.ShareWatcher;
import org.lambdagrid.crm.site.SiteShares;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.crm.testing.CrmStateFixture;
import org.lambdagrid.crm.testing.TestPilot;
import org.lambdagrid.crm.testing.TestPilotStarter;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.ConnectResponse.CommandCase;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.TrustBundle;
import org.lambdagrid.proto.v1.WatchShareResponse;

/**
 * A CRM killed while a job runs, and started again on its state database: pilots that redial
 * with their reconnect credential are re-adopted and the job's command finishes through the new
 * process; everything else a restarted CRM refuses or gives up on within its reconnect grace.
 *
 * <p>"Killed" here: the old process's server stops at once and its ledger closes without any
 * release (what kill -9 leaves); the old site core is simply abandoned. The real process is
 * killed in it/TestbedReadoptionTest.
 */
class ReadoptionTest {
  private static final AtomicInteger COUNTER = new AtomicInteger();
  @TempDir Path dir;
  @RegisterExtension final CrmStateFixture state = new CrmStateFixture(() -> dir);
  private final String name = "readopt-" + COUNTER.incrementAndGet();
  private final ManagedChannel channel = InProcessChannelBuilder.forName(name).build();
  private final List<AutoCloseable> cleanup = new ArrayList<>();
  /** Every CRM process of a test reads this clock; the reconnect grace ends when it is moved. */
  private final TestClock clock = TestClock.ofNow();
  private Server server;
  private JdbcSiteLedger ledger;
  private SiteShares site;
  private TestPilotStarter starter;

  private CrmConfig config(String grace) {
    return state.config("phase_timeout: 5s\nshutdown_wait: 1s\npilot:\n  run_as_user: false\n"
        + "  reconnect_grace: " + grace + "\n");
  }

  /** Starts a CRM process: ledger, site core (recovered), PilotService on the in-process name. */
  private List<String> startCrm(String grace) throws IOException {
    CrmConfig c = config(grace);
    ledger = JdbcSiteLedger.open(c);
    starter = new TestPilotStarter(() -> channel);
    site = new SiteShares(c.siteSettings(), starter, () -> null, clock, ledger);
    List<String> recovered = site.recover();
    server = InProcessServerBuilder.forName(name).addService(new PilotServiceImpl(site)).build()
        .start();
    SiteShares s = site;
    Server srv = server;
    JdbcSiteLedger l = ledger;
    cleanup.add(() -> {
      s.close();
      srv.shutdownNow();
      l.close();
    });
    return recovered;
  }

  /** kill -9: no release, no orderly close of anything. */
  private void killCrm() {
    server.shutdownNow();
    ledger.close();
  }

  @AfterEach
  void tearDown() throws Exception {
    for (AutoCloseable c : cleanup) {
      try {
        c.close();
      } catch (RuntimeException e) {
        // already closed by the kill
      }
    }
    channel.shutdownNow();
  }

  /** Reserves and opens j-1 with {@code nodes} nodes and drives it to {@code throughRun}. */
  private void runJob(int nodes, boolean throughRun) {
    Instant now = clock.instant();
    site.reservations().prepare("r-1", new Window(now.minusSeconds(1), now.plusSeconds(3600)),
        nodes, Ipv4Cidr.parse("10.10.0.0/29"), "alice");
    site.reservations().commit("r-1");
    site.openShare("j-1", "r-1", "alice");
    site.setupNodes("j-1", new SetupParams("alice", List.of(), Duration.ofSeconds(10), 2));
    if (!throughRun) {
      return;
    }
    site.collectKeys("j-1", Duration.ofSeconds(10));
    site.installTrust("j-1", TrustBundle.getDefaultInstance(), Duration.ofSeconds(10));
    site.startGuests("j-1", Duration.ofSeconds(10));
    site.execCommand("j-1", "a-0", ExecSpec.newBuilder().addArgv("sleep").addArgv("60").build());
  }

  private String reconnectCredential(int node) throws Exception {
    return starter.pilot(node).welcome().get(10, TimeUnit.SECONDS);
  }

  /** Collects a share's updates; {@code released} completes on onReleased. */
  private static final class Updates implements ShareWatcher {
    final List<WatchShareResponse> all = new CopyOnWriteArrayList<>();
    final CompletableFuture<Void> released = new CompletableFuture<>();
    final CompletableFuture<String> suspended = new CompletableFuture<>();

    @Override
    public void onUpdate(WatchShareResponse u) {
      all.add(u);
    }

    @Override
    public void onReleased() {
      released.complete(null);
    }

    @Override
    public void onSuspended(String why) {
      suspended.complete(why);
    }

    List<String> events(String host) {
      return all.stream().filter(u -> u.hasEvent() && u.getEvent().getHostname().equals(host))
          .map(u -> u.getEvent().getNodeState().name() + ": " + u.getEvent().getMessage())
          .toList();
    }

    List<CommandExit> exits() {
      return all.stream().filter(WatchShareResponse::hasExit).map(WatchShareResponse::getExit)
          .toList();
    }

    String output() {
      StringBuilder b = new StringBuilder();
      all.stream().filter(WatchShareResponse::hasOutput)
          .forEach(u -> b.append(u.getOutput().getData().toString(StandardCharsets.UTF_8)));
      return b.toString();
    }
  }

  @Test
  void aRunningJobIsReadoptedAndFinishesThroughTheRestartedCrm() throws Exception {
    startCrm("30s");
    runJob(2, true);
    String cred0 = reconnectCredential(0);
    String cred1 = reconnectCredential(1);
    assertThat(cred0).isNotEmpty().isNotEqualTo(cred1);
    assertThat(starter.pilot(0).receivedCommands())
        .containsExactly(CommandCase.SETUP, CommandCase.GET_KEYS, CommandCase.SET_KEYS,
            CommandCase.RUN, CommandCase.EXEC);
    Updates before = new Updates();
    site.watch("j-1", before);
    await().atMost(Duration.ofSeconds(10)).until(() -> !before.all.isEmpty());
    killCrm();

    assertThat(startCrm("30s")).containsExactly("j-1");
    Updates updates = new Updates();
    site.watch("j-1", updates);
    await().atMost(Duration.ofSeconds(10)).until(() -> !updates.all.isEmpty());
    assertThat(updates.all.get(0).getIncarnation()).as("a new process, a new incarnation")
        .isNotEqualTo(before.all.get(0).getIncarnation());
    assertThat(updates.all.get(0).getSeq()).isEqualTo(1);
    TestPilot p0 = TestPilot.resuming(channel, "j-1", 0, cred0, NodeState.NODE_EXECUTING, null)
        .connect();
    TestPilot p1 = TestPilot.resuming(channel, "j-1", 1, cred1, NodeState.NODE_READY, null)
        .connect();
    assertThat(p0.welcome().get(10, TimeUnit.SECONDS)).isEqualTo(cred0);
    assertThat(p1.welcome().get(10, TimeUnit.SECONDS)).isEqualTo(cred1);
    p0.output("written after the restart\n");
    p0.exit(0);

    await().atMost(Duration.ofSeconds(10)).until(() -> updates.exits().size() == 1);
    assertThat(updates.exits().get(0).getExitCode()).isZero();
    assertThat(updates.exits().get(0).getHostname()).isEqualTo("a-0");
    assertThat(updates.output()).isEqualTo("written after the restart\n");
    assertThat(updates.events("a-0")).satisfiesExactly(
        e -> assertThat(e).startsWith("NODE_READY: the CRM restarted; waiting up to 30s"),
        e -> assertThat(e).startsWith("NODE_READY: pilot of a-0 re-adopted from host 'testhost'"
            + " (it reports EXECUTING)"),
        e -> assertThat(e).startsWith("NODE_EXECUTING: command running"),
        e -> assertThat(e).startsWith("NODE_DONE: command exited with code 0"));
    assertThat(updates.events("a-1")).hasSize(2).last().asString()
        .startsWith("NODE_READY: pilot of a-1 re-adopted");
    // Stamped 1, 2, ... by this process; a second watcher gets the history with the same stamps.
    assertThat(updates.all).extracting(WatchShareResponse::getSeq)
        .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(1, updates.all.size())
            .boxed().toList());
    String incarnation = updates.all.get(0).getIncarnation();
    assertThat(updates.all).allMatch(u -> u.getIncarnation().equals(incarnation));
    Updates again = new Updates();
    site.watch("j-1", again);
    await().atMost(Duration.ofSeconds(10)).until(() -> again.all.size() == updates.all.size());
    assertThat(again.all).isEqualTo(updates.all);

    // The GRC ends the job: SHUTDOWN reaches the re-adopted pilots, the share and its record go.
    site.release("j-1", "the job ended");
    assertThat(p0.receivedCommands()).containsExactly(CommandCase.SHUTDOWN);
    assertThat(p1.receivedCommands()).containsExactly(CommandCase.SHUTDOWN);
    updates.released.get(10, TimeUnit.SECONDS); // delivered on the share's own thread
    assertThat(site.jobIds()).isEmpty();
    assertThat(ledger.loadShares()).isEmpty();
  }

  @Test
  void aCleanStopLeavesARunningJobToTheNextStart_andReleasesOneBeingSetUp() throws Exception {
    startCrm("30s");
    runJob(1, true);
    TestPilot runningPilot = starter.pilot(0);
    String cred = reconnectCredential(0);
    Instant now = clock.instant();
    site.reservations().prepare("r-2", new Window(now.minusSeconds(1), now.plusSeconds(3600)),
        1, Ipv4Cidr.parse("10.10.0.8/29"), "alice");
    site.reservations().commit("r-2");
    site.openShare("j-2", "r-2", "alice");
    site.setupNodes("j-2", new SetupParams("alice", List.of(), Duration.ofSeconds(10), 1));
    TestPilot settingUp = starter.pilot(0); // the last launch for index 0: j-2's
    assertThat(settingUp).isNotSameAs(runningPilot);
    Updates running = new Updates();
    site.watch("j-1", running);

    site.close(); // SIGTERM: an orderly stop
    assertThat(running.suspended.get(10, TimeUnit.SECONDS))
        .isEqualTo("the CRM of site 'a' is stopping; a running job continues when it is back");
    assertThat(running.released).isNotDone();
    assertThat(running.events("a-0")).noneMatch(e -> e.startsWith("NODE_LOST"));
    Status cut = runningPilot.closed().get(10, TimeUnit.SECONDS);
    assertThat(cut.getCode()).isEqualTo(Status.Code.UNAVAILABLE); // redial, not PERMISSION_DENIED
    assertThat(runningPilot.receivedCommands()).doesNotContain(CommandCase.SHUTDOWN);
    assertThat(settingUp.receivedCommands()).endsWith(CommandCase.SHUTDOWN);
    assertThat(ledger.loadShares()).extracting(SiteLedger.BoundShare::jobId)
        .containsExactly("j-1");
    killCrm();

    assertThat(startCrm("30s")).containsExactly("j-1");
    TestPilot back = TestPilot.resuming(channel, "j-1", 0, cred, NodeState.NODE_EXECUTING, null)
        .connect();
    assertThat(back.welcome().get(10, TimeUnit.SECONDS)).isEqualTo(cred);
  }

  @Test
  void anExitInTheResumedHelloIsForwardedOnce() throws Exception {
    startCrm("30s");
    runJob(1, true);
    String cred = reconnectCredential(0);
    killCrm();
    startCrm("30s");
    Updates updates = new Updates();
    site.watch("j-1", updates);
    CommandExit exit = CommandExit.newBuilder().setHostname("a-0").setExitCode(3)
        .setMessage("exited with 3").build();
    TestPilot p = TestPilot.resuming(channel, "j-1", 0, cred, NodeState.NODE_DONE, exit)
        .connect();
    p.welcome().get(10, TimeUnit.SECONDS);
    p.exit(3); // the same exit again on the stream: already DONE, not a second DONE event
    await().atMost(Duration.ofSeconds(10)).until(() -> updates.exits().size() >= 1);
    assertThat(updates.exits().get(0).getExitCode()).isEqualTo(3);
    await().atMost(Duration.ofSeconds(10)).until(() -> updates.events("a-0").stream()
        .anyMatch(e -> e.startsWith("NODE_DONE")));
    assertThat(updates.events("a-0")).filteredOn(e -> e.startsWith("NODE_DONE")).hasSize(1);
  }

  @Test
  void aRestartedCrmRefusesWrongCredentialsAndUnknownJobs() throws Exception {
    startCrm("30s");
    runJob(1, true);
    String cred = reconnectCredential(0);
    killCrm();
    startCrm("30s");

    TestPilot wrong = TestPilot.resuming(channel, "j-1", 0, "not-" + cred,
        NodeState.NODE_EXECUTING, null).connect();
    Status refused = wrong.closed().get(10, TimeUnit.SECONDS);
    assertThat(refused.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(refused.getDescription()).contains("wrong reconnect credential");

    TestPilot other = TestPilot.resuming(channel, "j-2", 0, cred, NodeState.NODE_EXECUTING,
        null).connect();
    assertThat(other.closed().get(10, TimeUnit.SECONDS).getDescription())
        .contains("job 'j-2' holds no share on site 'a'");

    // The one-time launch credential is no good for a resume either.
    String launch = starter.launches().isEmpty() ? "x" : starter.launches().get(0).credential();
    TestPilot oneTime = TestPilot.resuming(channel, "j-1", 0, launch, NodeState.NODE_EXECUTING,
        null).connect();
    assertThat(oneTime.closed().get(10, TimeUnit.SECONDS).getCode())
        .isEqualTo(Status.Code.PERMISSION_DENIED);

    // The right one still works after the refusals.
    TestPilot right = TestPilot.resuming(channel, "j-1", 0, cred, NodeState.NODE_EXECUTING,
        null).connect();
    assertThat(right.welcome().get(10, TimeUnit.SECONDS)).isEqualTo(cred);
  }

  @Test
  void aCrmThatDidNotRestartRefusesAResumeOfALostNode() throws Exception {
    startCrm("30s");
    Updates updates = new Updates();
    runJob(1, true);
    site.watch("j-1", updates);
    String cred = reconnectCredential(0);
    starter.pilot(0).crash();
    await().atMost(Duration.ofSeconds(10)).until(() -> updates.events("a-0").stream()
        .anyMatch(e -> e.startsWith("NODE_LOST")));
    TestPilot again = TestPilot.resuming(channel, "j-1", 0, cred, NodeState.NODE_EXECUTING,
        null).connect();
    Status s = again.closed().get(10, TimeUnit.SECONDS);
    assertThat(s.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(s.getDescription()).contains("the node is LOST");
  }

  @Test
  void aShareStillBeingSetUpIsForgottenAndItsPilotsRefused() throws Exception {
    startCrm("30s");
    runJob(1, false); // SetupNodes done, StartGuests not: not re-adoptable
    String cred = reconnectCredential(0);
    killCrm();
    assertThat(startCrm("30s")).isEmpty();
    assertThat(ledger.loadShares()).isEmpty();
    TestPilot p = TestPilot.resuming(channel, "j-1", 0, cred, NodeState.NODE_SET_UP, null)
        .connect();
    assertThat(p.closed().get(10, TimeUnit.SECONDS).getDescription())
        .contains("job 'j-1' holds no share on site 'a'");
  }

  @Test
  void aPilotNotBackWithinTheGraceIsLost() throws Exception {
    startCrm("30s");
    runJob(2, true);
    String cred0 = reconnectCredential(0);
    killCrm();
    startCrm("1s");
    Updates updates = new Updates();
    site.watch("j-1", updates);
    TestPilot p0 = TestPilot.resuming(channel, "j-1", 0, cred0, NodeState.NODE_EXECUTING, null)
        .connect();
    p0.welcome().get(10, TimeUnit.SECONDS);
    clock.advance(Duration.ofSeconds(1));
    await().atMost(Duration.ofSeconds(20)).until(() -> updates.events("a-1").stream()
        .anyMatch(e -> e.startsWith("NODE_LOST")));
    assertThat(updates.events("a-1")).last().asString().isEqualTo("NODE_LOST: node a-1 was lost:"
        + " its pilot did not come back within 1s of the CRM restart");
    assertThat(updates.events("a-0")).noneMatch(e -> e.startsWith("NODE_LOST"));
    assertThat(site.jobIds()).containsExactly("j-1"); // watched: the GRC decides what to do
  }

  @Test
  void aShareNobodyWatchesAgainIsReleasedAfterTheGrace() throws Exception {
    startCrm("30s");
    runJob(1, true);
    String cred = reconnectCredential(0);
    killCrm();
    startCrm("1s");
    TestPilot p = TestPilot.resuming(channel, "j-1", 0, cred, NodeState.NODE_EXECUTING, null)
        .connect();
    p.welcome().get(10, TimeUnit.SECONDS);
    clock.advance(Duration.ofSeconds(1));
    await().atMost(Duration.ofSeconds(20)).until(() -> site.jobIds().isEmpty());
    assertThat(p.receivedCommands()).containsExactly(CommandCase.SHUTDOWN);
    assertThat(p.received().get(0).getShutdown().getReason())
        .contains("nobody watched the share within 1s of the CRM restart");
    assertThat(ledger.loadShares()).isEmpty();
  }
}
