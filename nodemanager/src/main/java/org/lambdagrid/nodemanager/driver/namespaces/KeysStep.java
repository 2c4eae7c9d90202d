package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;

/**
 * Build step 2, the guest's fresh ed25519 key pairs: the host key in etc/ (root-only, read by
 * the guest's sshd) and the user's key in the private ssh directory (the user's). Undo: none of
 * its own; the keys go with the state directory ({@link FilesStep}).
 */
final class KeysStep implements GuestStep {
  private final NamespacesDriverConfig config;

  KeysStep(NamespacesDriverConfig config) {
    this.config = config;
  }

  @Override
  public void build(NewGuest guest) throws GuestException, IOException {
    Path dir = guest.record().dir();
    GuestUser user = guest.user();
    String hostname = guest.spec().hostname();
    Path userKey = GuestLayout.ssh(dir).resolve(GuestLayout.USER_KEY);
    Commands.run(keygenArgv(config.sshKeygenPath(), "root@" + hostname,
        GuestLayout.etc(dir).resolve(GuestLayout.HOST_KEY)).toArray(String[]::new));
    Commands.run(keygenArgv(config.sshKeygenPath(), user.name() + "@" + hostname, userKey)
        .toArray(String[]::new));
    for (Path f : List.of(userKey, userKey.resolveSibling(GuestLayout.USER_KEY + ".pub"))) {
      SafeFiles.setOwner(f, user.uid(), user.gid());
    }
  }

  @Override
  public List<String> undo(GuestRecord rec) {
    return List.of();
  }

  /** ssh-keygen making a new ed25519 pair without passphrase at {@code file} and file.pub. */
  static List<String> keygenArgv(String keygen, String comment, Path file) {
    return List.of(keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
        file.toString());
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
