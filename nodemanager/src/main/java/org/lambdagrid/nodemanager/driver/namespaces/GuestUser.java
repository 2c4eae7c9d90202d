package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.PosixNames;
import org.lambdagrid.nodemanager.driver.GuestException;

/**
 * The job's user as a guest needs it, from the host's passwd database (getent): never root.
 *
 * @param home shared with the guest; the guest's private ~/.ssh is mounted over its .ssh
 * @param shell the login shell, may be empty
 */
record GuestUser(String name, int uid, int gid, Path home, String shell) {

  /** Looks the user up; fails for an invalid name, an unknown user and uid 0. */
  static GuestUser lookup(String user) throws GuestException {
    if (user == null || !PosixNames.LOGIN.matcher(user).matches()) {
      throw new GuestException("user '" + user + "' is not a valid login name");
    }
    HostCommand.Result r = Commands.attempt(Commands.tool("getent"), "passwd", user);
    if (!r.ok() || r.stdout().isBlank()) {
      throw new GuestException("user '" + user + "' does not exist on this node (getent passwd)");
    }
    String[] f = r.stdout().strip().split("\n")[0].split(":", -1);
    if (f.length < 7) {
      throw new GuestException("getent passwd " + user + ": unexpected line '" + r.stdout() + "'");
    }
    int uid = Integer.parseInt(f[2]);
    int gid = Integer.parseInt(f[3]);
    if (uid == 0) {
      throw new GuestException("user '" + user + "' has uid 0; jobs never run as root");
    }
    return new GuestUser(user, uid, gid, Path.of(f[5]), f[6]);
  }

  /**
   * sshd with {@code UsePAM no} refuses accounts whose password field starts with '!' as
   * locked, so ssh between guests would fail late and obscurely. Says so now. An unreadable
   * /etc/shadow is not checked.
   */
  static void checkNotLocked(String user) throws GuestException {
    Path shadow = Path.of("/etc/shadow");
    if (!Files.isReadable(shadow)) {
      return;
    }
    try {
      for (String line : Files.readAllLines(shadow, StandardCharsets.UTF_8)) {
        String[] f = line.split(":", -1);
        if (f.length > 1 && f[0].equals(user) && f[1].startsWith("!")) {
          throw new GuestException("user '" + user + "' has a locked password field ('!...') in"
              + " /etc/shadow; the guest's sshd (UsePAM no) refuses locked accounts, so ssh"
              + " between guests would fail. Give the account a usable, password-less field,"
              + " e.g. 'usermod -p '*' " + user + "'");
        }
      }
    } catch (IOException e) {
      // Unreadable shadow: nothing to check.
    }
  }

  /** The user's ~/.ssh. */
  Path sshDir() {
    return GuestLayout.userSsh(home);
  }

  /**
   * argv run as this user: setpriv to its uid, gid and groups, no capabilities in any set,
   * no_new_privs.
   */
  List<String> asUser(String... argv) {
    List<String> cmd = new ArrayList<>(List.of(Commands.tool("setpriv"),
        "--reuid=" + uid, "--regid=" + gid, "--init-groups", "--inh-caps=-all",
        "--bounding-set=-all", "--no-new-privs", "--"));
    cmd.addAll(List.of(argv));
    return cmd;
  }
}
