package org.lambdagrid.nodemanager.driver.namespaces;

import java.nio.file.Path;
import java.util.List;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestTrust;

/**
 * The text of the config files the driver writes for a guest: its sshd_config, the user's ssh
 * client config, its /etc/hosts, its fstab. Pure functions of their arguments.
 */
final class GuestFileTexts {
  private GuestFileTexts() {}

  /**
   * The guest's sshd_config (read-only in the guest): the guest address only, the guest's own
   * host key, public keys of {@code spec.user()} only, no PAM, strict modes; sessions get
   * {@code guestPath} and LAMBDAGRID_HOSTFILE ({@code hostfile}, the path in the guest).
   */
  static String sshdConfig(GuestSpec spec, String guestPath, String hostfile) {
    return String.join("\n",
        "# Written by the lambdagrid namespaces driver; read-only inside the guest.",
        "ListenAddress " + spec.address() + ":22",
        "AddressFamily inet",
        "HostKey " + GuestLayout.GUEST_ETC + "/" + GuestLayout.HOST_KEY,
        // Written by sshd once it listens: the cheap half of SshdStarter's readiness check.
        "PidFile " + GuestLayout.GUEST_RUN + "/" + GuestLayout.SSHD_PID,
        "UsePAM no",
        "StrictModes yes",
        "PermitRootLogin no",
        "AllowUsers " + spec.user(),
        "PubkeyAuthentication yes",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "PermitUserEnvironment no",
        "X11Forwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "MaxStartups 100:30:200",
        "MaxSessions 100",
        "SetEnv PATH=" + guestPath + " LAMBDAGRID_HOSTFILE=" + hostfile,
        "");
  }

  /**
   * The user's ssh client config in the guest ({@code sshDir} is ~/.ssh as the guest sees it):
   * the job's key and the distributed known hosts only, strict host key checking, batch mode.
   */
  static String sshClientConfig(String sshDir) {
    return sshClientConfig(sshDir, List.of());
  }

  /**
   * The same, with a {@code Host HOSTNAME ADDRESS} block per node of the job naming the account
   * to log in with there ({@code User}): each site runs the grid user as its own local account,
   * and MPI's ssh launcher reaches a node by the hostfile's address or by its name. The fields
   * were checked by the NodeManager (no whitespace).
   */
  static String sshClientConfig(String sshDir, List<GuestTrust.Login> logins) {
    StringBuilder perHost = new StringBuilder();
    for (GuestTrust.Login l : logins) {
      perHost.append("Host ").append(l.hostname()).append(' ').append(l.address())
          .append("\n  User ").append(l.user()).append('\n');
    }
    return String.join("\n",
        "# Written by the lambdagrid namespaces driver: the job's keys and known hosts only.",
        perHost + "Host *",
        "  StrictHostKeyChecking yes",
        "  UserKnownHostsFile " + sshDir + "/known_hosts",
        "  GlobalKnownHostsFile /dev/null",
        "  IdentityFile " + sshDir + "/" + GuestLayout.USER_KEY,
        "  IdentitiesOnly yes",
        "  BatchMode yes",
        "  CheckHostIP no",
        "  UpdateHostKeys no",
        "  HashKnownHosts no",
        "  LogLevel ERROR",
        "");
  }

  /**
   * The guest's /etc/hosts: localhost, the guest itself unless {@code entries} lists its address,
   * then {@code entries} ("ADDRESS HOSTNAME" lines).
   */
  static String hostsFile(GuestSpec spec, String entries) {
    StringBuilder b = new StringBuilder("# lambdagrid guest ").append(spec.hostname())
        .append("\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    boolean selfListed = entries.lines().map(l -> l.trim().split("\\s+"))
        .anyMatch(f -> f.length > 1 && f[0].equals(spec.address()));
    if (!selfListed) {
      b.append(spec.address()).append('\t').append(spec.hostname()).append('\n');
    }
    return b.append(entries).toString();
  }

  /** {@code s} ending in a newline; "" for null or empty. */
  static String withNewline(String s) {
    if (s == null || s.isEmpty()) {
      return "";
    }
    return s.endsWith("\n") ? s : s + "\n";
  }

  /**
   * The guest's file system as an fstab that guest-init.sh mounts with one {@code mount -a -T}
   * (one process for every mount, in this order; {@code X-mount.mkdir} makes missing mount
   * points in the overlay): the overlay root over the host's {@code /}, {@code /dev} (with a
   * private {@code /dev/shm}), its own {@code /proc} and read-only {@code /sys}, a private
   * {@code /run} (with sshd's privilege separation directory and {@code /run/lambdagrid}, root's,
   * where sshd writes its pid file), the user's home, the shared
   * paths, and the guest's read-only {@code /etc/lambdagrid} and {@code /etc/hosts}. The user's
   * {@code ~/.ssh} is not here: guest-init.sh mounts it on the directory it has pinned and checked.
   */
  static String fstab(Path state, String home, List<String> shared) {
    String root = state.resolve("root").toString();
    StringBuilder b = new StringBuilder("# lambdagrid guest file system, mounted by guest-init.sh\n");
    entry(b, "lambdagrid-guest", root, "overlay", "lowerdir=/,upperdir=" + state.resolve("upper")
        + ",workdir=" + state.resolve("work"));
    entry(b, "/dev", root + "/dev", "none", "rbind");
    entry(b, "shm", root + "/dev/shm", "tmpfs", "mode=1777,nosuid,nodev");
    entry(b, "proc", root + "/proc", "proc", "nosuid,nodev,noexec");
    entry(b, "sysfs", root + "/sys", "sysfs", "ro,nosuid,nodev,noexec");
    entry(b, "run", root + "/run", "tmpfs", "mode=0755,nosuid,nodev");
    entry(b, "sshd", root + "/run/sshd", "tmpfs", "mode=0755,nosuid,nodev,noexec,X-mount.mkdir");
    entry(b, GuestLayout.run(state).toString(), root + GuestLayout.GUEST_RUN, "none",
        "bind,nosuid,nodev,noexec,X-mount.mkdir");
    entry(b, home, root + home, "none", "bind,X-mount.mkdir");
    for (String p : shared) {
      entry(b, p, root + p, "none", "rbind,X-mount.mkdir");
    }
    entry(b, state.resolve("etc").toString(), root + GuestLayout.GUEST_ETC, "none",
        "bind,ro,X-mount.mkdir");
    entry(b, state.resolve("etc/hosts").toString(), root + "/etc/hosts", "none", "bind");
    return b.toString();
  }

  private static void entry(StringBuilder b, String source, String target, String type,
      String options) {
    b.append(fstabField(source)).append(' ').append(fstabField(target)).append(' ').append(type)
        .append(' ').append(options).append(" 0 0\n");
  }

  /** An fstab field: space, tab, newline and backslash as octal escapes (fstab(5)). */
  static String fstabField(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      switch (c) {
        case ' ' -> b.append("\\040");
        case '\t' -> b.append("\\011");
        case '\n' -> b.append("\\012");
        case '\\' -> b.append("\\134");
        default -> b.append(c);
      }
    }
    return b.toString();
  }
}
