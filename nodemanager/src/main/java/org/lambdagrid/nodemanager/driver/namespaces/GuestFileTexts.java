package org.lambdagrid.nodemanager.driver.namespaces;

import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * The text of the config files the driver writes for a guest: its sshd_config, the user's ssh
 * client config, its /etc/hosts. Pure functions of their arguments.
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
        "PidFile none",
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
    return String.join("\n",
        "# Written by the lambdagrid namespaces driver: the job's keys and known hosts only.",
        "Host *",
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
}
