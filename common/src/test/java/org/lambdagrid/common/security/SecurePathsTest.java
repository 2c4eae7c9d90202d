package org.lambdagrid.common.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ConfigException;

/**
 * What root may read on a user's behalf. The accepting cases need root (root-owned files); the
 * refusing ones hold for anybody, since a non-root owner is itself a reason to refuse.
 */
class SecurePathsTest {
  @TempDir Path dir;

  private static boolean root() {
    return "root".equals(System.getProperty("user.name"));
  }

  private Path rootOnlyDir() throws Exception {
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    return dir;
  }

  @Test
  void aRootOnlyFileIsReadAndItsContentNeverQuotedInErrors() throws Exception {
    assumeTrue(root(), "skipped: needs root-owned files");
    Path f = rootOnlyDir().resolve("nm.yaml");
    Files.writeString(f, "driver: fake\n");
    assertThat(SecurePaths.readRootOnlyFile(f, "config")).isEqualTo("driver: fake\n");

    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw-rw-"));
    assertThatThrownBy(() -> SecurePaths.readRootOnlyFile(f, "config"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(f + " has mode 0666")
        .hasMessageNotContaining("driver");
  }

  @Test
  void aWritableDirectoryAnywhereAboveRefusesThePath() throws Exception {
    assumeTrue(root(), "skipped: needs root-owned files");
    Path sub = Files.createDirectories(rootOnlyDir().resolve("a/b"));
    Path f = sub.resolve("nm.yaml");
    Files.writeString(f, "x: 1\n");
    Files.setPosixFilePermissions(dir.resolve("a"), PosixFilePermissions.fromString("rwxrwxrwx"));
    // Not just the parent: the grandparent a/ is what another user could rename b/ in.
    assertThatThrownBy(() -> SecurePaths.readRootOnlyFile(f, "config"))
        .hasMessageContaining("(" + dir.resolve("a") + " has mode 0777)");
    // A relative path is checked the same way (the old check skipped every directory then).
    Path relative = Path.of("").toAbsolutePath().relativize(f);
    assertThatThrownBy(() -> SecurePaths.readRootOnlyFile(relative, "config"))
        .hasMessageContaining("has mode 0777");
    // Sticky (like /tmp) is fine: others cannot rename or remove root's entries in it.
    Files.setAttribute(dir.resolve("a"), "unix:mode", 01777);
    assertThat(SecurePaths.readRootOnlyFile(f, "config")).isEqualTo("x: 1\n");
  }

  @Test
  void aFileOwnedByAnotherUserIsRefused() throws Exception {
    assumeTrue(root(), "skipped: chown needs root");
    Path f = rootOnlyDir().resolve("nm.yaml");
    Files.writeString(f, "x: 1\n");
    Files.setAttribute(f, "unix:uid", 65534);
    assertThatThrownBy(() -> SecurePaths.readRootOnlyFile(f, "config"))
        .hasMessageContaining("is owned by uid 65534");
  }

  @Test
  void notRootOwnedIsRefusedForAnybody() throws Exception {
    assumeTrue(!root(), "as root the temp dir is root's");
    Path f = dir.resolve("nm.yaml");
    Files.writeString(f, "x: 1\n");
    assertThatThrownBy(() -> SecurePaths.readRootOnlyFile(f, "config"))
        .hasMessageContaining("must be owned by root");
  }

  /**
   * A symbolic link the path goes through is resolved once and what it resolved to is checked and
   * opened: the old check stat'ed the link's target and the loader opened the path again, so a
   * user who could swap the link between the two handed root a file of the user's.
   */
  @Test
  void aSymlinkSwappedDuringTheReadNeverHandsRootTheUsersFile() throws Exception {
    assumeTrue(root(), "skipped: needs root-owned files");
    Path userDir = Files.createDirectories(rootOnlyDir().resolve("user"));
    Files.setPosixFilePermissions(userDir, PosixFilePermissions.fromString("rwxrwxrwx"));
    Path good = dir.resolve("good.yaml");
    Files.writeString(good, "good\n");
    Path evil = userDir.resolve("evil.yaml");
    Files.writeString(evil, "evil\n");
    Path link = userDir.resolve("nm.yaml");
    Files.createSymbolicLink(link, good);
    AtomicBoolean stop = new AtomicBoolean();
    Thread flipper = new Thread(() -> {
      Path tmp = userDir.resolve("nm.yaml.tmp");
      boolean toEvil = true;
      while (!stop.get()) {
        try {
          Files.deleteIfExists(tmp);
          Files.createSymbolicLink(tmp, toEvil ? evil : good);
          Files.move(tmp, link, StandardCopyOption.REPLACE_EXISTING,
              StandardCopyOption.ATOMIC_MOVE);
          toEvil = !toEvil;
        } catch (Exception e) {
          // keep flipping
        }
      }
    });
    flipper.start();
    int read = 0;
    int refused = 0;
    try {
      for (int i = 0; i < 2000; i++) {
        try {
          String text = SecurePaths.readRootOnlyFile(link, "config");
          assertThat(text).as("what root read").isEqualTo("good\n");
          read++;
        } catch (ConfigException e) {
          assertThat(e.getMessage()).doesNotContain("evil\n");
          refused++;
        }
      }
    } finally {
      stop.set(true);
      flipper.join();
    }
    // Resolved to good.yaml (root's alone) it is read; resolved to the user's evil.yaml (in a
    // directory others can write) it is refused; never is the user's file read.
    assertThat(read).as("reads of the good file").isPositive();
    assertThat(refused).as("refusals of the user's file").isPositive();
  }

  @Test
  void createRootOnlyDirectoryAcceptsAnExistingOneOnlyAfterCheckingIt() throws Exception {
    assumeTrue(root(), "skipped: needs root-owned directories");
    Path d = rootOnlyDir().resolve("state");
    assertThat(SecurePaths.createRootOnlyDirectory(d, "state_dir")).isEqualTo(d.toRealPath());
    assertThat(SecurePaths.createRootOnlyDirectory(d, "state_dir")).isEqualTo(d.toRealPath());
    Path planted = dir.resolve("planted");
    Files.createDirectory(planted);
    Files.setAttribute(planted, "unix:uid", 65534);
    assertThatThrownBy(() -> SecurePaths.createRootOnlyDirectory(planted, "state_dir"))
        .hasMessageContaining("owned by uid 65534");
  }
}
