package org.lambdagrid.crm.site;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;

/**
 * One node's pilot credentials: the one-time launch credential its pilot is started with (valid
 * until its expiry, used up by the first hello that presents it) and the hash of the reconnect
 * credential that pilot was welcomed with (kept durable; a resumed hello presents the
 * credential). Not thread-safe: guarded by the share's lock.
 */
final class PilotCredentials {
  private static final SecureRandom RANDOM = new SecureRandom();

  private String launch; // null until issued
  private Instant expiry;
  private boolean used;
  private String reconnectHash; // hex SHA-256; null until a pilot was admitted

  /** No launch credential yet; {@link #issue} one before the pilot starts. */
  PilotCredentials() {}

  /** A node put back after a restart: no launch credential accepted, only a resume. */
  static PilotCredentials restored(String reconnectHash) {
    PilotCredentials c = new PilotCredentials();
    c.used = true;
    c.reconnectHash = reconnectHash;
    return c;
  }

  /** Issues a fresh launch credential valid until {@code expiry}; returns it. */
  String issue(Instant expiry) {
    launch = newSecret();
    this.expiry = expiry;
    return launch;
  }

  /** The launch credential, or null if none was issued. */
  String launchCredential() {
    return launch;
  }

  Instant expiry() {
    return expiry;
  }

  /** True if {@code presented} is the issued launch credential (constant time). */
  boolean isLaunchCredential(String presented) {
    return launch != null && MessageDigest.isEqual(launch.getBytes(StandardCharsets.UTF_8),
        presented.getBytes(StandardCharsets.UTF_8));
  }

  boolean used() {
    return used;
  }

  boolean expiredAt(Instant now) {
    return now.isAfter(expiry);
  }

  /** From now on no launch credential is accepted (first use, release). */
  void useUp() {
    used = true;
  }

  /** Binds the reconnect credential the admitted pilot is welcomed with. */
  void bindReconnect(String reconnect) {
    reconnectHash = sha256(reconnect);
  }

  /** The reconnect credential's hash (what the ledger keeps), or null. */
  String reconnectHash() {
    return reconnectHash;
  }

  /** True if {@code presented} is the bound reconnect credential (constant time). */
  boolean isReconnectCredential(String presented) {
    return reconnectHash != null && !reconnectHash.isEmpty()
        && MessageDigest.isEqual(reconnectHash.getBytes(StandardCharsets.UTF_8),
            sha256(presented).getBytes(StandardCharsets.UTF_8));
  }

  /** 32 random bytes, URL-safe base64 without padding. */
  static String newSecret() {
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  static String sha256(String secret) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
          .digest(secret.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }
}
