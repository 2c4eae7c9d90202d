package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.testing.FreePorts;
import org.lambdagrid.grc.cli.GrcCli;
import picocli.CommandLine;

/**
 * The same job as the mini-cluster, with every daemon in its own OS process over TCP: a GRC, two
 * CRMs, and per node the real scripts/lambdagrid-launcher starting a NodeManager process (with
 * the fake guest driver from the test classpath, so no root is needed). The job is submitted
 * with the real {@code grc} command line. Every link is mutual TLS with per-role certificates
 * from {@code scripts/lambdagrid-ca}, as in the testbed.
 */
class ProcessClusterTest {
  private static final Path REPO = Path.of("").toAbsolutePath().getParent();
  private final List<Process> daemons = new ArrayList<>();

  @TempDir Path dir;

  private Process java(String name, Map<String, String> env, String main, String... args)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin",
        "java").toString(), "-XX:TieredStopAtLevel=1", "-Duser.name=alice", "-cp", classpath(),
        main));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve(name + ".log").toFile());
    pb.environment().putAll(env);
    Process p = pb.start();
    daemons.add(p);
    return p;
  }

  private static String classpath() {
    String cp = System.getProperty("surefire.test.class.path");
    return cp != null ? cp : System.getProperty("java.class.path");
  }

  @AfterEach
  void stopDaemons() throws Exception {
    for (int i = daemons.size() - 1; i >= 0; i--) {
      daemons.get(i).destroy();
      daemons.get(i).waitFor();
    }
  }

  @Test
  void jobRunsWithEveryDaemonInItsOwnProcessOverTcp() throws Exception {
    TestCa ca = TestCa.init(dir.resolve("ca"));
    int grcPort = FreePorts.pick();
    Files.writeString(dir.resolve("grc.yaml"), "listen: 127.0.0.1:" + grcPort + "\nstate_dir: "
        + dir.resolve("grc") + "\n" + ca.issue("grc", "grc").yaml());
    java("grc", Map.of(), "org.lambdagrid.grc.GrcMain", "--config",
        dir.resolve("grc.yaml").toString());

    // The launcher's NodeManager: a JVM on the test classpath with the fake driver.
    Path nm = dir.resolve("nodemanager");
    Files.writeString(nm, "#!/bin/sh\nexec '" + Path.of(System.getProperty("java.home"), "bin",
        "java") + "' -XX:TieredStopAtLevel=1 -Dlambdagrid.home='" + dir + "' -cp '" + classpath()
        + "' org.lambdagrid.nodemanager.NodeManagerMain \"$@\"\n");
    Files.setPosixFilePermissions(nm, PosixFilePermissions.fromString("rwxr-xr-x"));
    // Each site's NodeManager config is a profile of the "installation" dir: etc/nodemanager.d.
    Path profiles = Files.createDirectories(dir.resolve("etc/nodemanager.d"));
    for (String site : List.of("alpha", "bravo")) {
      Files.writeString(profiles.resolve(site + ".yaml"), "driver: fake\nstate_dir: "
          + dir.resolve("nm") + "\n" + ca.issue("nodemanager", site).yaml());
      int port = FreePorts.pick();
      Files.writeString(dir.resolve("crm-" + site + ".yaml"), "site: " + site
          + "\nlisten: 127.0.0.1:" + port + "\ngrc: 127.0.0.1:" + grcPort
          + "\nnode_capacity: 2\nranges: [10.10.0.0/16]\nstate_dir: " + dir.resolve(site)
          + "\nphase_timeout: 60s\npilot:\n  launcher: " + REPO.resolve("scripts/lambdagrid-launcher")
          + "\n  run_as_user: false\n  nodemanager_profile: " + site
          + "\n" + ca.issue("crm", site).yaml());
      java("crm-" + site, Map.of("LAMBDAGRID_NODEMANAGER", nm.toString()),
          "org.lambdagrid.crm.CrmMain", "--config", dir.resolve("crm-" + site + ".yaml").toString());
    }
    TestCa.Cert alice = ca.issue("user", "alice");
    Map<String, String> env = Map.of("LAMBDAGRID_GRC", "127.0.0.1:" + grcPort,
        "LAMBDAGRID_CERT", alice.cert().toString(), "LAMBDAGRID_KEY", alice.key().toString(),
        "LAMBDAGRID_CA", alice.ca().toString());
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).until(() ->
        grc(env, "sites").out.contains("bravo") && grc(env, "sites").out.contains("alpha"));

    Run r = grc(env, "submit", "--site", "alpha=2", "--site", "bravo=2", "--wait",
        "--workdir", dir.toString(), "--", "sh", "-c", "echo ran on: $LAMBDAGRID_NODES; exit 7");
    assertThat(r.exit).as(r.out + r.err).isEqualTo(7);
    assertThat(r.out).contains("ran on: alpha-0 alpha-1 bravo-0 bravo-1");
    assertThat(r.err).contains("RUNNING");
    // With TLS the GRC takes the user from the certificate (the CLI sends none).
    assertThat(grc(env, "status").out).contains("alice");

    // An interrupted `grc submit --wait` (SIGTERM, as from Ctrl-C) cancels its job.
    Process waiting = java("grc-wait", env,
        "org.lambdagrid.grc.cli.GrcCli", "submit", "--site", "alpha=1", "--wait", "--workdir",
        dir.toString(), "--", "sleep", "600");
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).until(() ->
        grc(env, "status").out.contains("RUNNING"));
    waiting.destroy();
    assertThat(waiting.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).until(() ->
        grc(env, "status").out.contains("CANCELLED"));
    assertThat(Files.readString(dir.resolve("grc-wait.log"))).contains("cancelled job");
  }

  private record Run(int exit, String out, String err) {}

  private static Run grc(Map<String, String> env, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = GrcCli.commandLine(env, "alice");
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int exit = cli.execute(args);
    return new Run(exit, out.toString(), err.toString());
  }
}
