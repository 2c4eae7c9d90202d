package org.lambdagrid.grc.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.security.PeerIdentity;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.SessionTokens;

/** Peer user -> session user, the answer's format, and the socket's lifecycle. */
class LocalLoginTest {
  static final String CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  @TempDir Path dir;

  private final SessionTokens sessions = new SessionTokens(Clock.systemUTC(), Duration.ofMinutes(5));
  private final LocalLogin login = new LocalLogin(sessions, () -> "127.0.0.1:7302", CA);

  @Test
  void aPeerGetsASessionForItsOsUserAndRootIsAnOperator() {
    LoginAnswer a = login.login("alice");
    assertThat(a.ok()).isTrue();
    assertThat(a.user()).isEqualTo("alice");
    assertThat(a.endpoint()).isEqualTo("127.0.0.1:7302");
    assertThat(a.caPem()).isEqualTo(CA);
    assertThat(sessions.lookup(a.token())).contains(new PeerIdentity(Role.USER, "alice"));
    assertThat(sessions.lookup(login.login("root").token()))
        .contains(new PeerIdentity(Role.OPERATOR, "root"));
    LoginAnswer bad = login.login("not a name");
    assertThat(bad.ok()).isFalse();
    assertThat(bad.error()).contains("not a grid user name");
  }

  @Test
  void aLoginBeyondTheSessionBoundIsRefusedWithTheReason() {
    LocalLogin bounded = new LocalLogin(new SessionTokens(Clock.systemUTC(),
        Duration.ofMinutes(5), Duration.ofMinutes(2), 100, 2), () -> "127.0.0.1:7302", CA);
    assertThat(bounded.login("alice").ok()).isTrue();
    assertThat(bounded.login("alice").ok()).isTrue();
    LoginAnswer third = bounded.login("alice");
    assertThat(third.ok()).isFalse();
    assertThat(third.error()).startsWith("alice already has 2 live sessions")
        .contains("local.max_sessions_per_user");
    assertThat(bounded.login("bob").ok()).as("another user's bound").isTrue();
  }

  @Test
  void theLocalSectionsBoundsAreReadAndChecked() {
    org.lambdagrid.grc.GrcConfig.Local l = new org.lambdagrid.grc.GrcConfig.Local(null, null, null);
    assertThat(l.maxSessions()).isEqualTo(1024);
    assertThat(l.maxSessionsPerUser()).isEqualTo(64);
    assertThat(l.sessionIdle()).isEqualTo("2m");
    assertThatThrownBy(() -> new org.lambdagrid.grc.GrcConfig.Local(null, null, null, "30s", null,
        null)).hasMessageStartingWith("session_idle: '30s' is shorter than 1m");
    assertThatThrownBy(() -> new org.lambdagrid.grc.GrcConfig.Local(null, null, null, null, 0,
        null)).hasMessage("max_sessions: '0' must be at least 1");
  }

  @Test
  void answersRoundTrip() throws IOException {
    LoginAnswer a = login.login("bob");
    LoginAnswer back = LoginAnswer.parse(new ByteArrayInputStream(
        a.format().getBytes(StandardCharsets.UTF_8)));
    assertThat(back).isEqualTo(a);
    LoginAnswer no = LoginAnswer.parse(new ByteArrayInputStream(
        LoginAnswer.refused("no\nway").format().getBytes(StandardCharsets.UTF_8)));
    assertThat(no.error()).isEqualTo("no way");
    assertThatThrownBy(() -> LoginAnswer.parse(new ByteArrayInputStream(
        "HTTP/1.1 200 OK\n".getBytes(StandardCharsets.UTF_8))))
        .hasMessageContaining("not a lambdagrid GRC");
  }

  private static LoginAnswer connect(Path socket) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      return LoginAnswer.parse(Channels.newInputStream(ch));
    }
  }

  @Test
  void theSocketAnswersThePeersUserAndIsRemovedOnClose() throws IOException {
    Path socket = dir.resolve("run").resolve("grc.sock");
    try (LocalSocket s = LocalSocket.bind(socket, login, ch -> "carol")) {
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)))
          .isEqualTo("rw-rw-rw-");
      LoginAnswer a = connect(socket);
      assertThat(a.user()).isEqualTo("carol");
      assertThat(sessions.lookup(a.token())).contains(new PeerIdentity(Role.USER, "carol"));
      assertThatThrownBy(() -> LocalSocket.bind(socket, login, ch -> "x"))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("another GRC is already answering on " + socket);
    }
    assertThat(socket).doesNotExist();
  }

  @Test
  void theRealPeerUserIsThisProcesssUser() throws IOException {
    Path socket = dir.resolve("grc.sock");
    try (LocalSocket s = LocalSocket.bind(socket, login, LocalSocket.PEERCRED)) {
      assertThat(connect(socket).user()).isEqualTo(System.getProperty("user.name"));
    }
  }

  @Test
  void aStaleSocketIsReplacedAndAWritableDirectoryRefused() throws IOException {
    Path socket = dir.resolve("grc.sock");
    Files.createFile(socket);
    try (LocalSocket s = LocalSocket.bind(socket, login, ch -> "dave")) {
      assertThat(connect(socket).user()).isEqualTo("dave");
    }
    Path open = dir.resolve("open");
    Files.createDirectory(open);
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
    assertThatThrownBy(() -> LocalSocket.bind(open.resolve("grc.sock"), login, ch -> "x"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("is writable by users other than its owner");
  }

  @Test
  void aDirectoryOwnedByAnotherUserIsRefused() throws IOException {
    org.junit.jupiter.api.Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
        "needs root to give a directory to another user");
    Path theirs = dir.resolve("theirs");
    Files.createDirectory(theirs);
    Files.setOwner(theirs, theirs.getFileSystem().getUserPrincipalLookupService()
        .lookupPrincipalByName("nobody"));
    assertThatThrownBy(() -> LocalSocket.bind(theirs.resolve("grc.sock"), login, ch -> "x"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("belongs to 'nobody', not to root or the GRC's user 'root'");
    assertThat(theirs.resolve("grc.sock")).doesNotExist();
  }
}
