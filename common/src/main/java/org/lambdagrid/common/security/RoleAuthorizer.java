package org.lambdagrid.common.security;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Authorization by role, the one server interceptor every daemon installs: each gRPC service is
 * open to the roles its rule names (and, for a bound rule, only to certificates whose CN is the
 * given name); every other service is closed. Health and reflection are open to every role.
 *
 * <p>Calls that did not come over TLS carry no certificate and pass unchecked: the in-process
 * transport (tests) and daemons configured {@code tls: {insecure: true}}. A TLS server only ever
 * receives TLS calls, and the handshake already refused clients without a certificate of the
 * grid's CA, so here a call is refused only for its role: {@code PERMISSION_DENIED}, or
 * {@code UNAUTHENTICATED} for a certificate whose subject is not a lambdagrid identity.
 *
 * <p>Inside an admitted call, {@link PeerIdentity#current()} is the caller. Thread-safe;
 * immutable after {@link Builder#build()}.
 */
public final class RoleAuthorizer implements ServerInterceptor {
  private static final Logger log = LoggerFactory.getLogger(RoleAuthorizer.class);
  private static final List<String> OPEN_TO_ALL = List.of("grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection");

  private final Map<String, Rule> rules;

  private RoleAuthorizer(Map<String, Rule> rules) {
    this.rules = rules;
  }

  /** Every service open to every certificate of the grid's CA (tests, tools). */
  public static RoleAuthorizer anyRole() {
    return new RoleAuthorizer(null);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Who may call one service. */
  private record Rule(Set<Role> roles, String boundName) {
    boolean admits(PeerIdentity peer) {
      return roles.contains(peer.role()) && (boundName == null || boundName.equals(peer.name()));
    }

    String describe() {
      String r = roles.stream().map(Role::ou).collect(Collectors.joining(" or "));
      return (r.startsWith("operator") ? "an " : "a ") + r + " certificate"
          + (boundName == null ? "" : " for '" + boundName + "'");
    }
  }

  public static final class Builder {
    private final Map<String, Rule> rules = new HashMap<>();

    private Builder() {
      OPEN_TO_ALL.forEach(s -> rules.put(s, new Rule(EnumSet.allOf(Role.class), null)));
    }

    /** Opens {@code service} (full name, e.g. {@code lambdagrid.v1.GridService}) to roles. */
    public Builder allow(String service, Role first, Role... more) {
      rules.put(service, new Rule(EnumSet.of(first, more), null));
      return this;
    }

    /** Opens {@code service} only to {@code role} certificates whose CN is {@code name}. */
    public Builder allowBound(String service, Role role, String name) {
      rules.put(service, new Rule(EnumSet.of(role), name));
      return this;
    }

    public RoleAuthorizer build() {
      return new RoleAuthorizer(Map.copyOf(rules));
    }
  }

  @Override
  public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
      ServerCallHandler<Q, A> next) {
    SSLSession ssl = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (ssl == null) {
      return next.startCall(call, headers);
    }
    String method = call.getMethodDescriptor().getFullMethodName();
    Object remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
    PeerIdentity peer;
    try {
      Certificate[] chain = ssl.getPeerCertificates();
      peer = PeerIdentity.of((X509Certificate) chain[0]);
    } catch (SSLPeerUnverifiedException e) {
      return refuse(call, Status.UNAUTHENTICATED, "no client certificate: every call needs a"
          + " certificate of the grid's CA", remote);
    } catch (IllegalArgumentException | ClassCastException e) {
      return refuse(call, Status.UNAUTHENTICATED, "the client " + e.getMessage(), remote);
    }
    if (rules != null) {
      String service = call.getMethodDescriptor().getServiceName();
      Rule rule = rules.get(service);
      if (rule == null) {
        return refuse(call, Status.PERMISSION_DENIED, method + " is not open to any certificate;"
            + " the caller presented " + peer, remote);
      }
      if (!rule.admits(peer)) {
        return refuse(call, Status.PERMISSION_DENIED, service + " needs " + rule.describe()
            + "; the caller presented " + peer, remote);
      }
    }
    Context ctx = Context.current().withValue(PeerIdentity.KEY, peer);
    return Contexts.interceptCall(ctx, call, headers, next);
  }

  /** Logs and closes a refused call with {@code status} and {@code why}; shared by the authenticators. */
  static <Q, A> ServerCall.Listener<Q> refuse(ServerCall<Q, A> call, Status status,
      String why, Object remote) {
    log.warn("refused {} from {}: {}: {}", call.getMethodDescriptor().getFullMethodName(), remote,
        status.getCode(), why);
    call.close(status.withDescription(why), new Metadata());
    return new ServerCall.Listener<>() { };
  }
}
