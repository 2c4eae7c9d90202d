package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestTrust;

/** The text of the files the driver writes for a guest (build and SET_KEYS); needs no root. */
class GuestFileTextsTest {
  private final GuestSpec spec = new GuestSpec("j", "site-0", "10.0.0.11", 24, List.of(),
      "alice");

  @Test
  void hostsFileHasLocalhostAndTheGuestItself() {
    GuestSpec spec = new GuestSpec("j", "site-0", "10.0.0.11", 24, List.of(), "u");
    assertThat(GuestFileTexts.hostsFile(spec, "")).contains("127.0.0.1\tlocalhost")
        .contains("10.0.0.11\tsite-0");
    assertThat(GuestFileTexts.hostsFile(spec, "10.0.0.11 site-0\n"))
        .doesNotContain("10.0.0.11\tsite-0").endsWith("10.0.0.11 site-0\n");
  }

  @Test
  void sshdListensOnTheGuestAddressOnlyWithStrictModesAndNoPam() {
    String conf = GuestFileTexts.sshdConfig(spec, NamespacesDriverConfig.DEFAULT_GUEST_PATH,
        "/home/alice/.ssh/hostfile");
    assertThat(conf).contains("ListenAddress 10.0.0.11:22\n", "StrictModes yes\n",
        "UsePAM no\n", "PermitRootLogin no\n", "AllowUsers alice\n",
        "PasswordAuthentication no\n", "SetEnv PATH=" + NamespacesDriverConfig.DEFAULT_GUEST_PATH);
  }

  @Test
  void sshdConfigIsExactlyThis() {
    assertThat(GuestFileTexts.sshdConfig(spec, "/opt/mpi/bin:/usr/bin:/bin",
        "/home/alice/.ssh/hostfile")).isEqualTo("""
        # Written by the lambdagrid namespaces driver; read-only inside the guest.
        ListenAddress 10.0.0.11:22
        AddressFamily inet
        HostKey /etc/lambdagrid/ssh_host_ed25519_key
        PidFile /run/lambdagrid/sshd.pid
        UsePAM no
        StrictModes yes
        PermitRootLogin no
        AllowUsers alice
        PubkeyAuthentication yes
        AuthorizedKeysFile .ssh/authorized_keys
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        HostbasedAuthentication no
        PermitUserEnvironment no
        X11Forwarding no
        PrintMotd no
        PrintLastLog no
        UseDNS no
        MaxStartups 100:30:200
        MaxSessions 100
        SetEnv PATH=/opt/mpi/bin:/usr/bin:/bin LAMBDAGRID_HOSTFILE=/home/alice/.ssh/hostfile
        """);
  }

  @Test
  void sshClientConfigUsesTheJobsKeyAndKnownHostsOnly() {
    assertThat(GuestFileTexts.sshClientConfig("/home/alice/.ssh")).isEqualTo("""
        # Written by the lambdagrid namespaces driver: the job's keys and known hosts only.
        Host *
          StrictHostKeyChecking yes
          UserKnownHostsFile /home/alice/.ssh/known_hosts
          GlobalKnownHostsFile /dev/null
          IdentityFile /home/alice/.ssh/id_ed25519
          IdentitiesOnly yes
          BatchMode yes
          CheckHostIP no
          UpdateHostKeys no
          HashKnownHosts no
          LogLevel ERROR
        """);
  }

  @Test
  void sshClientConfigLogsInToEachNodeWithItsSitesLocalAccount() {
    String config = GuestFileTexts.sshClientConfig("/home/alice/.ssh", List.of(
        new GuestTrust.Login("tokyo-0", "10.0.0.11", "alice"),
        new GuestTrust.Login("osaka-0", "10.0.1.11", "a.smith")));
    assertThat(config).startsWith("""
        # Written by the lambdagrid namespaces driver: the job's keys and known hosts only.
        Host tokyo-0 10.0.0.11
          User alice
        Host osaka-0 10.0.1.11
          User a.smith
        Host *
          StrictHostKeyChecking yes
        """).endsWith(GuestFileTexts.sshClientConfig("/home/alice/.ssh").substring(
            GuestFileTexts.sshClientConfig("/home/alice/.ssh").indexOf("Host *")));
  }

  @Test
  void trustFilesAreTheDistributedTextWithModesAndOwners() {
    GuestTrust trust = new GuestTrust("10.0.0.11 slots=1\n10.0.0.12 slots=1",
        "site-0,10.0.0.11 ssh-ed25519 AAAA0\nsite-1,10.0.0.12 ssh-ed25519 AAAA1",
        "ssh-ed25519 BBBB0 alice@site-0\n", "10.0.0.11 site-0\n10.0.0.12 site-1",
        List.of(new GuestTrust.Login("site-1", "10.0.0.12", "asmith")));
    List<TrustFiles.TrustFile> files = TrustFiles.files(spec, trust, "/home/alice/.ssh");
    assertThat(files).extracting(TrustFiles.TrustFile::path).containsExactly(
        Path.of("ssh/hostfile"), Path.of("ssh/known_hosts"), Path.of("ssh/authorized_keys"),
        Path.of("ssh/config"), Path.of("etc/hosts"), Path.of("etc/hostfile"));
    assertThat(files.get(3)).isEqualTo(new TrustFiles.TrustFile(Path.of("ssh/config"),
        GuestFileTexts.sshClientConfig("/home/alice/.ssh", trust.logins()), "rw-------", true));
    assertThat(files.get(3).content()).contains("Host site-1 10.0.0.12\n  User asmith\n");
    files = files.stream().filter(f -> !f.path().endsWith("config")).toList();
    assertThat(files.get(1)).isEqualTo(new TrustFiles.TrustFile(Path.of("ssh/known_hosts"),
        "site-0,10.0.0.11 ssh-ed25519 AAAA0\nsite-1,10.0.0.12 ssh-ed25519 AAAA1\n", "rw-r--r--",
        true));
    assertThat(files.get(0).content()).isEqualTo("10.0.0.11 slots=1\n10.0.0.12 slots=1\n");
    assertThat(files.get(2).perms()).isEqualTo("rw-------");
    assertThat(files.get(3).content()).startsWith("# lambdagrid guest site-0\n")
        .endsWith("\n10.0.0.11 site-0\n10.0.0.12 site-1\n").doesNotContain("10.0.0.11\tsite-0");
    assertThat(files.get(4)).isEqualTo(new TrustFiles.TrustFile(Path.of("etc/hostfile"),
        files.get(0).content(), "rw-r--r--", false));
    assertThat(files).extracting(TrustFiles.TrustFile::usersFile)
        .containsExactly(true, true, true, false, false);
    assertThat(TrustFiles.files(spec, new GuestTrust("", "", "", ""), "/home/alice/.ssh").get(1)
        .content())
        .isEmpty();
  }

  @Test
  void keysAreWrittenWholeWithTheirModesAndOwner(@org.junit.jupiter.api.io.TempDir Path dir)
      throws Exception {
    int uid = (int) java.nio.file.Files.getAttribute(dir, "unix:uid");
    int gid = (int) java.nio.file.Files.getAttribute(dir, "unix:gid");
    org.lambdagrid.common.ssh.SshKeyPair k =
        org.lambdagrid.common.ssh.SshKeyPair.generate("alice@site-0");
    KeysStep.write(k, dir.resolve("id_ed25519"), uid, gid);
    assertThat(java.nio.file.Files.readAllBytes(dir.resolve("id_ed25519")))
        .isEqualTo(k.privateFile());
    assertThat(java.nio.file.Files.readString(dir.resolve("id_ed25519.pub")))
        .isEqualTo(k.publicLine()).startsWith("ssh-ed25519 ").endsWith(" alice@site-0\n");
    assertThat(java.nio.file.attribute.PosixFilePermissions.toString(
        java.nio.file.Files.getPosixFilePermissions(dir.resolve("id_ed25519"))))
        .isEqualTo("rw-------");
    assertThat(java.nio.file.attribute.PosixFilePermissions.toString(
        java.nio.file.Files.getPosixFilePermissions(dir.resolve("id_ed25519.pub"))))
        .isEqualTo("rw-r--r--");
    try (var left = java.nio.file.Files.list(dir)) {
      assertThat(left.map(p -> p.getFileName().toString()).sorted().toList())
          .containsExactly("id_ed25519", "id_ed25519.pub");
    }
  }

  @Test
  void theFstabMountsTheGuestInOrderWithEscapedPaths() {
    assertThat(GuestFileTexts.fstab(Path.of("/run/lg/g1"), "/home/al ice",
        List.of("/scratch"))).isEqualTo("""
        # lambdagrid guest file system, mounted by guest-init.sh
        lambdagrid-guest /run/lg/g1/root overlay \
        lowerdir=/,upperdir=/run/lg/g1/upper,workdir=/run/lg/g1/work 0 0
        /dev /run/lg/g1/root/dev none rbind 0 0
        shm /run/lg/g1/root/dev/shm tmpfs mode=1777,nosuid,nodev 0 0
        proc /run/lg/g1/root/proc proc nosuid,nodev,noexec 0 0
        sysfs /run/lg/g1/root/sys sysfs ro,nosuid,nodev,noexec 0 0
        run /run/lg/g1/root/run tmpfs mode=0755,nosuid,nodev 0 0
        sshd /run/lg/g1/root/run/sshd tmpfs mode=0755,nosuid,nodev,noexec,X-mount.mkdir 0 0
        /run/lg/g1/run /run/lg/g1/root/run/lambdagrid none bind,nosuid,nodev,noexec,X-mount.mkdir 0 0
        /home/al\\040ice /run/lg/g1/root/home/al\\040ice none bind,X-mount.mkdir 0 0
        /scratch /run/lg/g1/root/scratch none rbind,X-mount.mkdir 0 0
        /run/lg/g1/etc /run/lg/g1/root/etc/lambdagrid none bind,ro,X-mount.mkdir 0 0
        /run/lg/g1/etc/hosts /run/lg/g1/root/etc/hosts none bind 0 0
        """);
    assertThat(GuestFileTexts.fstabField("a\tb\\c\nd")).isEqualTo("a\\011b\\134c\\012d");
  }
}
