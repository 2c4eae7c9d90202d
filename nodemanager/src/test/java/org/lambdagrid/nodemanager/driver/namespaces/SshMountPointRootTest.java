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
 * every build with an error naming the path, and leaves nothing behind. Needs root.
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
