package org.lambdagrid.common.security;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class SessionTokensTest {
  /** A clock the test moves. */
  static final class MovingClock extends Clock {
    Instant now = Instant.parse("2026-01-01T00:00:00Z");

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }

  @Test
  void aSessionTokenStandsForItsUserUntilItExpires() {
    MovingClock clock = new MovingClock();
    SessionTokens s = new SessionTokens(clock, Duration.ofMinutes(5));
    SessionTokens.Session alice = s.issue(new PeerIdentity(Role.USER, "alice"));
    SessionTokens.Session bob = s.issue(new PeerIdentity(Role.USER, "bob"));
    assertThat(alice.token()).startsWith(SessionTokens.PREFIX).isNotEqualTo(bob.token());
    assertThat(alice.expires()).isEqualTo(clock.now.plus(Duration.ofMinutes(5)));
    assertThat(s.lookup(alice.token())).contains(new PeerIdentity(Role.USER, "alice"));
    assertThat(s.lookup(bob.token())).contains(new PeerIdentity(Role.USER, "bob"));
    assertThat(s.lookup(SessionTokens.PREFIX + "made-up")).isEmpty();
    assertThat(s.lookup(null)).isEmpty();

    clock.now = clock.now.plus(Duration.ofMinutes(5)).minusMillis(1);
    assertThat(s.lookup(alice.token())).isPresent();
    clock.now = clock.now.plusMillis(1);
    assertThat(s.lookup(alice.token())).as("expired").isEmpty();
    assertThat(s.size()).as("expired sessions are forgotten").isZero();
  }

  @Test
  void sessionTokensAreNotInTheTokensFileAndFileTokensAreNotSessions() throws Exception {
    SessionTokens s = new SessionTokens(Clock.systemUTC(), Duration.ofMinutes(1));
    String session = s.issue(new PeerIdentity(Role.USER, "alice")).token();
    java.nio.file.Path f = java.nio.file.Files.createTempFile("tokens", "");
    try {
      String issued = BearerTokens.issue(f, Role.USER, "alice");
      BearerTokens file = new BearerTokens(f);
      assertThat(file.lookup(session)).isEmpty();
      assertThat(s.lookup(issued)).isEmpty();
      assertThat(java.nio.file.Files.readString(f)).doesNotContain(session);
    } finally {
      java.nio.file.Files.delete(f);
    }
  }
}
