package org.lambdagrid.nodemanager.driver.namespaces;

import java.nio.file.Path;

/**
 * Where a guest's files are: in its state directory {@code STATE_DIR/ID} on the host, and as the
 * guest sees them. {@code ssh/} is the guest's private ~/.ssh (owned by the user), {@code etc/}
 * its read-only {@code /etc/lambdagrid} (root's), {@code upper/ work/ root/} the overlay.
 */
final class GuestLayout {
  private GuestLayout() {}

  /** The guest's /etc/lambdagrid: {@link #etc} mounted read-only. */
  static final String GUEST_ETC = "/etc/lambdagrid";
  /** The guest's /run/lambdagrid: {@link #run} mounted (read-write for root only). */
  static final String GUEST_RUN = "/run/lambdagrid";
  /** sshd's pid file (PidFile), in {@link #GUEST_RUN}: sshd writes it once it listens. */
  static final String SSHD_PID = "sshd.pid";
  /** The script that sets up the guest's file system as its pid 1, copied from the jar. */
  static final String INIT_SCRIPT = "guest-init.sh";
  /** The guest's file system for {@code mount -a -T} ({@link GuestFileTexts#fstab}). */
  static final String FSTAB = "fstab";
  /** The Open MPI hostfile (LAMBDAGRID_HOSTFILE) in the private ~/.ssh. */
  static final String HOSTFILE = "hostfile";
  static final String HOST_KEY = "ssh_host_ed25519_key";
  static final String USER_KEY = "id_ed25519";
  /** Made by guest-init.sh once the guest's file system is mounted. */
  static final String READY = "ready";

  /** The guest's private ~/.ssh, owned by the user. */
  static Path ssh(Path dir) {
    return dir.resolve("ssh");
  }

  /**
   * The guest's /run/lambdagrid, root's (0755): where sshd writes its pid file, read from here by
   * the driver ({@link SshdStarter}) without entering anything of the guest's.
   */
  static Path run(Path dir) {
    return dir.resolve("run");
  }

  /** The guest's /etc/lambdagrid, root's. */
  static Path etc(Path dir) {
    return dir.resolve("etc");
  }

  /** The user's ~/.ssh, on the host and (with the private one mounted over it) in the guest. */
  static Path userSsh(Path home) {
    return home.resolve(".ssh");
  }

  /** The hostfile as the job sees it (LAMBDAGRID_HOSTFILE). */
  static Path hostfileInGuest(Path home) {
    return userSsh(home).resolve(HOSTFILE);
  }
}
