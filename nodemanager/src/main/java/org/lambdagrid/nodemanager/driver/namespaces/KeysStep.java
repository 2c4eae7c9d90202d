package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.lambdagrid.common.ssh.SshKeyPair;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;

/**
 * The build step after the cgroups ({@link GuestSteps#of}), the guest's fresh ed25519 key pairs,
 * made in the JVM ({@link SshKeyPair}, in the formats ssh-keygen writes): the host key in etc/
 * (root-only, read by the guest's sshd) and the user's key in the private ssh directory (the
 * user's, 0600). Private keys never leave the guest's state directory. Undo: none of its own; the
 * keys go with the state directory ({@link FilesStep}).
 */
final class KeysStep implements GuestStep {

  @Override
  public void build(NewGuest guest) throws GuestException, IOException {
    Path dir = guest.record().dir();
    GuestUser user = guest.user();
    String hostname = guest.spec().hostname();
    write(SshKeyPair.generate("root@" + hostname),
        GuestLayout.etc(dir).resolve(GuestLayout.HOST_KEY), 0, 0);
    write(SshKeyPair.generate(user.name() + "@" + hostname),
        GuestLayout.ssh(dir).resolve(GuestLayout.USER_KEY), user.uid(), user.gid());
  }

  /** FILE (0600) and FILE.pub (0644), owned by uid:gid, each created whole then renamed. */
  static void write(SshKeyPair keys, Path file, int uid, int gid) throws IOException {
    SafeFiles.writeAtomically(file, keys.privateFile(), "rw-------", uid, gid);
    SafeFiles.writeAtomically(file.resolveSibling(file.getFileName() + ".pub"),
        keys.publicLine(), "rw-r--r--", uid, gid);
  }

  @Override
  public List<String> undo(GuestRecord rec) {
    return List.of();
  }

  /** GET_KEYS: the two public keys, one line each. */
  static GuestKeys publicKeys(GuestHandle guest) throws GuestException {
    Path dir = guest.stateDir();
    try {
      return new GuestKeys(
          Files.readString(GuestLayout.etc(dir).resolve(GuestLayout.HOST_KEY + ".pub")).strip(),
          Files.readString(GuestLayout.ssh(dir).resolve(GuestLayout.USER_KEY + ".pub")).strip());
    } catch (IOException e) {
      throw new GuestException("guest " + guest.id() + " has no keys (was it built?): "
          + e.getMessage(), e);
    }
  }
}
