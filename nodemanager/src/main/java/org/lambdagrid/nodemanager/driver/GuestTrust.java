package org.lambdagrid.nodemanager.driver;

import java.util.List;

/**
 * What SET_KEYS installs in the guest, each already rendered as file content, and the account to
 * log in with on each node.
 *
 * @param hostfile Open MPI hostfile, "ADDRESS slots=N" per line
 * @param knownHosts "HOSTNAME,ADDRESS KEY" per line
 * @param authorizedKeys one user public key per line
 * @param hosts /etc/hosts lines "ADDRESS HOSTNAME"
 * @param logins per node of the job: the local account its guest runs as (sites may name one
 *     grid user differently); the guest's ssh config logs in to each node with it
 */
public record GuestTrust(String hostfile, String knownHosts, String authorizedKeys, String hosts,
    List<Login> logins) {

  /**
   * One node as ssh reaches it: by {@code hostname} or {@code address}, as {@code user}. The
   * NodeManager checks each field before it gets here (no whitespace: they go into ssh_config).
   */
  public record Login(String hostname, String address, String user) {}

  public GuestTrust {
    logins = logins == null ? List.of() : List.copyOf(logins);
  }

  /** With no per-node logins: ssh logs in to every node as the guest's own user. */
  public GuestTrust(String hostfile, String knownHosts, String authorizedKeys, String hosts) {
    this(hostfile, knownHosts, authorizedKeys, hosts, List.of());
  }

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
