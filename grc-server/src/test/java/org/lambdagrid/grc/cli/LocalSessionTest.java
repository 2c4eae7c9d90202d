package org.lambdagrid.grc.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.security.SessionTokens;
import org.lambdagrid.grc.local.LocalLogin;
import org.lambdagrid.grc.local.LocalSocket;

/** The CLI's local login: its user and token, and renewal of a session about to expire. */
class LocalSessionTest {
  @TempDir Path dir;

  @BeforeEach
  void noUserCertificate() {
    Assumptions.assumeFalse(Files.exists(Path.of(System.getProperty("user.home"), ".lambdagrid",
        "user.crt")), "a user certificate would win over the local login");
  }

  private Connection connection(Path socket) {
    return new Connection(Map.of("LAMBDAGRID_LOCAL_SOCKET", socket.toString()), "ignored");
  }

  @Test
  void aLongSessionIsKeptAndAShortOneRenewedBeforeEachCall() throws Exception {
    SessionTokens sessions = new SessionTokens(Clock.systemUTC(), Duration.ofMinutes(5));
    Path socket = dir.resolve("long.sock");
    try (LocalSocket s = LocalSocket.bind(socket, new LocalLogin(sessions, () -> "127.0.0.1:7302",
        "PEM"), ch -> "erin")) {
      Connection c = connection(socket);
      assertThat(c.me()).isEqualTo("erin");
      assertThat(c.endpoint().toString()).isEqualTo("127.0.0.1:7302");
      String t = c.bearerToken();
      assertThat(c.bearerToken()).isEqualTo(t);
      assertThat(sessions.size()).isEqualTo(1);
    }
    SessionTokens short_ = new SessionTokens(Clock.systemUTC(),
        Connection.RENEW_BEFORE.minusSeconds(1));
    Path socket2 = dir.resolve("short.sock");
    try (LocalSocket s = LocalSocket.bind(socket2, new LocalLogin(short_, () -> "127.0.0.1:7302",
        "PEM"), ch -> "erin")) {
      Connection c = connection(socket2);
      String t = c.bearerToken();
      String renewed = c.bearerToken();
      assertThat(renewed).isNotEqualTo(t);
      assertThat(short_.lookup(renewed)).isPresent();
    }
  }
}
