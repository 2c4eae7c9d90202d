package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

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
  void onlyAListeningSocketOnPort22Counts() {
    String header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when";
    String listen22 = "   0: 0B00000A:0016 00000000:0000 0A 00000000:00000000 00:00000000";
    String established22 = "   1: 0B00000A:0016 0C00000A:D431 01 00000000:00000000 00:00000000";
    String listen2222 = "   2: 0B00000A:08AE 00000000:0000 0A 00000000:00000000 00:00000000";
    assertThat(ProcFs.isListenOnPort22(listen22)).isTrue();
    assertThat(ProcFs.isListenOnPort22(established22)).isFalse();
    assertThat(ProcFs.isListenOnPort22(listen2222)).isFalse();
    assertThat(ProcFs.isListenOnPort22(header)).isFalse();
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
}
