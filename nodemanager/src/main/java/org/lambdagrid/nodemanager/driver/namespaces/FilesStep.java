package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.security.SecurePaths;
import org.lambdagrid.nodemanager.driver.GuestException;

/**
 * The first build step ({@link GuestSteps#of}), the guest's files in its state directory: the
 * overlay's directories, the private ssh directory (the user's, 0700, with the ssh client config),
 * etc/ (root's, 0755: sshd_config, hosts), guest-init.sh; and the user's ~/.ssh as the mount point
 * the private one goes over.
 *
 * <p>Undo removes the state directory, the record with it, once the later steps' objects are all
 * gone (their processes may still use the files; a retry needs the record). The user's ~/.ssh
 * stays: it is the user's.
 */
final class FilesStep implements GuestStep {
  private final NamespacesDriverConfig config;

  FilesStep(NamespacesDriverConfig config) {
    this.config = config;
  }

  @Override
  public void build(NewGuest guest) throws GuestException, IOException {
    Path dir = guest.record().dir();
    GuestUser user = guest.user();
    for (String d : List.of("upper", "work", "root")) {
      Files.createDirectory(dir.resolve(d));
    }
    Path ssh = GuestLayout.ssh(dir);
    Path etc = GuestLayout.etc(dir);
    Files.createDirectory(ssh);
    Files.createDirectory(etc);
    Files.setPosixFilePermissions(etc, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path run = GuestLayout.run(dir);
    Files.createDirectory(run);
    Files.setPosixFilePermissions(run, PosixFilePermissions.fromString("rwxr-xr-x"));
    try (InputStream in = FilesStep.class.getResourceAsStream(GuestLayout.INIT_SCRIPT)) {
      if (in == null) {
        throw new GuestException("resource " + GuestLayout.INIT_SCRIPT
            + " missing from the NodeManager jar");
      }
      Files.copy(in, dir.resolve(GuestLayout.INIT_SCRIPT));
    }
    SafeFiles.writeAtomically(etc.resolve("sshd_config"), GuestFileTexts.sshdConfig(guest.spec(),
        config.guestPath(), GuestLayout.hostfileInGuest(user.home()).toString()), "rw-r--r--", 0,
        0);
    SafeFiles.writeInPlace(etc.resolve("hosts"), GuestFileTexts.hostsFile(guest.spec(), ""));
    SafeFiles.writeAtomically(dir.resolve(GuestLayout.FSTAB), GuestFileTexts.fstab(dir,
        user.home().toString(), config.sharedPaths()), "rw-r--r--", 0, 0);
    SafeFiles.writeAtomically(ssh.resolve("config"),
        GuestFileTexts.sshClientConfig(user.sshDir().toString()), "rw-------", user.uid(),
        user.gid());
    Files.setPosixFilePermissions(ssh, PosixFilePermissions.fromString("rwx------"));
    SafeFiles.setOwner(ssh, user.uid(), user.gid());
    ensureSshMountPoint(user);
  }

  @Override
  public List<String> undo(GuestRecord rec) {
    return StateDir.remove(rec.dir());
  }

  @Override
  public boolean undoNeedsLaterStepsGone() {
    return true;
  }

  /**
   * Makes sure the user's {@code ~/.ssh} is a mount point the guest's private ssh directory can
   * go over: a real directory (not a symbolic link), owned by the user. A missing one is created
   * by the user (mkdir run as the user: atomic, the user's own from the start, and only where the
   * user may create it), so several guests of one user built at once all succeed; what is there
   * after "already exists" is checked, never assumed. guest-init.sh checks it again when it
   * mounts, on the directory it has pinned.
   */
  static void ensureSshMountPoint(GuestUser user) throws GuestException, IOException {
    Path ssh = user.sshDir();
    if (!Files.exists(ssh, LinkOption.NOFOLLOW_LINKS)) {
      HostCommand.Result r = Commands.attempt(Commands.DEFAULT_TIMEOUT,
          user.asUser(Commands.tool("mkdir"), "-m", "0700", "--", ssh.toString()));
      if (!r.ok() && !Files.exists(ssh, LinkOption.NOFOLLOW_LINKS)) {
        throw new GuestException("cannot create " + ssh + " as user '" + user.name() + "' (the"
            + " guest's private ~/.ssh is mounted over it): " + r.describe());
      }
    }
    String problem = sshMountPointProblem(ssh, user.uid());
    if (problem != null) {
      throw new GuestException(problem);
    }
  }

  /** Why {@code ssh} cannot be the mount point of the private ~/.ssh, or null if it can. */
  static String sshMountPointProblem(Path ssh, int uid) throws IOException {
    SecurePaths.Stat a;
    try {
      a = SecurePaths.Stat.of(ssh);
    } catch (NoSuchFileException e) {
      return ssh + " vanished while the guest was being built; the guest's private ~/.ssh is"
          + " mounted over it";
    }
    String what = a.isSymbolicLink() ? "a symbolic link" : a.isDirectory() ? null
        : a.isRegularFile() ? "a regular file" : "not a directory";
    if (what != null) {
      return ssh + " is " + what + "; the guest's private ~/.ssh is mounted over it, so it must"
          + " be a real directory owned by the user (move it away, or replace the link by the"
          + " directory it points to)";
    }
    if (a.uid() != uid) {
      return ssh + " is owned by uid " + a.uid() + ", not by the job's user (uid " + uid + ");"
          + " the guest's private ~/.ssh is mounted over it";
    }
    return null;
  }
}
