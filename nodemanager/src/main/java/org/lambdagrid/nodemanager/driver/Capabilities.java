package org.lambdagrid.nodemanager.driver;

/**
 * What a driver offers, declared as data.
 *
 * @param realNetwork the guest has its own network stack and address (false for the fake)
 * @param sshd the guest runs a real sshd that other guests can reach
 * @param isolatedFiles the guest sees an overlay of the host, with a private ~/.ssh
 */
public record Capabilities(boolean realNetwork, boolean sshd, boolean isolatedFiles) {}
