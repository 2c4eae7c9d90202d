package org.lambdagrid.nsi;

import java.net.InetAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;
import org.apache.cxf.interceptor.Fault;
import org.apache.cxf.message.Message;
import org.apache.cxf.phase.AbstractPhaseInterceptor;
import org.apache.cxf.phase.Phase;
import org.apache.cxf.security.transport.TLSSessionInfo;

/**
 * Pins the requester endpoint to the provider: a callback is accepted only over TLS from a
 * client certificate issued for one of the provider's names, not any certificate the CA
 * signed. The names are {@code provider_identity} when configured, else the provider URL's
 * host. A certificate names a name when a subjectAltName DNS or IP entry equals it (exactly,
 * case-insensitive, IP addresses compared as addresses; no wildcards), or, only when the
 * certificate has no subjectAltName, its CN does. Anything else is refused before the endpoint
 * sees it.
 */
final class ProviderIdentity extends AbstractPhaseInterceptor<Message> {
  private final List<String> names;
  private final String why;

  /**
   * @param names what the provider's certificate must name (one of)
   * @param why where they come from, for the refusal (e.g. "nsi.provider_identity")
   */
  ProviderIdentity(List<String> names, String why) {
    super(Phase.PRE_INVOKE);
    this.names = List.copyOf(names);
    this.why = why;
  }

  @Override
  public void handleMessage(Message message) {
    TLSSessionInfo tls = message.get(TLSSessionInfo.class);
    Certificate[] peer = tls == null ? null : tls.getPeerCertificates();
    if (peer == null || peer.length == 0 || !(peer[0] instanceof X509Certificate leaf)) {
      throw new Fault(new SecurityException("NSI callback without a client certificate"));
    }
    if (!matchesAny(leaf, names)) {
      throw new Fault(new SecurityException("NSI callback from "
          + leaf.getSubjectX500Principal().getName() + ": its certificate names none of "
          + names + " (" + why + ")"));
    }
  }

  static boolean matchesAny(X509Certificate cert, List<String> names) {
    return names.stream().anyMatch(n -> matches(cert, n));
  }

  /** Whether {@code cert} names {@code host} (see the class comment). */
  static boolean matches(X509Certificate cert, String host) {
    String want = strip(host).toLowerCase(Locale.ROOT);
    InetAddress wantIp = literal(want);
    Collection<List<?>> sans;
    try {
      sans = cert.getSubjectAlternativeNames();
    } catch (CertificateParsingException e) {
      return false;
    }
    if (sans != null && !sans.isEmpty()) {
      for (List<?> san : sans) {
        int type = (Integer) san.get(0);
        String value = strip(String.valueOf(san.get(1))).toLowerCase(Locale.ROOT);
        if (type == 2 && wantIp == null && want.equals(value)) {
          return true;
        }
        if (type == 7 && wantIp != null && wantIp.equals(literal(value))) {
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

  /** An IPv4 or IPv6 literal as an address (never a name lookup), else null. */
  static InetAddress literal(String s) {
    if (!s.contains(":") && !s.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}")) {
      return null;
    }
    try {
      return InetAddress.getByName(s);
    } catch (UnknownHostException e) {
      return null;
    }
  }

  private static String strip(String h) {
    return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
  }

  /**
   * {@code tms} with the server's identity checked against {@code names} instead of the URL's
   * host: the chain is validated by the wrapped trust manager as before (CA, validity, key
   * usage, algorithms), then the leaf must name one of {@code names}. The TLS layer's own check
   * of the URL host (endpoint identification) is the one this replaces.
   */
  static TrustManager[] checkingServer(TrustManager[] tms, List<String> names, String why) {
    TrustManager[] out = tms.clone();
    for (int i = 0; i < out.length; i++) {
      if (out[i] instanceof X509ExtendedTrustManager x) {
        out[i] = new ServerNames(x, List.copyOf(names), why);
      }
    }
    return out;
  }

  private static final class ServerNames extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager delegate;
    private final List<String> names;
    private final String why;

    ServerNames(X509ExtendedTrustManager delegate, List<String> names, String why) {
      this.delegate = delegate;
      this.names = names;
      this.why = why;
    }

    private void check(X509Certificate[] chain, String authType) throws CertificateException {
      delegate.checkServerTrusted(chain, authType);
      if (!matchesAny(chain[0], names)) {
        throw new CertificateException("the NSI provider's certificate "
            + chain[0].getSubjectX500Principal().getName() + " names none of " + names + " ("
            + why + ")");
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      delegate.checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      delegate.checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      delegate.checkClientTrusted(chain, authType, engine);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return delegate.getAcceptedIssuers();
    }
  }
}
