package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.testing.Zombies;

/** Parsing what /proc says; needs no root. */
class ProcFsTest {

  @Test
  void theStartTimeIsField22EvenWhenTheCommandHasSpacesAndParentheses() {
    String stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654"
        + " 1000 200 18446744073709551615";
    assertThat(ProcFs.startTimeField(stat)).isEqualTo("987654");
    long self = ProcessHandle.current().pid();
    assertThat(ProcFs.startTimeOf(self)).isNotNull();
    assertThat(ProcFs.procOf(self).alive()).isTrue();
    assertThat(ProcFs.startTimeOf(Long.MAX_VALUE)).isNull();
  }

  @Test
  void sshdListensOnlyWhenItsPidFileNamesItInItsOwnPidNamespace() {
    String status = "Name:\tsshd\nTgid:\t4242\nPid:\t4242\nNSpid:\t4242\t7\nNSsid:\t1\n";
    assertThat(ProcFs.wroteItsOwnPid("7\n", status)).isTrue();
    // Written by an sshd that died before (another pid), or not yet written.
    assertThat(ProcFs.wroteItsOwnPid("6\n", status)).isFalse();
    assertThat(ProcFs.wroteItsOwnPid("", status)).isFalse();
    // The host's pid is not the one sshd writes.
    assertThat(ProcFs.wroteItsOwnPid("4242", status)).isFalse();
    assertThat(ProcFs.wroteItsOwnPid("7", "Name:\tsshd\nPid:\t7\n")).isFalse();
  }

  @Test
  void aProcessIsToldByTheCommandNameTheKernelGivesItsExecutable() throws Exception {
    assertThat(ProcFs.commandName(Path.of("/usr/sbin/sshd"))).isEqualTo("sshd");
    assertThat(ProcFs.commandName(Path.of("/opt/x/a-very-long-sshd-name")))
        .isEqualTo("a-very-long-ssh");
    // A real process: what the kernel says of it is what commandName predicts.
    Process sleep = new ProcessBuilder("/bin/sleep", "30").start();
    GuestRecord.Proc recorded;
    try {
      ProcFs.Stat st = ProcFs.statOf(sleep.pid());
      assertThat(st.name()).isEqualTo(ProcFs.commandName(Path.of("/bin/sleep")));
      assertThat(st.zombie()).isFalse();
      assertThat(Long.parseLong(st.startTime())).isPositive();
      recorded = new GuestRecord.Proc(sleep.pid(), st.startTime());
      assertThat(recorded.alive()).isTrue();
      assertThat(new GuestRecord.Proc(sleep.pid(), "1").alive()).as("another start time").isFalse();
    } finally {
      sleep.destroyForcibly().waitFor();
    }
    assertThat(recorded.alive()).as("killed and reaped").isFalse();
    assertThat(ProcFs.statOf(Long.MAX_VALUE)).isNull();
    ProcFs.Stat z = ProcFs.Stat.parse("77 (a (b) c) Z 1 77 77 0 -1 4194560 100 0 0 0 1 2 0 0 20 0"
        + " 1 0 5555 1000 200");
    assertThat(z).isEqualTo(new ProcFs.Stat("a (b) c", true, "5555"));
  }

  @Test
  void theFirstChildIsReadFromTheParentsChildrenList() throws Exception {
    // A single-threaded parent (as unshare and nsenter are): sh, with one sleep as its child.
    Process sh = new ProcessBuilder("/bin/sh", "-c", "sleep 30 & wait").start();
    try {
      GuestRecord.Proc child = null;
      for (int i = 0; i < 500 && child == null; i++) {
        child = ProcFs.firstChild(sh.pid());
        Thread.sleep(10);
      }
      assertThat(child).isNotNull();
      assertThat(ProcFs.cmdline(child.pid())).containsExactly("sleep", "30");
      assertThat(ProcFs.firstChild(child.pid())).as("sleep has no child").isNull();
    } finally {
      sh.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
      sh.destroyForcibly().waitFor();
    }
    assertThat(ProcFs.firstChild(Long.MAX_VALUE)).isNull();
  }

  @Test
  void mountsUnderADirectoryAreItAndItsDescendantsOnly() {
    List<String> mounts = List.of(
        "proc /proc proc rw 0 0",
        "overlay /run/lg/0a1b2c3d/root overlay rw 0 0",
        "tmpfs /run/lg/0a1b2c3d/with\\040space tmpfs rw 0 0",
        "tmpfs /run/lg/0a1b2c3dx tmpfs rw 0 0");
    assertThat(ProcFs.mountsUnder(Path.of("/run/lg/0a1b2c3d"), mounts))
        .containsExactly("/run/lg/0a1b2c3d/root", "/run/lg/0a1b2c3d/with space");
  }

  @Test
  void initCountsAsInTheGuestsRootOnlyOnceItRunsTheChrootedLoop() {
    byte[] script = "/bin/sh\0/run/lg/0a1b2c3d/guest-init.sh\0/run/lg/0a1b2c3d\0alpha-0\0/home/u\0"
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    byte[] chroot = "chroot\0/run/lg/0a1b2c3d/root\0/bin/sh\0-c\0trap\0"
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    byte[] loop = "/bin/sh\0-c\0trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $! || :; done\0"
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    assertThat(ProcFs.cmdlineArgs(script)).hasSize(5).startsWith("/bin/sh");
    assertThat(ProcFs.isChrootedInit(ProcFs.cmdlineArgs(script))).isFalse();
    assertThat(ProcFs.isChrootedInit(ProcFs.cmdlineArgs(chroot))).isFalse();
    assertThat(ProcFs.isChrootedInit(ProcFs.cmdlineArgs(loop))).isTrue();
    assertThat(ProcFs.isChrootedInit(ProcFs.cmdlineArgs(new byte[0]))).isFalse();
    assertThat(ProcFs.cmdline(-1)).isEmpty();
  }

  @Test
  void whereAProcessIsToldApartFromGoneExitingAndNotReadable(@TempDir Path tmp) throws Exception {
    Path own = Files.createSymbolicLink(tmp.resolve("own"), Path.of("pid:[4026531836]"));
    Path same = Files.createSymbolicLink(tmp.resolve("same"), Path.of("pid:[4026531836]"));
    Path other = Files.createSymbolicLink(tmp.resolve("other"), Path.of("pid:[4026532001]"));
    Path notALink = Files.createFile(tmp.resolve("plain")); // readlink fails, not ENOENT
    assertThat(ProcFs.pidNamespace(same, own)).isEqualTo(ProcFs.PidNs.OWN);
    assertThat(ProcFs.pidNamespace(other, own)).isEqualTo(ProcFs.PidNs.OTHER);
    assertThat(ProcFs.pidNamespace(tmp.resolve("none"), own)).isEqualTo(ProcFs.PidNs.GONE);
    assertThat(ProcFs.pidNamespace(notALink, own)).isEqualTo(ProcFs.PidNs.DENIED);
    assertThat(ProcFs.pidNamespace(same, notALink)).isEqualTo(ProcFs.PidNs.DENIED);
    assertThat(ProcFs.pidNamespace(ProcessHandle.current().pid())).isEqualTo(ProcFs.PidNs.OWN);
    assertThat(ProcFs.pidNamespace(Long.MAX_VALUE)).isEqualTo(ProcFs.PidNs.GONE);
    // flags, field 9: PF_EXITING is 0x4
    assertThat(ProcFs.exitingStat("7 (a b) c) S 1 7 7 0 -1 4194564 0 0")).isTrue();
    assertThat(ProcFs.exitingStat("7 (sh) S 1 7 7 0 -1 4194560 0 0")).isFalse();
    assertThat(ProcFs.exiting(ProcessHandle.current().pid())).isFalse();
  }

  @Test
  void aZombieIsExitingAndItsPidNamespaceStillReadable() throws Exception {
    Process parent = Zombies.parent(); // a zombie keeps PF_EXITING
    try {
      long zombie = Zombies.childOf(parent.toHandle()).pid();
      assertThat(zombie).as("a zombie child of " + parent.pid()).isPositive();
      assertThat(ProcFs.exiting(zombie)).isTrue();
      assertThat(ProcFs.pidNamespace(zombie)).isEqualTo(ProcFs.PidNs.EXITING);
      assertThat(ProcFs.pidNs(zombie)).as("ns/pid readable until it is reaped").isNotNull();
      assertThat(ProcFs.exiting(parent.pid())).isFalse();
    } finally {
      parent.destroyForcibly().waitFor();
    }
  }

  @Test
  void aPidNamespaceWhoseInitIsNotTheRecordedProcessHasNoMembers() throws Exception {
    // A PID namespace of two: sh as its init, a sleep in it. Needs user namespaces, not root.
    Process ns = new ProcessBuilder(Commands.tool("unshare"), "--user", "--map-root-user",
        "--pid", "--fork", "--kill-child", "sh", "-c", "sleep 60 & wait").start();
    try {
      long deadline = System.nanoTime() + 5_000_000_000L;
      List<Long> init = List.of();
      while (init.isEmpty() || ProcFs.children(init.get(0)).isEmpty()) {
        Assumptions.assumeTrue(ns.isAlive() && System.nanoTime() < deadline,
            "unshare could not make a user and PID namespace here");
        ProcFs.sleep(5);
        init = ProcFs.children(ns.pid());
      }
      GuestRecord.Proc recorded = ProcFs.procOf(init.get(0));
      assertThat(ProcFs.pidNamespaceMembers(recorded)).as("the recorded init")
          .extracting(ProcessHandle::pid).containsExactlyElementsOf(ProcFs.children(init.get(0)));
      GuestRecord.Proc reused = new GuestRecord.Proc(recorded.pid(), "1");
      assertThat(ProcFs.pidNamespaceMembers(reused)).as("its pid, another start time").isEmpty();
    } finally {
      ns.destroyForcibly();
    }
  }
}
