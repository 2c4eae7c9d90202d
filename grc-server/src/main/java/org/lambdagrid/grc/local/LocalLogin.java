package org.lambdagrid.grc.local;

import java.util.function.Supplier;
import org.lambdagrid.common.security.PeerIdentity;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.SessionTokens;

/**
 * Who a local peer becomes: the OS user the kernel reports for the socket's peer (SO_PEERCRED)
 * gets a session token for the {@code user} of that name; {@code root} gets an
 * {@code operator} session named root (root can read the GRC's key and tokens anyway, and the
 * GRC never runs jobs as root). A name that is not a grid user name is refused, and so is a
 * login beyond the session bounds ({@link SessionTokens}). Thread-safe.
 */
public final class LocalLogin {
  private static final String NAME = "[A-Za-z_][A-Za-z0-9_.@-]{0,63}";

  private final SessionTokens sessions;
  private final Supplier<String> endpoint;
  private final String caPem;

  /**
   * @param endpoint the token port's host:port the client dials (known once it is bound)
   * @param caPem the CA certificates the client must trust for it
   */
  public LocalLogin(SessionTokens sessions, Supplier<String> endpoint, String caPem) {
    this.sessions = sessions;
    this.endpoint = endpoint;
    this.caPem = caPem;
  }

  /** The identity a peer with OS user {@code peerUser} gets on the token port. */
  static PeerIdentity identity(String peerUser) {
    if (peerUser == null || !peerUser.matches(NAME)) {
      throw new IllegalArgumentException("your OS user '" + peerUser + "' is not a grid user name");
    }
    return new PeerIdentity("root".equals(peerUser) ? Role.OPERATOR : Role.USER, peerUser);
  }

  /** The answer for a peer whose OS user is {@code peerUser}. */
  public LoginAnswer login(String peerUser) {
    PeerIdentity who;
    try {
      who = identity(peerUser);
    } catch (IllegalArgumentException e) {
      return LoginAnswer.refused(e.getMessage());
    }
    SessionTokens.Session s;
    try {
      s = sessions.issue(who);
    } catch (SessionTokens.LimitException e) {
      return LoginAnswer.refused(e.getMessage());
    }
    return LoginAnswer.ok(who.name(), s.token(), s.expires(), endpoint.get(), caPem);
  }
}
