package org.lambdagrid.nodemanager.driver;

/**
 * What SET_KEYS installs in the guest, each already rendered as file content.
 *
 * @param hostfile Open MPI hostfile, "ADDRESS slots=N" per line
 * @param knownHosts "HOSTNAME,ADDRESS KEY" per line
 * @param authorizedKeys one user public key per line
 * @param hosts /etc/hosts lines "ADDRESS HOSTNAME"
 */
public record GuestTrust(String hostfile, String knownHosts, String authorizedKeys, String hosts) {}
