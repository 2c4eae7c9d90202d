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
 * {@code lgs_} and 32 random bytes (base64url), kept in memory only (by hash). A session ends
 * {@code ttl} after its issue, or earlier once it was not used (looked up) for {@code idle}. At
 * most {@code maxSessions} are live at once and at most {@code maxPerUser} of one user: an
 * {@link #issue} beyond either bound is refused ({@link LimitException}), never evicting a live
 * session. A GRC restart forgets them all; the client logs in again. Thread-safe.
 */
public final class SessionTokens {
  public static final String PREFIX = "lgs_";
  public static final int DEFAULT_MAX_SESSIONS = 1024;
  public static final int DEFAULT_MAX_PER_USER = 64;
  private static final SecureRandom RANDOM = new SecureRandom();

  /** A token and when it stops being accepted at the latest. */
  public record Session(String token, PeerIdentity who, Instant expires) { }

  /** An issue refused because a bound is reached; the message names the bound. */
  public static final class LimitException extends RuntimeException {
    LimitException(String message) {
      super(message);
    }
  }

  private static final class Entry {
    final PeerIdentity who;
    final Instant expires;
    Instant lastUsed;

    Entry(PeerIdentity who, Instant expires, Instant lastUsed) {
      this.who = who;
      this.expires = expires;
      this.lastUsed = lastUsed;
    }
  }

  private final Clock clock;
  private final Duration ttl;
  private final Duration idle;
  private final int maxSessions;
  private final int maxPerUser;
  private final Map<String, Entry> byHash = new HashMap<>(); // guarded by this
  private final Map<String, Integer> perUser = new HashMap<>(); // guarded by this

  /** Sessions that end only by their ttl, with the default bounds. */
  public SessionTokens(Clock clock, Duration ttl) {
    this(clock, ttl, ttl, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_PER_USER);
  }

  public SessionTokens(Clock clock, Duration ttl, Duration idle, int maxSessions,
      int maxPerUser) {
    if (ttl.isNegative() || ttl.isZero() || idle.isNegative() || idle.isZero()) {
      throw new IllegalArgumentException("a session must last longer than zero");
    }
    if (maxSessions < 1 || maxPerUser < 1) {
      throw new IllegalArgumentException("the session bounds must be at least 1");
    }
    this.clock = clock;
    this.ttl = ttl;
    this.idle = idle;
    this.maxSessions = maxSessions;
    this.maxPerUser = maxPerUser;
  }

  public Duration ttl() {
    return ttl;
  }

  /**
   * A new token for {@code who}, valid for the ttl from now while used at least every idle.
   *
   * @throws LimitException when {@code who} has {@code maxPerUser} live sessions, or all users
   *     together {@code maxSessions}
   */
  public synchronized Session issue(PeerIdentity who) {
    purge();
    if (perUser.getOrDefault(who.name(), 0) >= maxPerUser) {
      throw new LimitException(who.name() + " already has " + maxPerUser + " live sessions, the"
          + " most one user may have (local.max_sessions_per_user); each ends " + ends());
    }
    if (byHash.size() >= maxSessions) {
      throw new LimitException("the GRC already holds " + maxSessions + " live sessions, the most"
          + " it keeps (local.max_sessions); each ends " + ends());
    }
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    String token = PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    Instant now = clock.instant();
    Instant expires = now.plus(ttl);
    byHash.put(BearerTokens.hash(token), new Entry(who, expires, now));
    perUser.merge(who.name(), 1, Integer::sum);
    return new Session(token, who, expires);
  }

  private String ends() {
    return org.lambdagrid.common.Quantities.formatDuration(ttl) + " after it was issued"
        + (idle.compareTo(ttl) < 0 ? " or " + org.lambdagrid.common.Quantities.formatDuration(idle)
            + " after its last use" : "") + "; try again later";
  }

  /** Who the token stands for, or empty for an unknown, expired or idle one. Counts as a use. */
  public synchronized Optional<PeerIdentity> lookup(String token) {
    if (token == null || !token.startsWith(PREFIX)) {
      return Optional.empty();
    }
    String h = BearerTokens.hash(token);
    Entry e = byHash.get(h);
    if (e == null) {
      return Optional.empty();
    }
    Instant now = clock.instant();
    if (over(e, now)) {
      remove(h, e);
      return Optional.empty();
    }
    e.lastUsed = now;
    return Optional.of(e.who);
  }

  /** How many sessions are live (tests). */
  public synchronized int size() {
    purge();
    return byHash.size();
  }

  private boolean over(Entry e, Instant now) {
    return !now.isBefore(e.expires) || !now.isBefore(e.lastUsed.plus(idle));
  }

  private void remove(String hash, Entry e) {
    byHash.remove(hash);
    perUser.computeIfPresent(e.who.name(), (k, n) -> n > 1 ? n - 1 : null);
  }

  private void purge() {
    Instant now = clock.instant();
    for (Iterator<Map.Entry<String, Entry>> it = byHash.entrySet().iterator(); it.hasNext(); ) {
      Entry e = it.next().getValue();
      if (over(e, now)) {
        it.remove();
        perUser.computeIfPresent(e.who.name(), (k, n) -> n > 1 ? n - 1 : null);
      }
    }
  }
}
