package org.lambdagrid.nodemanager.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.nodemanager.NodeManagerMain;
import org.lambdagrid.nodemanager.TestCrm;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.SetupCommand;
import org.lambdagrid.proto.v1.ShutdownCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node agent as a real process (fake driver, TCP to a test CRM) with the real launcher
 * script in front of it: several pilots share one agent JVM, each lives exactly as long as its
 * launcher's connection, and stopping the agent tears every guest down.
 */
class NodeAgentProcessTest {
  private static final Duration JVM_START = Duration.ofSeconds(30);
  private static final long EXIT_WITHIN_SECONDS = 10;
  private static final Path LAUNCHER = Path.of("../scripts/lambdagrid-launcher").toAbsolutePath();

  @TempDir Path dir;
  private TestCrm crm;
  private DaemonServer server;
  private Process agent;
  private final List<Process> launchers = new ArrayList<>();
  private Path socket;

  @BeforeEach
  void start() throws Exception {
    crm = new TestCrm("cred-123");
    server = DaemonServer.tcp("test-crm", new Endpoint("127.0.0.1", 0), List.of(crm)).start();
    socket = dir.resolve("run").resolve("agent.sock");
    Path config = dir.resolve("nm.yaml");
    Files.writeString(config, "driver: fake\nstate_dir: " + dir.resolve("state")
        + "\nconnect_timeout: 20s\ntls: {insecure: true}\n");
    agent = new ProcessBuilder(java(), "-cp", System.getProperty("java.class.path"),
        NodeManagerMain.class.getName(), "--agent", socket.toString(), "--config",
        config.toString()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("agent.log").toFile()).start();
    long deadline = System.nanoTime() + JVM_START.toNanos();
    while (!Files.exists(socket)) {
      assertThat(agent.isAlive()).as(agentLog()).isTrue();
      assertThat(System.nanoTime()).as("agent socket within " + JVM_START).isLessThan(deadline);
      Thread.sleep(50);
    }
  }

  @AfterEach
  void stop() {
    launchers.forEach(Process::destroyForcibly);
    agent.destroyForcibly();
    server.close();
  }

  private static String java() {
    return ProcessHandle.current().info().command().orElse("java");
  }

  private Process launch(String job, int node, String credential) throws Exception {
    Process p = new ProcessBuilder(LAUNCHER.toString(), "--crm", "127.0.0.1:" + server.port(),
        "--job", job, "--node", Integer.toString(node), "--agent", socket.toString())
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("launcher-" + job + "-" + node + ".log").toFile()).start();
    OutputStream stdin = p.getOutputStream();
    stdin.write((credential + "\n").getBytes(StandardCharsets.UTF_8));
    stdin.flush();
    launchers.add(p);
    return p;
  }

  private TestCrm.Session setUp(String job, int node) throws Exception {
    TestCrm.Session s = crm.awaitSession(JVM_START);
    assertThat(s.hello().getJobId()).isEqualTo(job);
    assertThat(s.hello().getCredential()).isEqualTo("cred-123");
    CommandReply r = s.call(ConnectResponse.newBuilder().setSetup(SetupCommand.newBuilder()
        .setJobId(job).setHostname("kyoto-" + node).setAddress("10.1.0." + (node + 1))
        .setPrefixLength(24).setUser("alice")), Duration.ofSeconds(10));
    assertThat(r.getError()).isEmpty();
    return s;
  }

  private List<Path> guests() throws Exception {
    Path fake = dir.resolve("state").resolve("fake");
    if (!Files.isDirectory(fake)) {
      return List.of();
    }
    try (var s = Files.list(fake)) {
      return s.toList();
    }
  }

  private String agentLog() {
    try {
      return Files.readString(dir.resolve("agent.log"));
    } catch (java.io.IOException e) {
      return e.toString();
    }
  }

  private String launcherLog(String job, int node) throws Exception {
    return Files.readString(dir.resolve("launcher-" + job + "-" + node + ".log"));
  }

  @Test
  void twoPilotsInOneAgent_eachEndsWithItsLauncher() throws Exception {
    Process a = launch("j-a", 0, "cred-123");
    TestCrm.Session sa = setUp("j-a", 0);
    Process b = launch("j-b", 1, "cred-123");
    TestCrm.Session sb = setUp("j-b", 1);
    assertThat(guests()).hasSize(2);
    // The launcher is the agent's client process now; ps and pgrep still show its command line.
    Process pgrep = new ProcessBuilder("pgrep", "-f", "^lambdagrid-launcher --crm 127.0.0.1:"
        + server.port() + " --job j-a --node 0 --agent ").start();
    assertThat(new String(pgrep.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim())
        .isEqualTo(Long.toString(a.pid()));

    // SIGKILL: the connection closes with the launcher; only that pilot's guest goes.
    a.destroyForcibly().waitFor();
    assertThat(awaitGuests(1)).as(agentLog()).isTrue();
    // STOPPED is sent after the teardown removed the guest, over gRPC: wait for it to arrive.
    await().atMost(Duration.ofSeconds(EXIT_WITHIN_SECONDS))
        .until(() -> sa.states().contains(NodeState.NODE_STOPPED));
    assertThat(sa.states()).last().isEqualTo(NodeState.NODE_STOPPED);
    assertThat(agent.isAlive()).isTrue();

    // SIGTERM: the launcher half-closes, waits for the teardown, exits 143.
    b.destroy();
    assertThat(b.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).as(agentLog()).isTrue();
    assertThat(b.exitValue()).as(launcherLog("j-b", 1)).isEqualTo(143);
    assertThat(guests()).isEmpty();
    assertThat(sb.states()).last().isEqualTo(NodeState.NODE_STOPPED);
    assertThat(agent.isAlive()).isTrue();
  }

  @Test
  void shutdownFromTheCrm_launcherExits0() throws Exception {
    Process p = launch("j-s", 0, "cred-123");
    TestCrm.Session s = setUp("j-s", 0);
    CommandReply r = s.call(ConnectResponse.newBuilder().setShutdown(
        ShutdownCommand.getDefaultInstance()), Duration.ofSeconds(10));
    assertThat(r.getError()).isEmpty();
    assertThat(p.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).as(agentLog()).isTrue();
    assertThat(p.exitValue()).as(launcherLog("j-s", 0)).isZero();
    assertThat(guests()).isEmpty();
  }

  @Test
  void wrongCredential_launcherExitsWithTheCrmFailure() throws Exception {
    Process p = launch("j-w", 0, "not-the-credential");
    assertThat(p.waitFor(JVM_START.toSeconds(), TimeUnit.SECONDS)).as(agentLog()).isTrue();
    assertThat(p.exitValue()).as(launcherLog("j-w", 0)).isEqualTo(NodeManagerMain.CRM_FAILED);
    assertThat(launcherLog("j-w", 0)).startsWith("nodemanager: ").contains("PERMISSION_DENIED");
  }

  @Test
  void badRequest_isRefusedNamingTheField() throws Exception {
    Process p = new ProcessBuilder(LAUNCHER.toString(), "--crm", "no-port", "--job", "j-x",
        "--node", "0", "--agent", socket.toString()).redirectErrorStream(true).start();
    p.getOutputStream().write("cred\n".getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    assertThat(p.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).isTrue();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.exitValue()).as(out).isEqualTo(NodeManagerMain.USAGE);
    assertThat(out).startsWith("nodemanager: --crm: ").contains("no-port");
    assertThat(agent.isAlive()).isTrue();
  }

  @Test
  void noAgentAtTheSocket_launcherSaysSo() throws Exception {
    Process p = new ProcessBuilder(LAUNCHER.toString(), "--crm", "127.0.0.1:1", "--job", "j-x",
        "--node", "0", "--agent", dir.resolve("nothing.sock").toString())
        .redirectErrorStream(true).start();
    p.getOutputStream().write("cred\n".getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    assertThat(p.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).isTrue();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.exitValue()).isEqualTo(2);
    assertThat(out).contains("--agent: no node agent listens at '" + dir.resolve("nothing.sock"));
  }

  @Test
  void secondAgentOnTheSameSocket_isRefused() throws Exception {
    Process second = new ProcessBuilder(java(), "-cp", System.getProperty("java.class.path"),
        NodeManagerMain.class.getName(), "--agent", socket.toString())
        .redirectErrorStream(true).start();
    assertThat(second.waitFor(JVM_START.toSeconds(), TimeUnit.SECONDS)).isTrue();
    String out = new String(second.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(second.exitValue()).as(out).isEqualTo(NodeManagerMain.USAGE);
    assertThat(out).contains("another node agent is already listening on " + socket);
    assertThat(Files.exists(socket)).isTrue();
  }

  @Test
  void sigtermOfTheAgent_tearsEveryPilotDownAndRemovesTheSocket() throws Exception {
    Process a = launch("j-t", 0, "cred-123");
    TestCrm.Session sa = setUp("j-t", 0);
    Process b = launch("j-t", 1, "cred-123");
    TestCrm.Session sb = setUp("j-t", 1);
    assertThat(guests()).hasSize(2);
    agent.destroy();
    assertThat(agent.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).as(agentLog()).isTrue();
    assertThat(guests()).isEmpty();
    assertThat(Files.exists(socket)).isFalse();
    assertThat(sa.states()).last().isEqualTo(NodeState.NODE_STOPPED);
    assertThat(sb.states()).last().isEqualTo(NodeState.NODE_STOPPED);
    assertThat(a.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).isTrue();
    assertThat(b.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).isTrue();
    assertThat(a.exitValue()).as(launcherLog("j-t", 0)).isZero();
  }

  private boolean awaitGuests(int n) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(EXIT_WITHIN_SECONDS);
    while (System.nanoTime() < deadline) {
      if (guests().size() == n) {
        return true;
      }
      Thread.sleep(50);
    }
    return false;
  }
}
