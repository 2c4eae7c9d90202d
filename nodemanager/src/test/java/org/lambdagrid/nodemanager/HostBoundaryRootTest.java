package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.HostCommand;

/**
 * What a local user without grid credentials can ask of the root side of a node, tried by a
 * real non-root user against the real processes: the node agent
 * (its socket is 0666), {@code nodemanager} as root for a sudo user, and the exact sudoers rule
 * of scripts/testbed and docs/operators.md. Each test fails on the code before the fix: the agent
 * took any root-owned file as config and quoted it in the parse error; under sudo, --agent PATH
 * replaced whatever was at PATH and --config/--cleanup trusted the user's files. Needs root.
 */
@Tag("root")
class HostBoundaryRootTest {
  private static final String TAG = HexFormat.of().formatHex(new byte[] {
      (byte) ThreadLocalRandom.current().nextInt(), (byte) ThreadLocalRandom.current().nextInt()});
  private static final String USER = "lgatk" + TAG;
  private static final String SECRET = "TOPSECRET-" + TAG;
  private static final Path BASE = Path.of("/run/lambdagrid/test-boundary-" + TAG);
  private static final Path NODEMANAGER = Path.of("../bin/nodemanager").toAbsolutePath()
      .normalize();
  private static String uid;
  private static String gid;
  private static Process agent;
  private static Path socket;

  @BeforeAll
  static void setUp() throws Exception {
    assumeTrue(HostCommand.isRoot(), "skipped: needs root");
    run("useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", USER);
    uid = run("id", "-u", USER).trim();
    gid = run("id", "-g", USER).trim();
    // Root's own files, readable by no one else: what the user must not get root to read.
    Files.createDirectories(BASE.resolve("home/etc/nodemanager.d"));
    for (Path d : List.of(BASE, BASE.resolve("home"), BASE.resolve("home/etc"),
        BASE.resolve("home/etc/nodemanager.d"))) {
      Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
    rootOnly(BASE.resolve("secret.yaml"), SECRET + ": [\n");
    rootOnly(BASE.resolve("home/etc/nodemanager.d/broken.yaml"), "driver: [" + SECRET + "\n");
    rootOnly(BASE.resolve("target"), SECRET + "\n");
    rootOnly(BASE.resolve("agent.yaml"), "driver: fake\nstate_dir: " + BASE.resolve("state")
        + "\nconnect_timeout: 5s\ntls: {insecure: true}\n");
    socket = BASE.resolve("run/agent.sock");
    ProcessBuilder pb = new ProcessBuilder(java(), "-Dlambdagrid.home=" + BASE.resolve("home"), "-cp",
        System.getProperty("java.class.path"), NodeManagerMain.class.getName(), "--agent",
        socket.toString(), "--config", BASE.resolve("agent.yaml").toString())
        .redirectErrorStream(true).redirectOutput(BASE.resolve("agent.log").toFile());
    pb.environment().keySet().removeIf(k -> k.startsWith("SUDO_")); // root's own agent
    agent = pb.start();
    for (int i = 0; i < 600 && !Files.exists(socket); i++) {
      assertThat(agent.isAlive()).as("the agent: %s", log()).isTrue();
      Thread.sleep(50);
    }
    assertThat(socket).as("the agent's socket").exists();
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (agent != null) {
      agent.destroy();
      agent.waitFor(10, TimeUnit.SECONDS);
      agent.destroyForcibly();
    }
    if (uid != null) {
      HostCommand.run(List.of("userdel", "-r", USER), java.time.Duration.ofSeconds(30));
    }
    Files.deleteIfExists(Path.of("/etc/sudoers.d/lgtest-" + TAG));
    if (Files.exists(BASE)) {
      run("rm", "-rf", "--one-file-system", BASE.toString());
    }
  }

  @Test
  void theAgentNeverTakesAPathFromAUser() throws Exception {
    for (String path : List.of(BASE.resolve("secret.yaml").toString(), "/etc/shadow",
        "../../../../" + BASE.resolve("secret.yaml"))) {
      Result r = askAgent("pilot 127.0.0.1:1 j-x 0 cred " + path);
      assertThat(r.out).contains("nodemanager: --profile: '" + path + "' is not a profile name")
          .doesNotContain(SECRET).doesNotContain("root:").endsWith("lambdagrid-agent-exit 2\n");
    }
  }

  @Test
  void aBrokenOperatorProfileIsNotQuotedToTheUser() throws Exception {
    Result r = askAgent("pilot 127.0.0.1:1 j-x 0 cred broken");
    assertThat(r.out).contains("the operator's NodeManager config")
        .contains("is not valid; the node's NodeManager log says why").doesNotContain(SECRET);
    Result missing = askAgent("pilot 127.0.0.1:1 j-x 0 cred nosuch");
    assertThat(missing.out).contains("--profile: no profile 'nosuch' on this node")
        .doesNotContain(SECRET)
        .endsWith("lambdagrid-agent-exit 2\n");
    assertThat(agent.isAlive()).isTrue();
  }

  /** As root with SUDO_USER set, as sudo starts it: only the launcher's form is accepted. */
  @Test
  void forASudoUserTheNodeManagerRefusesAgentCleanupAndConfig() throws Exception {
    Path target = BASE.resolve("target");
    List<List<String>> asks = List.of(
        List.of("--agent", target.toString()),
        List.of("--cleanup"),
        List.of("--cleanup", "--config", BASE.resolve("agent.yaml").toString()),
        List.of("--crm", "127.0.0.1:1", "--job", "j-x", "--node", "0", "--config",
            BASE.resolve("agent.yaml").toString()));
    for (List<String> ask : asks) {
      List<String> cmd = new ArrayList<>(List.of(java(), "-cp",
          System.getProperty("java.class.path"), NodeManagerMain.class.getName()));
      cmd.addAll(ask);
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
      pb.environment().putAll(Map.of("SUDO_USER", USER, "SUDO_UID", uid, "SUDO_GID", gid));
      Result r = Result.of(pb.start());
      String option = ask.contains("--cleanup") ? "--cleanup" : ask.get(0).equals("--agent")
          ? "--agent" : "--config";
      assertThat(r.code).as(r.out).isEqualTo(NodeManagerMain.USAGE);
      assertThat(r.out).contains(option + ": not allowed under sudo (run for user '" + USER + "')");
    }
    assertThat(target).as("the file at --agent's path").isRegularFile().hasContent(SECRET);
  }

  /** The rule grants the launcher's exact form and nothing else; sudo itself refuses the rest. */
  @Test
  void theSudoersRuleGrantsOnlyTheLaunchersForm() throws Exception {
    assumeTrue(Files.isExecutable(Path.of("/usr/bin/sudo"))
        && Files.isExecutable(Path.of("/usr/sbin/visudo")), "skipped: no sudo/visudo");
    Path rule = Path.of("/etc/sudoers.d/lgtest-" + TAG);
    String text = run("bash", "-c", "source <(sed -n '/^sudoers_rule()/,/^}/p' ../scripts/testbed)"
        + " && sudoers_rule \"$0\"", NODEMANAGER.toString()).replaceFirst("^ALL ", USER + " ");
    Path tmp = BASE.resolve("sudoers.tmp");
    Files.writeString(tmp, text);
    run("chmod", "0440", tmp.toString());
    run("/usr/sbin/visudo", "-cqf", tmp.toString());
    run("mv", tmp.toString(), rule.toString());

    String nm = NODEMANAGER.toString();
    List<String> launcherForm = List.of("--crm", "127.0.0.1:1", "--job", "j-1", "--node", "0",
        "--credential-stdin", "--watch-pid", "42");
    assertThat(sudoList(launcherForm).code).as("the launcher's form").isZero();
    List<String> withProfile = new ArrayList<>(launcherForm);
    withProfile.addAll(List.of("--profile", "gpu"));
    assertThat(sudoList(withProfile).code).as("the launcher's form with a profile").isZero();

    List<List<String>> refused = List.of(
        List.of("--agent", BASE.resolve("target").toString()),
        List.of("--cleanup"),
        List.of("--crm", "127.0.0.1:1", "--job", "j-1", "--node", "0", "--credential-stdin",
            "--watch-pid", "42", "--config", BASE.resolve("secret.yaml").toString()),
        List.of("--crm", "127.0.0.1:1", "--job", "j-1", "--node", "0", "--credential-stdin",
            "--watch-pid", "42", "--profile", "../../secret"),
        List.of("--crm", "127.0.0.1:1", "--job", "j-1", "--node", "0", "--credential-stdin",
            "--watch-pid", "42", "--profile", "gpu", "--agent", "/x"));
    for (List<String> ask : refused) {
      assertThat(sudoList(ask).code).as("sudo -l %s", ask).isNotZero();
      List<String> cmd = new ArrayList<>(List.of("sudo", "-n", nm));
      cmd.addAll(ask);
      Result r = asUser(cmd);
      assertThat(r.code).as("sudo %s: %s", ask, r.out).isEqualTo(1);
      assertThat(r.out).startsWith("sudo: ");
    }
    assertThat(BASE.resolve("target")).isRegularFile().hasContent(SECRET);
  }

  private static Result sudoList(List<String> args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("sudo", "-n", "-l", NODEMANAGER.toString()));
    cmd.addAll(args);
    return asUser(cmd);
  }

  /** Sends one request line to the agent as the user, as a hand-written client would. */
  private static Result askAgent(String request) throws Exception {
    String client = "use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => $ARGV[0])"
        + " or die \"connect: $!\\n\"; $s->autoflush(1); print $s \"$ARGV[1]\\n\";"
        + " print while <$s>;";
    return asUser(List.of("/usr/bin/perl", "-e", client, socket.toString(), request));
  }

  private static Result asUser(List<String> argv) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=" + uid,
        "--regid=" + gid, "--init-groups", "--", "/usr/bin/env", "-i", "HOME=/home/" + USER,
        "USER=" + USER, "PATH=/usr/bin:/bin"));
    cmd.addAll(argv);
    return Result.of(new ProcessBuilder(cmd).redirectErrorStream(true).start());
  }

  private record Result(int code, String out) {
    static Result of(Process p) throws Exception {
      p.getOutputStream().close();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).as(out).isTrue();
      return new Result(p.exitValue(), out);
    }
  }

  private static void rootOnly(Path f, String text) throws IOException {
    Files.writeString(f, text);
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
  }

  private static String run(String... argv) throws Exception {
    Result r = Result.of(new ProcessBuilder(argv).redirectErrorStream(true).start());
    assertThat(r.code).as("%s: %s", List.of(argv), r.out).isZero();
    return r.out;
  }

  private static String java() {
    return ProcessHandle.current().info().command().orElse("java");
  }

  private static String log() {
    try {
      return Files.readString(BASE.resolve("agent.log"));
    } catch (IOException e) {
      return e.toString();
    }
  }
}
