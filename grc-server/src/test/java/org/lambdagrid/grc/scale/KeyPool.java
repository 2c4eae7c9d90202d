package org.lambdagrid.grc.scale;

import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.ssh.SshKeyPair;

/**
 * Real ed25519 public keys (OpenSSH lines, {@link SshKeyPair}) for the simulated nodes: a pool
 * generated once and reused (a node's key is picked by a hash of its site and index), so
 * bundles have the size and content of real ones without generating 2 keys per node.
 */
final class KeyPool {
  private final List<String> host = new ArrayList<>();
  private final List<String> user = new ArrayList<>();

  KeyPool(int size) {
    for (int i = 0; i < size; i++) {
      host.add(SshKeyPair.generate("root@lg-guest-" + i).publicLine().strip());
      user.add(SshKeyPair.generate("lambdagrid-job-" + i).publicLine().strip());
    }
  }

  String host(int k) {
    return host.get(Math.floorMod(k, host.size()));
  }

  String user(int k) {
    return user.get(Math.floorMod(k, user.size()));
  }
}
