package org.lambdagrid.common.security;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;

/**
 * Short-lived session tokens the GRC hands to local users (see the GRC's local login socket):
 * {@code lgs_} and 32 random bytes (base64url), kept in memory only (by hash), each valid for
 * {@code ttl} from its issue. A GRC restart forgets them all; the client logs in again.
 * Thread-safe.
 */
public final class SessionTokens {
  public static final String PREFIX = "lgs_";
  private static final SecureRandom RANDOM = new SecureRandom();

  /** A token and when it stops being accepted. */
  public record Session(String token, PeerIdentity who, Instant expires) { }

  private record Entry(PeerIdentity who, Instant expires) { }

  private final Clock clock;
  private final Duration ttl;
  private final Map<String, Entry> byHash = new HashMap<>(); // guarded by this

  public SessionTokens(Clock clock, Duration ttl) {
    if (ttl.isNegative() || ttl.isZero()) {
      throw new IllegalArgumentException("a session must last longer than zero");
    }
    this.clock = clock;
    this.ttl = ttl;
  }

  public Duration ttl() {
    return ttl;
  }

  /** A new token for {@code who}, valid for the ttl from now. */
  public synchronized Session issue(PeerIdentity who) {
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    String token = PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    Instant expires = clock.instant().plus(ttl);
    purge();
    byHash.put(BearerTokens.hash(token), new Entry(who, expires));
    return new Session(token, who, expires);
  }

  /** Who the token stands for, or empty for an unknown or expired one. */
  public synchronized Optional<PeerIdentity> lookup(String token) {
    if (token == null || !token.startsWith(PREFIX)) {
      return Optional.empty();
    }
    Entry e = byHash.get(BearerTokens.hash(token));
    if (e == null || !clock.instant().isBefore(e.expires())) {
      return Optional.empty();
    }
    return Optional.of(e.who());
  }

  /** How many sessions are live (tests). */
  public synchronized int size() {
    purge();
    return byHash.size();
  }

  private void purge() {
    Instant now = clock.instant();
    for (Iterator<Entry> it = byHash.values().iterator(); it.hasNext(); ) {
      if (!now.isBefore(it.next().expires())) {
        it.remove();
      }
    }
  }
}
