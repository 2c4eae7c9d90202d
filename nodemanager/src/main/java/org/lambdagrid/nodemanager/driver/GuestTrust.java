package org.lambdagrid.nodemanager.driver;

/**
 * What SET_KEYS installs in the guest, each already rendered as file content.
 *
 * @param hostfile Open MPI hostfile, "ADDRESS slots=N" per line
 * @param knownHosts "HOSTNAME,ADDRESS KEY" per line
 * @param authorizedKeys one user public key per line
 * @param hosts /etc/hosts lines "ADDRESS HOSTNAME"
 */
public record GuestTrust(String hostfile, String knownHosts, String authorizedKeys, String hosts) {

  /**
   * The value of {@code LAMBDAGRID_NODES}: the host names of all nodes, space-separated, in
   * hostfile order (a hostfile entry without a hosts line stays as its address).
   */
  public String nodeNames() {
    java.util.Map<String, String> names = new java.util.LinkedHashMap<>();
    hosts.lines().map(String::trim).filter(l -> !l.isEmpty() && !l.startsWith("#"))
        .map(l -> l.split("\\s+")).filter(f -> f.length > 1)
        .forEach(f -> names.putIfAbsent(f[0], f[1]));
    return String.join(" ", hostfile.lines().map(String::trim)
        .filter(l -> !l.isEmpty() && !l.startsWith("#"))
        .map(l -> l.split("\\s+")[0]).map(a -> names.getOrDefault(a, a)).toList());
  }
}
