package org.lambdagrid.crm.pilot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Processes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalPilotStarterTest {
  @TempDir
  Path dir;

  private static final PilotLaunch LAUNCH = new PilotLaunch("j-1", 0, "a-0", "alice",
      "s3cret-credential", new Endpoint("127.0.0.1", 7100));

  /** Reads the credential, starts a child, waits for EOF on stdin, then exits. */
  private static final String POLITE = """
      #!/bin/sh
      out="$7"
      echo "$@" > "$out/args"
      read -r cred
      echo "$cred" > "$out/cred"
      sleep 300 &
      echo $! > "$out/child"
      echo "launcher started"
      cat > /dev/null
      echo eof > "$out/eof"
      kill $!
      exit 0
      """;

  /** Ignores EOF and SIGTERM; only SIGKILL gets rid of it and its child. */
  private static final String STUBBORN = """
      #!/bin/sh
      out="$7"
      trap '' TERM
      read -r cred
      sleep 300 &
      echo $! > "$out/child"
      echo $$ > "$out/self"
      while true; do sleep 0.1; done
      """;

  private static final String DIES = """
      #!/bin/sh
      echo "cannot reach the CRM" >&2
      exit 3
      """;

  private LocalPilotStarter starter(String script) throws IOException {
    Path launcher = dir.resolve("launcher");
    Files.writeString(launcher, script);
    Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path out = Files.createDirectories(dir.resolve("out"));
    return new LocalPilotStarter(new LocalPilotStarter.Options(launcher, false,
        List.of(out.toString()), null, dir.resolve("state/pilots"), Duration.ofSeconds(2),
        Duration.ofMillis(500)));
  }

  @Test
  void theCredentialArrivesOnStdinAndStopClosesItSoTheLauncherSeesEof() throws Exception {
    LocalPilotStarter starter = starter(POLITE);
    PilotHandle h = starter.start(LAUNCH);
    try {
      polite(starter, h);
    } finally {
      starter.stop(h);
    }
  }

  private void polite(LocalPilotStarter starter, PilotHandle h) throws Exception {
    Path out = dir.resolve("out");
    await().atMost(5, TimeUnit.SECONDS).until(() -> Files.exists(out.resolve("child")));
    assertThat(Files.readString(out.resolve("cred")).trim()).isEqualTo("s3cret-credential");
    assertThat(Files.readString(out.resolve("args")).trim())
        .isEqualTo("--crm 127.0.0.1:7100 --job j-1 --node 0 " + out);
    assertThat(starter.isAlive(h)).isTrue();

    starter.stop(h);

    // It left on EOF by itself (exit 0), not by the TERM/KILL that follow the grace.
    assertThat(h.describe()).contains("exited with code 0");
    assertThat(Files.readString(out.resolve("eof")).trim()).isEqualTo("eof");
    assertThat(starter.isAlive(h)).isFalse();
    assertGone(Long.parseLong(Files.readString(out.resolve("child")).trim()));
    Path log = dir.resolve("state/pilots/j-1-0.log");
    assertThat(Files.readString(log)).contains("launcher started")
        .doesNotContain("s3cret-credential");
    starter.stop(h); // idempotent
  }

  @Test
  void stopKillsALauncherThatIgnoresEofAndTermTogetherWithItsChild() throws Exception {
    LocalPilotStarter starter = starter(STUBBORN);
    PilotHandle h = starter.start(LAUNCH);
    try {
      stubborn(starter, h);
    } finally {
      starter.stop(h);
    }
  }

  private void stubborn(LocalPilotStarter starter, PilotHandle h) throws Exception {
    Path out = dir.resolve("out");
    await().atMost(5, TimeUnit.SECONDS).until(() -> Files.exists(out.resolve("self")));
    long child = Long.parseLong(Files.readString(out.resolve("child")).trim());

    starter.stop(h);

    assertThat(starter.isAlive(h)).isFalse();
    assertThat(h.describe()).contains("exited with code 137"); // SIGKILL, after EOF and TERM
    assertGone(child);
  }

  @Test
  void aLauncherThatDiesIsReportedWithItsExitCodeAndLog() throws Exception {
    LocalPilotStarter starter = starter(DIES);
    PilotHandle h = starter.start(LAUNCH);
    try {
      await().atMost(5, TimeUnit.SECONDS).until(() -> !starter.isAlive(h));
    } finally {
      starter.stop(h);
    }
    Path log = dir.resolve("state/pilots/j-1-0.log");
    assertThat(h.describe()).contains("exited with code 3").contains("log: " + log);
    assertThat(Files.readString(log)).contains("cannot reach the CRM");
    starter.stop(h);
  }

  @Test
  void theCommandLineCarriesEndpointJobNodeAndNodeManagerConfig() throws IOException {
    Path launcher = dir.resolve("launcher");
    Files.writeString(launcher, DIES);
    Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
    LocalPilotStarter starter = new LocalPilotStarter(new LocalPilotStarter.Options(launcher,
        true, List.of("--verbose"), "gpu", dir,
        Duration.ofSeconds(1), Duration.ofSeconds(1)));
    assertThat(starter.command(LAUNCH, List.of("setpriv", "--reuid=1000", "--regid=1000",
        "--init-groups", "--"))).containsExactly("setpriv", "--reuid=1000", "--regid=1000",
        "--init-groups", "--", launcher.toString(), "--crm", "127.0.0.1:7100", "--job", "j-1",
        "--node", "0", "--profile", "gpu", "--verbose");
  }

  @Test
  void anUnknownUserIsRefusedBeforeAnythingRuns() throws IOException {
    Path launcher = dir.resolve("launcher");
    Files.writeString(launcher, DIES);
    Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
    LocalPilotStarter starter = new LocalPilotStarter(new LocalPilotStarter.Options(launcher,
        true, List.of(), null, dir, Duration.ofSeconds(1), Duration.ofSeconds(1)));
    PilotLaunch launch = new PilotLaunch("j-1", 0, "a-0", "lg-no-such-user", "x",
        new Endpoint("127.0.0.1", 7100));
    assertThatThrownBy(() -> starter.start(launch)).isInstanceOf(PilotStartException.class)
        .hasMessageContaining("'lg-no-such-user'");
  }

  @Test
  void aMissingLauncherIsAConfigErrorNamingTheField() {
    Path missing = dir.resolve("nope");
    assertThatThrownBy(() -> new LocalPilotStarter(new LocalPilotStarter.Options(missing, false,
        List.of(), null, dir, Duration.ofSeconds(1), Duration.ofSeconds(1))))
        .hasMessage("pilot.launcher: '" + missing + "' is not an executable file");
  }

  private static void assertGone(long pid) {
    await().atMost(3, TimeUnit.SECONDS).until(() ->
        ProcessHandle.of(pid).map(p -> !Processes.running(p)).orElse(true));
  }
}
