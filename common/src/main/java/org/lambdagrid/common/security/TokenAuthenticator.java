package org.lambdagrid.common.security;

import static org.lambdagrid.common.security.RoleAuthorizer.refuse;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Optional;
import java.util.Set;

/**
 * The interceptor of a port where callers authenticate with an operator-issued bearer token
 * ({@code authorization: Bearer lgt_...}) or a local login's session token ({@code lgs_...},
 * {@link SessionTokens}) instead of a client certificate. The port is TLS
 * without client certificates ({@link Tls#serverOnlyCredentials}); only the listed services
 * (plus health) are open on it. A call without a token, or with an unknown or revoked one, is
 * {@code UNAUTHENTICATED}; another service is {@code PERMISSION_DENIED}. Inside an admitted call
 * {@link PeerIdentity#current()} is the token's user or operator, exactly as with a certificate,
 * so per-user checks apply unchanged. Thread-safe.
 */
public final class TokenAuthenticator implements ServerInterceptor {
  public static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final BearerTokens tokens;
  private final SessionTokens sessions; // null: no local login
  private final Set<String> services;

  /** @param services full service names open to token holders, e.g. lambdagrid.v1.GridService */
  public TokenAuthenticator(BearerTokens tokens, Set<String> services) {
    this(tokens, null, services);
  }

  /**
   * Also admits the in-memory, expiring session tokens of {@code sessions} (local login), exactly
   * like issued ones; null for none.
   */
  public TokenAuthenticator(BearerTokens tokens, SessionTokens sessions, Set<String> services) {
    this.tokens = tokens;
    this.sessions = sessions;
    this.services = Set.copyOf(services);
  }

  @Override
  public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
      ServerCallHandler<Q, A> next) {
    String service = call.getMethodDescriptor().getServiceName();
    Object remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
    if (!services.contains(service) && !"grpc.health.v1.Health".equals(service)) {
      return refuse(call, Status.PERMISSION_DENIED, service + " is not open on the token port",
          remote);
    }
    String auth = headers.get(AUTHORIZATION);
    if (auth == null || !auth.startsWith("Bearer ")) {
      return refuse(call, Status.UNAUTHENTICATED, "this port needs an operator-issued token:"
          + " send 'authorization: Bearer <token>'", remote);
    }
    String token = auth.substring("Bearer ".length()).strip();
    Optional<PeerIdentity> peer = token.startsWith(SessionTokens.PREFIX)
        ? (sessions == null ? Optional.empty() : sessions.lookup(token))
        : tokens.lookup(token);
    if (peer.isEmpty()) {
      return refuse(call, Status.UNAUTHENTICATED, token.startsWith(SessionTokens.PREFIX)
          ? "unknown or expired session token (log in again through the local socket)"
          : "unknown or revoked token", remote);
    }
    Context ctx = Context.current().withValue(PeerIdentity.KEY, peer.get());
    return Contexts.interceptCall(ctx, call, headers, next);
  }
}
