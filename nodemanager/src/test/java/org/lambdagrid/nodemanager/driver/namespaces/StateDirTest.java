package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/** Which recorded guests recovery and destroy act on. Needs no root; deletes nothing. */
class StateDirTest {
  @TempDir
  Path tmp;

  private final GuestSpec spec = new GuestSpec("j", "site-0", "10.0.0.11", 24, List.of(), "u");

  private Path guest(Path base, String dirName, String id) throws Exception {
    Path dir = Files.createDirectories(base.resolve(dirName));
    GuestRecord.create(dir, id, spec, "bridge").save();
    return dir;
  }

  @Test
  void recoveryLeavesARecordWhoseIdIsNotItsDirectoryAndALinkedDirectoryAlone() throws Exception {
    Path base = Files.createDirectory(tmp.resolve("state"),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    guest(base, "0c0c0c0c", "0c0c0c0c");
    Path misfiled = guest(base, "0a1b2c3d", "0b0b0b0b");
    Files.createSymbolicLink(base.resolve("0d0d0d0d"), guest(tmp, "0d0d0d0d", "0d0d0d0d"));
    StateDir state = new StateDir(NamespacesDriverConfig.bridge("lgbr0").withStateDir(base));
    assertThat(state.recoverable(rec -> false)).extracting(GuestHandle::id)
        .containsExactly("0c0c0c0c");
    assertThat(misfiled.resolve("guest.properties")).exists();
    assertThat(new NamespacesDriver(NamespacesDriverConfig.bridge("lgbr0").withStateDir(base))
        .destroy(new GuestHandle("0a1b2c3d", spec, misfiled))).containsExactly("cannot read "
            + misfiled.resolve("guest.properties") + ": id '0b0b0b0b' is not its directory's"
            + " name '0a1b2c3d'; not this guest's record, left alone");
    assertThat(misfiled.resolve("guest.properties")).exists();
  }
}
