package org.lambdagrid.common.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.testing.TestClock;

class SessionTokensTest {
  @Test
  void aSessionTokenStandsForItsUserUntilItExpires() {
    TestClock clock = new TestClock(Instant.parse("2026-01-01T00:00:00Z"));
    SessionTokens s = new SessionTokens(clock, Duration.ofMinutes(5));
    SessionTokens.Session alice = s.issue(new PeerIdentity(Role.USER, "alice"));
    SessionTokens.Session bob = s.issue(new PeerIdentity(Role.USER, "bob"));
    assertThat(alice.token()).startsWith(SessionTokens.PREFIX).isNotEqualTo(bob.token());
    assertThat(alice.expires()).isEqualTo(clock.instant().plus(Duration.ofMinutes(5)));
    assertThat(s.lookup(alice.token())).contains(new PeerIdentity(Role.USER, "alice"));
    assertThat(s.lookup(bob.token())).contains(new PeerIdentity(Role.USER, "bob"));
    assertThat(s.lookup(SessionTokens.PREFIX + "made-up")).isEmpty();
    assertThat(s.lookup(null)).isEmpty();

    clock.advance(Duration.ofMinutes(5).minusMillis(1));
    assertThat(s.lookup(alice.token())).isPresent();
    clock.advance(Duration.ofMillis(1));
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

  @Test
  void sessionsAreBoundedPerUserAndInAllAndABoundIsRefusedNamingIt() {
    TestClock clock = new TestClock(Instant.parse("2026-01-01T00:00:00Z"));
    SessionTokens s = new SessionTokens(clock, Duration.ofMinutes(5), Duration.ofMinutes(2), 5, 3);
    PeerIdentity alice = new PeerIdentity(Role.USER, "alice");
    for (int i = 0; i < 3; i++) {
      s.issue(alice);
    }
    assertThatThrownBy(() -> s.issue(alice)).isInstanceOf(SessionTokens.LimitException.class)
        .hasMessage("alice already has 3 live sessions, the most one user may have"
            + " (local.max_sessions_per_user); each ends 5m after it was issued or 2m after its"
            + " last use; try again later");
    s.issue(new PeerIdentity(Role.USER, "bob"));
    s.issue(new PeerIdentity(Role.USER, "carol"));
    assertThatThrownBy(() -> s.issue(new PeerIdentity(Role.USER, "dave")))
        .isInstanceOf(SessionTokens.LimitException.class)
        .hasMessageStartingWith("the GRC already holds 5 live sessions, the most it keeps"
            + " (local.max_sessions)");
    assertThat(s.size()).isEqualTo(5);
    // Unused sessions end after the idle time, which frees the bound again.
    clock.advance(Duration.ofMinutes(2));
    assertThat(s.size()).isZero();
    assertThat(s.issue(new PeerIdentity(Role.USER, "dave")).token()).startsWith(SessionTokens.PREFIX);
  }

  @Test
  void aSessionEndsWhenUnusedForTheIdleTimeAndAtTheTtlEvenWhenUsed() {
    TestClock clock = new TestClock(Instant.parse("2026-01-01T00:00:00Z"));
    SessionTokens s = new SessionTokens(clock, Duration.ofMinutes(5), Duration.ofMinutes(2), 10, 10);
    String used = s.issue(new PeerIdentity(Role.USER, "alice")).token();
    String idle = s.issue(new PeerIdentity(Role.USER, "alice")).token();
    for (int i = 0; i < 4; i++) {
      clock.advance(Duration.ofSeconds(70));
      assertThat(s.lookup(used)).as("used every 70 s, at %ds", 70 * (i + 1)).isPresent();
    }
    assertThat(s.lookup(idle)).as("unused for 280 s").isEmpty();
    clock.advance(Duration.ofSeconds(20)); // 300 s: the ttl
    assertThat(s.lookup(used)).as("past its ttl").isEmpty();
    assertThat(s.size()).isZero();
  }
}
