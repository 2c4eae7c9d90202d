package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;

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
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.SetupCommand;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The nodemanager command as a real process (fake driver, TCP to a test CRM): its life ends with
 * the launcher's, by stdin EOF, by the watched pid exiting, or by SIGTERM, and the guest goes
 * with it.
 */
class NodeManagerProcessTest {
  private static final Duration JVM_START = Duration.ofSeconds(30);
  private static final long EXIT_WITHIN_SECONDS = 8;

  @TempDir Path dir;
  private TestCrm crm;
  private DaemonServer server;
  private Process nm;
  private Process launcher;

  @BeforeEach
  void startCrm() throws Exception {
    crm = new TestCrm("cred-123");
    server = DaemonServer.tcp("test-crm", new Endpoint("127.0.0.1", 0), List.of(crm)).start();
  }

  @AfterEach
  void cleanUp() {
    if (nm != null) {
      nm.destroyForcibly();
    }
    if (launcher != null) {
      launcher.destroyForcibly();
    }
    server.close();
  }

  private Process startNodeManager(String... extra) throws Exception {
    Path state = dir.resolve("state");
    Path config = dir.resolve("nm.yaml");
    Files.writeString(config, "driver: fake\nstate_dir: " + state + "\nconnect_timeout: 20s\n"
        + "tls: {insecure: true}\n");
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
        NodeManagerMain.class.getName(), "--crm", "127.0.0.1:" + server.port(), "--job", "j-proc",
        "--node", "0", "--config", config.toString(), "--credential-stdin"));
    cmd.addAll(List.of(extra));
    nm = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("nm.log").toFile()).start();
    OutputStream stdin = nm.getOutputStream();
    stdin.write("cred-123\n".getBytes(StandardCharsets.UTF_8));
    stdin.flush();
    return nm;
  }

  /** Connects, checks the hello and builds the guest; returns the session. */
  private TestCrm.Session setUp() throws Exception {
    TestCrm.Session s = crm.awaitSession(JVM_START);
    assertThat(s.hello().getCredential()).isEqualTo("cred-123");
    CommandReply r = s.call(ConnectResponse.newBuilder().setSetup(SetupCommand.newBuilder()
        .setJobId("j-proc").setHostname("kyoto-0").setAddress("10.1.0.1").setPrefixLength(24)
        .setUser("alice")), Duration.ofSeconds(10));
    assertThat(r.getError()).isEmpty();
    assertThat(guests()).hasSize(1);
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

  private String log() throws Exception {
    return Files.readString(dir.resolve("nm.log"));
  }

  @Test
  void stdinEof_tearsDownAndExits0() throws Exception {
    startNodeManager();
    TestCrm.Session s = setUp();
    nm.getOutputStream().close();
    assertThat(nm.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).as(log()).isTrue();
    assertThat(nm.exitValue()).as(log()).isZero();
    assertThat(guests()).isEmpty();
    assertThat(s.states()).last().isEqualTo(NodeState.NODE_STOPPED);
    assertThat(log()).contains("launcher gone: stdin closed");
  }

  @Test
  void watchedLauncherKilled_tearsDownAndExitsAlthoughStdinStaysOpen() throws Exception {
    launcher = new ProcessBuilder("sleep", "120").start();
    startNodeManager("--watch-pid", Long.toString(launcher.pid()));
    setUp();
    launcher.destroyForcibly().waitFor();
    assertThat(nm.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).as(log()).isTrue();
    assertThat(nm.exitValue()).as(log()).isZero();
    assertThat(guests()).isEmpty();
    assertThat(log()).contains("launcher gone: process " + launcher.pid() + " exited");
  }

  @Test
  void sigterm_tearsDown() throws Exception {
    startNodeManager();
    TestCrm.Session s = setUp();
    nm.destroy();
    assertThat(nm.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).as(log()).isTrue();
    assertThat(guests()).isEmpty();
    assertThat(s.states()).last().isEqualTo(NodeState.NODE_STOPPED);
  }

  @Test
  void shutdownFromTheCrm_exits0() throws Exception {
    startNodeManager();
    TestCrm.Session s = setUp();
    CommandReply r = s.call(ConnectResponse.newBuilder().setShutdown(
        org.lambdagrid.proto.v1.ShutdownCommand.getDefaultInstance()), Duration.ofSeconds(10));
    assertThat(r.getError()).isEmpty();
    assertThat(nm.waitFor(EXIT_WITHIN_SECONDS, TimeUnit.SECONDS)).as(log()).isTrue();
    assertThat(nm.exitValue()).isZero();
    assertThat(guests()).isEmpty();
  }
}
