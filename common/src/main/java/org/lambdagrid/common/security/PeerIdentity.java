package org.lambdagrid.common.security;

import io.grpc.Context;
import java.security.cert.X509Certificate;
import java.util.HashMap;
import java.util.Map;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * Who is on the other end of a TLS link, from the subject of its certificate:
 * {@code O=lambdagrid, OU=<role>, CN=<name>} (the scheme {@code scripts/lambdagrid-ca} issues).
 *
 * <p>On a server, {@link RoleAuthorizer} puts the caller's identity into the gRPC
 * {@link Context}; {@link #current()} returns it inside a call, or null when the call did not
 * come over TLS (in-process transport, or a daemon configured {@code tls: {insecure: true}}).
 */
public record PeerIdentity(Role role, String name) {
  static final Context.Key<PeerIdentity> KEY = Context.key("lambdagrid-peer");
  public static final String ORGANIZATION = "lambdagrid";

  /** The caller of the current call, or null without TLS. */
  public static PeerIdentity current() {
    return KEY.get();
  }

  /**
   * Reads the identity from a certificate's subject.
   *
   * @throws IllegalArgumentException naming what is missing, e.g. "certificate subject
   *     'CN=x' has no OU=<role> (grc, crm, nodemanager, user, operator)"
   */
  public static PeerIdentity of(X509Certificate cert) {
    String subject = cert.getSubjectX500Principal().getName();
    Map<String, String> rdns = new HashMap<>();
    try {
      for (Rdn rdn : new LdapName(subject).getRdns()) {
        if (rdns.putIfAbsent(rdn.getType().toUpperCase(), String.valueOf(rdn.getValue())) != null) {
          throw new IllegalArgumentException("certificate subject '" + subject + "' has more than"
              + " one " + rdn.getType());
        }
      }
    } catch (InvalidNameException e) {
      throw new IllegalArgumentException("certificate subject '" + subject + "' is not readable");
    }
    if (!ORGANIZATION.equals(rdns.get("O"))) {
      throw new IllegalArgumentException("certificate subject '" + subject + "' is not O="
          + ORGANIZATION);
    }
    Role role = Role.fromOu(rdns.get("OU"));
    if (role == null) {
      throw new IllegalArgumentException("certificate subject '" + subject + "' has no OU=<role>"
          + " (grc, crm, nodemanager, user, operator)");
    }
    String name = rdns.get("CN");
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("certificate subject '" + subject + "' has no CN");
    }
    return new PeerIdentity(role, name);
  }

  @Override
  public String toString() {
    return role.ou() + " '" + name + "'";
  }
}
