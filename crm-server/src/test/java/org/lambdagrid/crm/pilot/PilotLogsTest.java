package org.lambdagrid.crm.pilot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safe-path rules of {@link PilotLogs}, as any user (root: PilotLogAttackTest). */
class PilotLogsTest {
  @TempDir
  Path dir;

  private final int me = LocalPilotStarter.currentUid();

  private Path mkdir(String name, String perms) throws IOException {
    Path p = Files.createDirectories(dir.resolve(name));
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(perms));
    return p;
  }

  @Test
  void missingDirectoriesAreCreated0755AndTheRealPathIsReturned() throws IOException {
    Path logs = dir.resolve("state/pilots");
    assertThat(PilotLogs.secureDirectory(logs, me)).isEqualTo(logs.toRealPath());
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(logs)))
        .isEqualTo("rwxr-xr-x");
    // A link in a directory only we can write is followed to its real path.
    Path real = mkdir("real", "rwxr-xr-x");
    Files.createSymbolicLink(dir.resolve("link"), real);
    assertThat(PilotLogs.secureDirectory(dir.resolve("link"), me)).isEqualTo(real.toRealPath());
  }

  @Test
  void aDirectoryOthersCanWriteIsRefusedNamingIt() throws IOException {
    Path open = mkdir("open", "rwxrwxrwx");
    assertThatThrownBy(() -> PilotLogs.secureDirectory(open, me))
        .isInstanceOf(PilotLogs.UnsafeDirectoryException.class)
        .hasMessageContaining(open + " is writable by group or others (mode 0777)");
    // ... also as an ancestor, unless it is sticky like /tmp.
    assertThatThrownBy(() -> PilotLogs.secureDirectory(open.resolve("pilots"), me))
        .hasMessageContaining(open + " is writable by group or others");
    Path sticky = mkdir("sticky", "rwxrwxrwx");
    Files.setAttribute(sticky, "unix:mode", 01777);
    assertThat(PilotLogs.secureDirectory(sticky.resolve("pilots"), me))
        .isEqualTo(sticky.toRealPath().resolve("pilots"));
    // The log directory itself may not be sticky and writable by others.
    assertThatThrownBy(() -> PilotLogs.secureDirectory(sticky, me))
        .hasMessageContaining(sticky + " is writable by group or others (mode 1777)");
    Path group = mkdir("group", "rwxrwxr-x");
    assertThatThrownBy(() -> PilotLogs.secureDirectory(group, me))
        .hasMessageContaining("(mode 0775)");
  }

  @Test
  void aNonDirectoryOnTheWayIsAnError() throws IOException {
    Files.writeString(dir.resolve("file"), "x");
    assertThatThrownBy(() -> PilotLogs.secureDirectory(dir.resolve("file/pilots"), me))
        .hasMessageContaining(dir.resolve("file") + " is not a directory");
  }

  @Test
  void aNewLogIsCreatedWithItsModeAndAnOwnExistingOneIsAppendedTo() throws IOException {
    Path f = dir.resolve("j-1-0.log");
    PilotLogs.Stat s = PilotLogs.createOrAppend(f, "one\n", "rw-r-----", Set.of(me));
    assertThat(s.isRegularFile()).isTrue();
    assertThat(s.octal()).isEqualTo("0640");
    assertThat(s.nlink()).isEqualTo(1);
    PilotLogs.createOrAppend(f, "two\n", "rw-r-----", Set.of(me));
    assertThat(Files.readString(f)).isEqualTo("one\ntwo\n");
  }

  @Test
  void anExistingLinkHardLinkOrDirectoryIsRefusedNamingThePathAndLeftAlone() throws IOException {
    Path target = dir.resolve("target");
    Files.writeString(target, "precious\n");
    Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-------"));

    Path sym = Files.createSymbolicLink(dir.resolve("j-1-0.log"), target);
    assertThatThrownBy(() -> PilotLogs.createOrAppend(sym, "x\n", "rw-r-----", Set.of(me)))
        .hasMessage(sym + " already exists and is a symbolic link; the CRM does not touch it");

    Path hard = Files.createLink(dir.resolve("j-2-0.log"), target);
    assertThatThrownBy(() -> PilotLogs.createOrAppend(hard, "x\n", "rw-r-----", Set.of(me)))
        .hasMessage(hard + " already exists and has 2 hard links; the CRM does not touch it");

    Path d = Files.createDirectory(dir.resolve("j-3-0.log"));
    assertThatThrownBy(() -> PilotLogs.createOrAppend(d, "x\n", "rw-r-----", Set.of(me)))
        .hasMessageStartingWith(d + " already exists and is not a regular file");

    Path other = dir.resolve("j-4-0.log");
    Files.writeString(other, "");
    assertThatThrownBy(() -> PilotLogs.createOrAppend(other, "x\n", "rw-r-----",
        Set.of(me + 1))).hasMessageContaining(other + " already exists and belongs to uid " + me);

    assertThat(Files.readString(target)).isEqualTo("precious\n");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(target)))
        .isEqualTo("rw-------");
  }
}
