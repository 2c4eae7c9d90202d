package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestTrust;

/** SET_KEYS: the files that let the job's guests trust each other, and how they are written. */
final class TrustFiles {
  private TrustFiles() {}

  /**
   * One file: {@code path} relative to the state directory. A user's file (in the private
   * ~/.ssh, which the job can write) is written by a new file renamed over the old one; a root
   * file (in etc/, bind-mounted into the guest by inode) in place, mode 0644.
   */
  record TrustFile(Path path, String content, String perms, boolean usersFile) {}

  /**
   * What SET_KEYS writes, in order; pure. {@code sshDir} is the user's ~/.ssh as the guest sees
   * it (the ssh config names files in it).
   */
  static List<TrustFile> files(GuestSpec spec, GuestTrust trust, String sshDir) {
    Path ssh = GuestLayout.ssh(Path.of(""));
    Path etc = GuestLayout.etc(Path.of(""));
    String hostfile = GuestFileTexts.withNewline(trust.hostfile());
    return List.of(
        new TrustFile(ssh.resolve(GuestLayout.HOSTFILE), hostfile, "rw-r--r--", true),
        new TrustFile(ssh.resolve("known_hosts"), GuestFileTexts.withNewline(trust.knownHosts()),
            "rw-r--r--", true),
        new TrustFile(ssh.resolve("authorized_keys"),
            GuestFileTexts.withNewline(trust.authorizedKeys()), "rw-------", true),
        // The build's config again, now with the account to log in with on every node.
        new TrustFile(ssh.resolve("config"), GuestFileTexts.sshClientConfig(sshDir,
            trust.logins()), "rw-------", true),
        new TrustFile(etc.resolve("hosts"), GuestFileTexts.hostsFile(spec,
            GuestFileTexts.withNewline(trust.hosts())), "rw-r--r--", false),
        // EXEC reads the host list from this root-owned copy: the ssh directory is the user's.
        new TrustFile(etc.resolve(GuestLayout.HOSTFILE), hostfile, "rw-r--r--", false));
  }

  /** Writes {@link #files} into a built guest, owned by {@code user} (its user); idempotent. */
  static void install(GuestHandle guest, GuestTrust trust, GuestUser user) throws GuestException {
    Path ssh = GuestLayout.ssh(guest.stateDir());
    if (!Files.isDirectory(ssh, LinkOption.NOFOLLOW_LINKS)) {
      throw new GuestException("guest " + guest.id() + " has no private ssh directory " + ssh
          + " (was it built?)");
    }
    try {
      for (TrustFile f : files(guest.spec(), trust, user.sshDir().toString())) {
        Path target = guest.stateDir().resolve(f.path());
        if (f.usersFile()) {
          SafeFiles.writeAtomically(target, f.content(), f.perms(), user.uid(), user.gid());
        } else {
          SafeFiles.writeInPlace(target, f.content());
        }
      }
    } catch (IOException e) {
      throw new GuestException("cannot write the trust files of guest " + guest.id() + ": "
          + e.getMessage(), e);
    }
  }
}
