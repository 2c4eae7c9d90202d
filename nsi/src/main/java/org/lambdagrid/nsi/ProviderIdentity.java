package org.lambdagrid.nsi;

import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Locale;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import org.apache.cxf.interceptor.Fault;
import org.apache.cxf.message.Message;
import org.apache.cxf.phase.AbstractPhaseInterceptor;
import org.apache.cxf.phase.Phase;
import org.apache.cxf.security.transport.TLSSessionInfo;

/**
 * Pins the requester endpoint to the provider: a callback is accepted only over TLS from a
 * client certificate issued for the provider URL's host (a subjectAltName DNS or IP entry equal
 * to it; the CN only when the certificate has no subjectAltName), not any certificate the CA
 * signed. Anything else is refused before the endpoint sees it.
 */
final class ProviderIdentity extends AbstractPhaseInterceptor<Message> {
  private final String host;

  ProviderIdentity(String host) {
    super(Phase.PRE_INVOKE);
    this.host = host;
  }

  @Override
  public void handleMessage(Message message) {
    TLSSessionInfo tls = message.get(TLSSessionInfo.class);
    Certificate[] peer = tls == null ? null : tls.getPeerCertificates();
    if (peer == null || peer.length == 0 || !(peer[0] instanceof X509Certificate leaf)) {
      throw new Fault(new SecurityException("NSI callback without a client certificate"));
    }
    if (!matches(leaf, host)) {
      throw new Fault(new SecurityException("NSI callback from "
          + leaf.getSubjectX500Principal().getName() + ": its certificate is not for the"
          + " provider's host " + host + " (nsi provider_url)"));
    }
  }

  /** Whether {@code cert} names {@code host} (see the class comment). */
  static boolean matches(X509Certificate cert, String host) {
    String want = strip(host).toLowerCase(Locale.ROOT);
    java.util.Collection<List<?>> sans;
    try {
      sans = cert.getSubjectAlternativeNames();
    } catch (CertificateParsingException e) {
      return false;
    }
    if (sans != null && !sans.isEmpty()) {
      for (List<?> san : sans) {
        int type = (Integer) san.get(0);
        if ((type == 2 || type == 7) && want.equals(strip(String.valueOf(san.get(1)))
            .toLowerCase(Locale.ROOT))) {
          return true;
        }
      }
      return false;
    }
    try {
      for (Rdn rdn : new LdapName(cert.getSubjectX500Principal().getName()).getRdns()) {
        if (rdn.getType().equalsIgnoreCase("CN")
            && want.equals(String.valueOf(rdn.getValue()).toLowerCase(Locale.ROOT))) {
          return true;
        }
      }
    } catch (InvalidNameException e) {
      return false;
    }
    return false;
  }

  private static String strip(String h) {
    return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
  }
}
