package org.lambdagrid.nodemanager.driver;

/**
 * What a driver offers, declared as data.
 *
 * @param realNetwork the guest has its own network stack and address (false for the fake)
 * @param sshd the guest runs a real sshd that other guests can reach
 * @param isolatedFiles the guest sees an overlay of the host, with a private ~/.ssh
 * @param resourceLimits the guest can be given a number of CPUs and a memory limit
 *     ({@link GuestSpec#cpus}, {@link GuestSpec#memoryBytes}); the NodeManager refuses a SETUP
 *     that asks for them from a driver without it
 */
public record Capabilities(boolean realNetwork, boolean sshd, boolean isolatedFiles,
    boolean resourceLimits) {
  /** Without resource limits. */
  public Capabilities(boolean realNetwork, boolean sshd, boolean isolatedFiles) {
    this(realNetwork, sshd, isolatedFiles, false);
  }
}
