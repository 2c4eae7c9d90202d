package org.lambdagrid.crm.pilot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Endpoint;

/**
 * The CRM runs as root and creates {@code LOG_DIR/JOB-N.log}. A user who can write
 * {@code LOG_DIR} plants that name as a symbolic link to a root-owned file, flipping it between a
 * link, a regular file of theirs and nothing, in a loop, while the starters create logs again
 * and again; the root-owned target must keep its content, owner and mode. The attacker is a real
 * process of a throwaway non-root user ({@value #USER}, created here with useradd and removed
 * with userdel -r). Root only (tag {@code root}): skipped otherwise.
 */
@Tag("root")
class PilotLogAttackTest {
  static final String USER = "lg-logattack";
  private static final String SECRET = "root's secret\n";
  private static final Endpoint CRM = new Endpoint("127.0.0.1", 7301);
  private static int uid;
  private static int gid;

  @TempDir
  Path dir;
  private Path target;
  private Process attacker;

  @BeforeAll
  static void createTheUser() throws Exception {
    assumeTrue(LocalPilotStarter.currentUid() == 0,
        "skipped: the log-attack tests need root (they create a throwaway user)");
    assumeTrue(Files.isExecutable(Path.of("/usr/sbin/useradd")), "skipped: no /usr/sbin/useradd");
    removeTheUser();
    run("/usr/sbin/useradd", "--create-home", "--shell", "/bin/sh", USER);
    uid = Integer.parseInt(run("id", "-u", USER).trim());
    gid = Integer.parseInt(run("id", "-g", USER).trim());
  }

  @AfterAll
  static void removeTheUser() throws Exception {
    if (LocalPilotStarter.currentUid() == 0
        && new ProcessBuilder("id", "-u", USER).start().waitFor() == 0) {
      run("/usr/sbin/userdel", "-r", USER);
    }
  }

  @BeforeEach
  void aRootOwnedTarget() throws IOException {
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path secret = Files.createDirectory(dir.resolve("secret"),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    target = secret.resolve("target");
    Files.writeString(target, SECRET);
    Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-------"));
  }

  @AfterEach
  void stopTheAttacker() throws InterruptedException {
    if (attacker != null) {
      attacker.descendants().forEach(ProcessHandle::destroyForcibly);
      attacker.destroyForcibly();
      attacker.waitFor(5, TimeUnit.SECONDS);
    }
  }

  /** The target is exactly as created: content, owner, group and mode. */
  private void assertTargetUntouched() throws IOException {
    PilotLogs.Stat s = PilotLogs.lstat(target);
    assertThat(Files.readString(target)).as("the target's content").isEqualTo(SECRET);
    assertThat(s.uid()).as("the target's owner").isZero();
    assertThat(s.gid()).as("the target's group").isZero();
    assertThat(s.octal()).as("the target's mode").isEqualTo("0600");
    assertThat(s.nlink()).isEqualTo(1);
  }

  /** A directory the attacker owns (so can write), mode 0755, as operators.md used to ask. */
  private Path userDir(String name) throws IOException {
    Path d = Files.createDirectories(dir.resolve(name));
    Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
    PilotLogs.chown(d, uid, gid);
    return d;
  }

  /**
   * Starts the attacker as the user: for each name, in a loop, a symbolic link to the target,
   * then a regular file of its own, then nothing (where a root create would land), and waits
   * until its first link exists.
   */
  private void startAttacker(Path logDir, List<String> names) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=" + uid,
        "--regid=" + gid, "--clear-groups", "--", "/bin/sh", "-c", """
            d=$1 t=$2; shift 2
            while :; do
              for f; do rm -f "$d/$f"; ln -s "$t" "$d/$f"; done
              for f; do rm -f "$d/$f"; true > "$d/$f"; done
              for f; do rm -f "$d/$f"; done
            done 2>/dev/null
            """, "attacker", logDir.toString(), target.toString()));
    cmd.addAll(names);
    attacker = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("attacker.out").toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!Files.isSymbolicLink(logDir.resolve(names.get(0)))) {
      assertThat(attacker.isAlive()).as("the attacker runs").isTrue();
      assertThat(System.nanoTime()).as("the attacker's first link").isLessThan(deadline);
      Thread.sleep(5);
    }
  }

  /** Says as whom it ran, into its log and as a file in a directory the user owns. */
  private void assertAttackerRan() throws IOException {
    assertThat(attacker.isAlive()).as(() -> {
      try {
        return "the attacker ran throughout; it printed: "
            + Files.readString(dir.resolve("attacker.out"));
      } catch (IOException e) {
        return e.toString();
      }
    }).isTrue();
  }

  private Path launcher() throws IOException {
    Path launcher = dir.resolve("launcher");
    Path marks = userDir("marks");
    Files.writeString(launcher, "#!/bin/sh\necho \"launcher ran as $(id -u)\"\n"
        + "touch " + marks.resolve("launcher-ran") + "\nexit 0\n");
    Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
    return launcher;
  }

  private LocalPilotStarter local(Path logDir) throws IOException {
    return new LocalPilotStarter(new LocalPilotStarter.Options(launcher(), true, List.of(), null,
        logDir, Duration.ofSeconds(2), Duration.ofSeconds(1)));
  }

  private SlurmPilotStarter slurm(Path logDir) throws IOException {
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Files.setPosixFilePermissions(bin, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path sbatch = bin.resolve("sbatch");
    Files.writeString(sbatch, "#!/bin/sh\ncat > /dev/null\necho 42\n");
    Files.setPosixFilePermissions(sbatch, PosixFilePermissions.fromString("rwxr-xr-x"));
    return new SlurmPilotStarter(new SlurmPilotStarter.Options(Path.of("/opt/lg/launcher"), true,
        List.of(), null, logDir, null, null, List.of(), Duration.ofSeconds(60),
        Duration.ofSeconds(1), Duration.ZERO, List.of(bin)));
  }

  private static PilotLaunch launch(String job, int node) {
    return new PilotLaunch(job, node, "a-" + node, USER, "credential-0", CRM);
  }

  @Test
  void theLocalStarterRefusesALogDirTheUserCanWriteAndNeverTouchesTheTarget() throws Exception {
    Path logDir = userDir("pilots");
    LocalPilotStarter starter = local(logDir);
    startAttacker(logDir, List.of("j-1-0.log", "j-1-1.log"));
    List<String> refusals = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      try {
        starter.stop(starter.start(launch("j-1", i % 2)));
      } catch (PilotStartException e) {
        refusals.add(e.getMessage());
      }
    }
    assertAttackerRan();
    assertTargetUntouched();
    assertThat(refusals).hasSize(300).allSatisfy(m -> assertThat(m).contains(logDir
        + " is not safe for files the CRM creates: " + logDir + " belongs to uid " + uid));
    assertThat(dir.resolve("marks/launcher-ran")).as("no launcher ran").doesNotExist();
  }

  @Test
  void theSlurmStarterLeavesALogDirTheUserCanWriteToSlurmAndNeverTouchesTheTarget()
      throws Exception {
    Path logDir = userDir("pilots");
    SlurmPilotStarter starter = slurm(logDir);
    startAttacker(logDir, List.of("j-1-0.log", "j-1-1.log"));
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 100; i++) { // each submitted; Slurm (as the user) writes the log
      ids.add(((SlurmPilotStarter.SlurmHandle) starter.start(launch("j-1", i % 2))).slurmJobId());
    }
    assertAttackerRan();
    stopTheAttacker();
    assertTargetUntouched();
    assertThat(ids).hasSize(100).containsOnly("42");
    try (Stream<Path> left = Files.list(logDir)) {
      assertThat(left).as("nothing in the user's directory is root's")
          .allSatisfy(p -> assertThat(PilotLogs.lstat(p).uid()).isEqualTo(uid));
    }
  }

  @Test
  void aRootOwnedLogDirInsideADirectoryTheUserCanChangeIsRefused() throws Exception {
    // The user could rename "pilots" away and put a directory of their own in its place.
    Path state = userDir("state");
    Path logDir = Files.createDirectory(state.resolve("pilots"));
    assertThatThrownBy(() -> local(logDir).start(launch("j-1", 0)))
        .hasMessageContaining(state + " belongs to uid " + uid);
    // A link the user planted in a sticky directory is not followed ...
    Path sticky = Files.createDirectory(dir.resolve("sticky"));
    Files.setAttribute(sticky, "unix:mode", 01777);
    Path rootOnly = Files.createDirectory(dir.resolve("root-only"));
    Path planted = Files.createSymbolicLink(sticky.resolve("pilots"), rootOnly);
    Files.setAttribute(planted, "unix:uid", uid, java.nio.file.LinkOption.NOFOLLOW_LINKS);
    assertThatThrownBy(() -> local(planted).start(launch("j-1", 0)))
        .hasMessageContaining(planted + " is a symbolic link of uid " + uid
            + " in a directory others can write");
    assertThat(rootOnly).isEmptyDirectory();
    // ... but root's own link there is.
    Files.delete(planted);
    Files.createSymbolicLink(sticky.resolve("pilots"), rootOnly);
    assertThat(PilotLogs.secureDirectory(sticky.resolve("pilots"), 0))
        .isEqualTo(rootOnly.toRealPath());
    assertTargetUntouched();
  }

  @Test
  void inARootOnlyLogDirTheSlurmLogIsTheUsersAndAnUnexpectedEntryIsRefused() throws Exception {
    Path logDir = dir.resolve("state/pilots"); // missing: the starter creates it, root 0755
    SlurmPilotStarter starter = slurm(logDir);
    starter.start(launch("j-1", 0));
    Path log = logDir.resolve("j-1-0.log");
    PilotLogs.Stat s = PilotLogs.lstat(log);
    assertThat(PilotLogs.lstat(logDir).uid()).isZero();
    assertThat(PilotLogs.lstat(logDir).octal()).isEqualTo("0755");
    assertThat(s.isRegularFile()).isTrue();
    assertThat(List.of(s.uid(), s.gid(), s.nlink())).containsExactly(uid, gid, 1);
    assertThat(s.octal()).isEqualTo("0640");
    assertThat(Files.readString(log)).startsWith("# lambdagrid pilot of job j-1 node 0 (a-0)");
    // The same pilot again (the user's file by now): appended to.
    starter.start(launch("j-1", 0));
    assertThat(Files.readString(log).split("# lambdagrid pilot of job j-1", -1)).hasSize(3);

    // Entries only root could have put there, but not what the CRM leaves: refused by name.
    Path sym = Files.createSymbolicLink(logDir.resolve("j-2-0.log"), target);
    assertThatThrownBy(() -> starter.start(launch("j-2", 0)))
        .isInstanceOf(PilotStartException.class)
        .hasMessageContaining(sym + " already exists and is a symbolic link");
    Path hard = Files.createLink(logDir.resolve("j-3-0.log"), target);
    assertThatThrownBy(() -> starter.start(launch("j-3", 0)))
        .hasMessageContaining(hard + " already exists and has 2 hard links");
    Files.delete(hard);
    Path foreign = logDir.resolve("j-4-0.log");
    Files.writeString(foreign, "");
    PilotLogs.chown(foreign, uid + 1, gid);
    assertThatThrownBy(() -> starter.start(launch("j-4", 0)))
        .hasMessageContaining(foreign + " already exists and belongs to uid " + (uid + 1));
    assertTargetUntouched();
  }

  @Test
  void inARootOnlyLogDirTheLocalLogIsRootsAndTheLauncherRunsAsTheUser() throws Exception {
    Path logDir = dir.resolve("state/pilots");
    LocalPilotStarter starter = local(logDir);
    PilotHandle h = starter.start(launch("j-1", 0));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (starter.isAlive(h) && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    starter.stop(h);
    Path log = logDir.resolve("j-1-0.log");
    PilotLogs.Stat s = PilotLogs.lstat(log);
    assertThat(List.of(s.uid(), s.nlink())).containsExactly(0, 1);
    assertThat(s.octal()).isEqualTo("0644");
    assertThat(Files.readString(log)).contains("/usr/bin/setpriv --reuid=" + uid)
        .contains("launcher ran as " + uid);
    assertThat(dir.resolve("marks/launcher-ran")).exists();

    Path sym = Files.createSymbolicLink(logDir.resolve("j-2-0.log"), target);
    assertThatThrownBy(() -> starter.start(launch("j-2", 0)))
        .hasMessageContaining(sym + " already exists and is a symbolic link");
    assertTargetUntouched();
  }

  private static String run(String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      fail(String.join(" ", cmd) + " failed: " + out);
    }
    return out;
  }
}
