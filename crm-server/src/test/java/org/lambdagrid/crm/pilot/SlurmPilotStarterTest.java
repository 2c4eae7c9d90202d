package org.lambdagrid.crm.pilot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.crm.pilot.SlurmPilotStarter.JobStatus;

/**
 * The Slurm starter against fake {@code sbatch}, {@code squeue} and {@code scancel} scripts on a
 * private PATH: they record their arguments and stdin in the temp dir and answer from files the
 * test writes. No Slurm needed.
 */
class SlurmPilotStarterTest {
  private static final String CREDENTIAL = "s3cret-Credential_0";

  @TempDir
  Path dir;
  private Path bin;

  @BeforeEach
  void fakeSlurm() throws IOException {
    bin = Files.createDirectories(dir.resolve("bin"));
    tool("sbatch", """
        #!/bin/sh
        printf '%s\\n' "$@" > "$D/sbatch.args"
        cat > "$D/sbatch.stdin"
        if [ -f "$D/sbatch.err" ]; then cat "$D/sbatch.err" >&2; exit 1; fi
        echo "42;lgslurm"
        """);
    tool("squeue", """
        #!/bin/sh
        printf '%s\\n' "$@" >> "$D/squeue.calls"
        if [ -f "$D/squeue.err" ]; then cat "$D/squeue.err" >&2; exit 1; fi
        cat "$D/squeue.out" 2>/dev/null
        """);
    tool("scancel", """
        #!/bin/sh
        echo "$@" >> "$D/scancel.calls"
        echo "$1|CANCELLED|None" > "$D/squeue.out"
        """);
    // The tools find their directory through $D: put it into each script.
    for (String t : List.of("sbatch", "squeue", "scancel")) {
      Path p = bin.resolve(t);
      Files.writeString(p, Files.readString(p).replace("$D", dir.toString()));
    }
  }

  private void tool(String name, String script) throws IOException {
    Path p = bin.resolve(name);
    Files.writeString(p, script);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private SlurmPilotStarter starter(String partition, String account, List<String> extra,
      Duration pendingGrace) {
    return new SlurmPilotStarter(new SlurmPilotStarter.Options(
        Path.of("/opt/lambdagrid/scripts/lambdagrid-launcher"), false, List.of("--", "-v"),
        "gpu", dir.resolve("pilots"), partition, account, extra,
        pendingGrace, Duration.ofSeconds(2), Duration.ZERO, List.of(bin)));
  }

  private SlurmPilotStarter starter() {
    return starter(null, null, List.of(), Duration.ofSeconds(60));
  }

  private static PilotLaunch launch(Instant windowEnd) {
    return new PilotLaunch("j-1a2b", 1, "alpha-1", System.getProperty("user.name"), CREDENTIAL,
        new Endpoint("127.0.0.1", 7301), windowEnd);
  }

  @Test
  void sbatchGetsNameOutputTimePartitionAccountAndExtraOptions() throws Exception {
    SlurmPilotStarter s = starter("batch", "grid", List.of("--qos=grid"), Duration.ofSeconds(60));
    Instant now = Instant.parse("2025-01-01T00:00:00Z");
    Path log = Path.of("/var/log/lg/j-1a2b-1.log");
    assertThat(s.sbatchArgs(launch(now.plusSeconds(3601)), log, now)).containsExactly(
        "--parsable", "--job-name=lg-j-1a2b-alpha-1", "--output=" + log, "--open-mode=append",
        "--chdir=/", "--export=NONE", "--nodes=1", "--ntasks=1", "--no-requeue",
        "--time=61", "--partition=batch", "--account=grid", "--qos=grid");
    // In the Slurm reservation the CRM made for the grid reservation.
    PilotLaunch in = new PilotLaunch("j-1a2b", 1, "alpha-1", "bob", CREDENTIAL,
        new Endpoint("127.0.0.1", 7301), now.plusSeconds(60), "lg-alpha-r-1a2b3c4d");
    assertThat(s.sbatchArgs(in, log, now)).contains("--reservation=lg-alpha-r-1a2b3c4d")
        .endsWith("--reservation=lg-alpha-r-1a2b3c4d", "--qos=grid");
    // An open-ended window leaves the partition's default time limit.
    assertThat(s.sbatchArgs(launch(null), log, now)).noneMatch(a -> a.startsWith("--time"));
    assertThatThrownBy(() -> s.sbatchArgs(launch(now.minusSeconds(1)), log, now))
        .isInstanceOf(PilotStartException.class).hasMessageContaining("window ended");
  }

  @Test
  void theCredentialTravelsInTheScriptOnStdinAndReachesTheLaunchersStdin() throws Exception {
    SlurmPilotStarter s = starter();
    PilotHandle h = s.start(launch(Instant.now().plusSeconds(600)));

    assertThat(((SlurmPilotStarter.SlurmHandle) h).slurmJobId()).isEqualTo("42");
    String args = Files.readString(dir.resolve("sbatch.args"));
    assertThat(args).doesNotContain(CREDENTIAL).contains("--time=10")
        .contains("--output=" + dir.resolve("pilots/j-1a2b-1.log"));
    String script = Files.readString(dir.resolve("sbatch.stdin"));
    assertThat(script).startsWith("#!/bin/sh\n").contains(CREDENTIAL).contains(
        "exec /opt/lambdagrid/scripts/lambdagrid-launcher --crm 127.0.0.1:7301 --job j-1a2b"
            + " --node 1 --profile gpu -- -v <<'");
    assertThat(Files.readString(dir.resolve("pilots/j-1a2b-1.log"))).doesNotContain(CREDENTIAL);

    // Run the script as Slurm would, with a fake launcher: it gets the arguments and, on its
    // stdin, the credential as the first line.
    Path launcher = dir.resolve("launcher");
    Files.writeString(launcher, "#!/bin/sh\necho \"$@\" > " + dir.resolve("l.args")
        + "\nread -r c; echo \"$c\" > " + dir.resolve("l.cred") + "\n");
    Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwx------"));
    Process p = new ProcessBuilder("sh", "-c", script.replace(
        "/opt/lambdagrid/scripts/lambdagrid-launcher", launcher.toString())).start();
    assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(Files.readString(dir.resolve("l.args")).trim()).isEqualTo(
        "--crm 127.0.0.1:7301 --job j-1a2b --node 1 --profile gpu -- -v");
    assertThat(Files.readString(dir.resolve("l.cred")).trim()).isEqualTo(CREDENTIAL);
  }

  @Test
  void sbatchRefusingPassesItsErrorThroughNamingTheNode() throws Exception {
    Files.writeString(dir.resolve("sbatch.err"), "sbatch: error: invalid partition specified:"
        + " nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n");
    assertThatThrownBy(() -> starter("nope", null, List.of(), Duration.ofSeconds(1))
        .start(launch(null)))
        .isInstanceOf(PilotStartException.class)
        .hasMessage("sbatch refused the pilot of alpha-1 (exit 1): sbatch: error: invalid"
            + " partition specified: nope sbatch: error: Batch job submission failed: Invalid"
            + " partition name specified");
  }

  @Test
  void noSbatchOnPathIsSaidPlainly() throws Exception {
    Files.delete(bin.resolve("sbatch"));
    SlurmPilotStarter s = new SlurmPilotStarter(new SlurmPilotStarter.Options(
        Path.of("/l"), false, List.of(), null, dir, null, null, List.of(), Duration.ofSeconds(1),
        Duration.ofSeconds(1), Duration.ZERO, List.of(bin)));
    assertThatThrownBy(() -> s.start(launch(null)))
        .isInstanceOf(PilotStartException.class)
        .hasMessageStartingWith("sbatch is in none of the CRM's Slurm directories (" + bin
            + ")");
  }

  @Test
  void aPilotPendingPastTheGraceIsAProblemWithSlurmsReason() throws Exception {
    SlurmPilotStarter s = starter(null, null, List.of(), Duration.ZERO);
    Files.writeString(dir.resolve("squeue.out"), "42|PENDING|Resources\n");
    PilotHandle h = s.start(launch(null));
    assertThat(s.isAlive(h)).isTrue();
    assertThat(s.launchProblem(h)).startsWith(
        "pilot of alpha-1 still pending in Slurm (job 42, reason: Resources) after ");
    assertThat(Files.readString(dir.resolve("squeue.calls")))
        .isEqualTo("-h\n-t\nall\n-o\n%i|%T|%r\n-j\n42\n".repeat(2));

    SlurmPilotStarter patient = starter();
    PilotHandle h2 = patient.start(launch(null));
    assertThat(patient.launchProblem(h2)).isNull();
    assertThat(h2.describe()).startsWith("Slurm job 42, PENDING (Resources); log: ");
  }

  @Test
  void aRunningPilotIsAliveAndAnEndedOrPurgedOneIsNot() throws Exception {
    SlurmPilotStarter s = starter();
    Files.writeString(dir.resolve("squeue.out"), "42|RUNNING|None\n");
    PilotHandle h = s.start(launch(null));
    assertThat(s.isAlive(h)).isTrue();
    assertThat(s.launchProblem(h)).isNull();
    assertThat(h.describe()).startsWith("Slurm job 42, RUNNING; log: ");

    Files.writeString(dir.resolve("squeue.out"), "42|TIMEOUT|None\n");
    assertThat(s.isAlive(h)).isFalse();
    assertThat(s.launchProblem(h)).isEqualTo("its pilot ended in Slurm before dialling in"
        + " (Slurm job 42, TIMEOUT; log: " + dir.resolve("pilots/j-1a2b-1.log") + ")");

    // squeue with one id that slurmctld purged fails; with a list, the id is just missing.
    Files.writeString(dir.resolve("squeue.err"),
        "slurm_load_jobs error: Invalid job id specified\n");
    SlurmPilotStarter fresh = starter();
    PilotHandle h3 = fresh.start(launch(null));
    assertThat(fresh.isAlive(h3)).isFalse();
    assertThat(h3.describe()).contains("no longer in the Slurm queue");
  }

  @Test
  void aFailingSqueueKeepsTheLastKnownState() throws Exception {
    SlurmPilotStarter s = starter();
    Files.writeString(dir.resolve("squeue.out"), "42|RUNNING|None\n");
    PilotHandle h = s.start(launch(null));
    assertThat(s.isAlive(h)).isTrue();
    Files.writeString(dir.resolve("squeue.err"), "squeue: error: Unable to contact slurm"
        + " controller (connect failure)\n");
    assertThat(s.isAlive(h)).isTrue();
    assertThat(h.describe()).contains("RUNNING");
  }

  @Test
  void stopCancelsOnceAndIsIdempotent() throws Exception {
    SlurmPilotStarter s = starter();
    Files.writeString(dir.resolve("squeue.out"), "42|RUNNING|None\n");
    PilotHandle h = s.start(launch(null));
    s.stop(h);
    s.stop(h);
    assertThat(Files.readString(dir.resolve("scancel.calls"))).isEqualTo("42\n");
    assertThat(s.isAlive(h)).isFalse();
    assertThat(h.describe()).contains("CANCELLED");
  }

  @Test
  void outputOfSbatchAndSqueueIsParsed() {
    assertThat(SlurmPilotStarter.parseJobId("42\n")).isEqualTo("42");
    assertThat(SlurmPilotStarter.parseJobId("1234;cluster\n")).isEqualTo("1234");
    assertThat(SlurmPilotStarter.parseJobId("sbatch: warning: x\n77\n")).isEqualTo("77");
    assertThat(SlurmPilotStarter.parseJobId("Submitted batch job 5\n")).isNull();
    assertThat(SlurmPilotStarter.parseSqueue("""
        7|PENDING|Priority
        8|RUNNING|None
        garbage
        9|COMPLETING|
        """)).containsExactly(
        java.util.Map.entry("7", new JobStatus("PENDING", "Priority")),
        java.util.Map.entry("8", new JobStatus("RUNNING", "None")),
        java.util.Map.entry("9", new JobStatus("COMPLETING", "")));
    assertThat(SlurmPilotStarter.quote("a b'c")).isEqualTo("'a b'\\''c'");
    assertThat(SlurmPilotStarter.quote("--crm=127.0.0.1:7")).isEqualTo("--crm=127.0.0.1:7");
  }

  @Test
  void anUnknownUserIsRefusedBeforeSbatchRuns() {
    SlurmPilotStarter s = new SlurmPilotStarter(new SlurmPilotStarter.Options(
        Path.of("/l"), true, List.of(), null, dir, null, null, List.of(), Duration.ofSeconds(1),
        Duration.ofSeconds(1), Duration.ZERO, List.of(bin)));
    PilotLaunch l = new PilotLaunch("j-1", 0, "a-0", "lg-no-such-user", CREDENTIAL,
        new Endpoint("127.0.0.1", 7100));
    assertThatThrownBy(() -> s.start(l)).isInstanceOf(PilotStartException.class)
        .hasMessageContaining("'lg-no-such-user'");
    assertThat(dir.resolve("sbatch.args")).doesNotExist();
  }
}
