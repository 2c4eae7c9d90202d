package org.lambdagrid.nodemanager.driver;

/** Public keys of one guest, OpenSSH one-line format ("ssh-ed25519 AAAA... comment"). */
public record GuestKeys(String hostPublicKey, String userPublicKey) {}
