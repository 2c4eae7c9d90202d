package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * The user's ~/.ssh as the mount point of the guest's private one: for a brand-new user (no
 * ~/.ssh) many guests built at once all succeed; a ~/.ssh that is a symbolic link or a file fails
 * every build with an error naming the path, and leaves nothing behind; a ~/.ssh the user keeps
 * flipping between a directory and a link to a system directory is never followed by the mount.
 * Needs root.
 */
@Tag("root")
class SshMountPointRootTest {
  private final String tag = HexFormat.of().formatHex(new byte[] {
      (byte) ThreadLocalRandom.current().nextInt(), (byte) ThreadLocalRandom.current().nextInt()});
  private final String user = "lgssh" + tag;
  private final String bridge = "lgtbs" + tag;
  private Path home;
  private Path stateBase;
  private NamespacesDriver driver;

  @BeforeEach
  void setUp() throws Exception {
    assumeTrue(HostCommand.isRoot(), "skipped: needs root");
    assumeTrue(Files.isExecutable(Path.of("/usr/sbin/sshd")), "skipped: no /usr/sbin/sshd");
    Commands.run("useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", user);
    home = Path.of(Commands.run("getent", "passwd", user).stdout().split(":")[5]);
    assertThat(home.resolve(".ssh")).as("a new user has no ~/.ssh").doesNotExist();
    Commands.run("ip", "link", "add", bridge, "type", "bridge");
    stateBase = Path.of("/run/lambdagrid/test-ssh-" + tag + "/guests");
    driver = new NamespacesDriver(NamespacesDriverConfig.bridge(bridge).withStateDir(stateBase));
    List<String> problems = driver.checkHost();
    assumeTrue(problems.isEmpty(), () -> "skipped: " + problems);
  }

  @AfterEach
  void tearDown() throws Exception {
    if (driver != null) {
      driver.recover().forEach(g -> driver.destroy(g));
    }
    Commands.attempt("ip", "link", "del", bridge);
    if (stateBase != null) {
      SafeFiles.deleteTree(stateBase.getParent());
    }
    Commands.attempt("userdel", "-r", user);
  }

  private GuestSpec spec(int i) {
    return new GuestSpec("job-" + tag, "n" + i, "10.232.7." + (10 + i), 24, List.of(), user);
  }

  private List<Future<?>> buildAtOnce(int n, Callable<Object> each) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(n);
    try {
      List<Future<?>> out = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        out.add(pool.submit(each));
      }
      return out;
    } finally {
      pool.shutdown();
    }
  }

  @Test
  void manyGuestsOfANewUserBuiltAtOnceAllSucceed() throws Exception {
    int n = 8;
    int[] next = {0};
    List<Future<?>> builds = buildAtOnce(n, () -> {
      int i;
      synchronized (next) {
        i = next[0]++;
      }
      return driver.build(spec(i));
    });
    for (Future<?> f : builds) {
      f.get(); // rethrows a failed build (FileAlreadyExistsException: ~/.ssh, before the fix)
    }
    Path ssh = home.resolve(".ssh");
    assertThat(Files.isDirectory(ssh, LinkOption.NOFOLLOW_LINKS)).isTrue();
    assertThat(Files.getAttribute(ssh, "unix:uid", LinkOption.NOFOLLOW_LINKS))
        .isEqualTo(Files.getAttribute(home, "unix:uid"));
    assertThat(driver.recover()).hasSize(n);
  }

  /**
   * The step itself, many guests of one new user reaching it at the same instant (a barrier),
   * round after round: "does ~/.ssh exist? no: mkdir" lost this race (FileAlreadyExistsException).
   */
  @Test
  void theMountPointStepSucceedsForEveryGuestThatReachesItAtOnce() throws Exception {
    GuestUser info = GuestUser.lookup(user);
    Path ssh = home.resolve(".ssh");
    int n = 8;
    ExecutorService pool = Executors.newFixedThreadPool(n);
    try {
      for (int round = 0; round < 30; round++) {
        java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(n);
        List<Future<?>> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          calls.add(pool.submit(() -> {
            start.await();
            FilesStep.ensureSshMountPoint(info);
            return null;
          }));
        }
        for (Future<?> f : calls) {
          f.get();
        }
        assertThat(FilesStep.sshMountPointProblem(ssh, info.uid())).isNull();
        Files.delete(ssh); // a new user again for the next round
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aSshThatIsASymlinkFailsNamingThePathAndLeavesNothing() throws Exception {
    Path target = Files.createDirectory(home.resolve("elsewhere"));
    Files.setAttribute(target, "unix:uid", Files.getAttribute(home, "unix:uid"));
    Files.createSymbolicLink(home.resolve(".ssh"), target);
    assertEveryBuildFails(home.resolve(".ssh") + " is a symbolic link");
  }

  @Test
  void aSshThatIsAFileFailsNamingThePathAndLeavesNothing() throws Exception {
    Files.writeString(home.resolve(".ssh"), "not a directory\n");
    assertEveryBuildFails(home.resolve(".ssh") + " is a regular file");
  }

  /**
   * The user (a real process of theirs) flips ~/.ssh between an empty directory of theirs and a
   * relative link to a root-owned directory of the guest's view, as fast as rename(2) allows, while
   * guests are built one after another until 4 are built (most fail, cheaply and early, naming
   * ~/.ssh). The user may move their own directory after the mount, but in no guest is the private
   * ssh directory mounted over the system directory. Before the mount was made on the pinned directory (checked by path, then
   * mounted by path), a won race put it there.
   */
  @Test
  void aSshFlippedToALinkWhileGuestsAreBuiltIsNeverFollowedByTheMount() throws Exception {
    GuestUser info = GuestUser.lookup(user);
    Path decoy = Files.createDirectory(Path.of("/var/tmp/lgdecoy-" + tag));
    Process flipper = null;
    try {
      Files.writeString(decoy.resolve("marker"), "root's\n");
      Path rel = home.relativize(decoy); // ../../var/tmp/lgdecoy-TAG, also right inside the guest
      String flip = "chdir $ENV{HOME} or die; mkdir '.sshD'; symlink('" + rel + "', '.sshL') or die;"
          + " while (1) { rename '.sshD', '.ssh'; rename '.ssh', '.sshD';"
          + " rename '.sshL', '.ssh'; rename '.ssh', '.sshL'; }";
      flipper = new ProcessBuilder("/usr/bin/setpriv", "--reuid=" + info.uid(),
          "--regid=" + info.gid(), "--clear-groups", "--", "/usr/bin/env", "-i",
          "HOME=" + home, "/usr/bin/perl", "-e", flip).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      int built = 0;
      List<String> failures = new ArrayList<>();
      for (int i = 0; i < 400 && built < 4; i++) {
        org.lambdagrid.nodemanager.driver.GuestHandle g;
        try {
          // one at a time, so one address does
          g = driver.build(new GuestSpec("job-" + tag, "f" + i, "10.232.8.10", 24, List.of(), user));
        } catch (GuestException e) {
          assertThat(e.getMessage()).contains(home + "/.ssh");
          failures.add(e.getMessage());
          continue;
        }
        built++;
        String init = guestProperty(g.stateDir(), "init.pid");
        Path guestRoot = Path.of("/proc", init, "root");
        assertThat(guestRoot.resolve(decoy.toString().substring(1)).resolve("marker"))
            .as("the system directory in the guest").hasContent("root's\n");
        assertThat(Files.readString(Path.of("/proc", init, "mountinfo")))
            .doesNotContain(" " + decoy + " ");
        driver.destroy(g);
      }
      assertThat(flipper.isAlive()).as("the flipper ran throughout").isTrue();
      assertThat(built).as("guests built while it flipped (failed: %s)", failures).isPositive();
    } finally {
      if (flipper != null) {
        flipper.destroyForcibly().waitFor();
      }
      SafeFiles.deleteTree(decoy);
    }
  }

  private static String guestProperty(Path stateDir, String key) throws Exception {
    java.util.Properties p = new java.util.Properties();
    try (var in = Files.newBufferedReader(stateDir.resolve(GuestRecord.FILE))) {
      p.load(in);
    }
    return p.getProperty(key);
  }

  private void assertEveryBuildFails(String message) throws Exception {
    int[] next = {0};
    List<Future<?>> builds = buildAtOnce(6, () -> {
      int i;
      synchronized (next) {
        i = next[0]++;
      }
      assertThatThrownBy(() -> driver.build(spec(i))).isInstanceOf(GuestException.class)
          .hasMessageContaining(message).hasMessageContaining("; undone");
      return null;
    });
    for (Future<?> f : builds) {
      f.get();
    }
    try (Stream<Path> left = Files.list(stateBase)) {
      assertThat(left.toList()).as("guest state left").isEmpty();
    }
    assertThat(Commands.run("ip", "netns", "list").stdout()).doesNotContain("lg-");
  }
}
