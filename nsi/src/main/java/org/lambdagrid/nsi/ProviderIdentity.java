package org.lambdagrid.nsi;

import java.net.InetAddress;
import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import javax.net.ssl.HostnameVerifier;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.apache.cxf.interceptor.Fault;
import org.apache.cxf.message.Message;
import org.apache.cxf.phase.AbstractPhaseInterceptor;
import org.apache.cxf.phase.Phase;
import org.apache.cxf.security.transport.TLSSessionInfo;
import org.lambdagrid.common.IpLiteral;

/**
 * Pins the requester endpoint to the provider: a callback is accepted only over TLS from a
 * client certificate issued for one of the provider's names, not any certificate the CA
 * signed. The names are {@code provider_identity} when configured, else the provider URL's
 * host. A certificate names a name only when a subjectAltName DNS or IP entry equals it
 * (exactly, case-insensitive, IP addresses compared as addresses; no wildcards; the CN is never
 * used). Anything else is refused before the endpoint sees it.
 */
final class ProviderIdentity extends AbstractPhaseInterceptor<Message> {
  private static final org.slf4j.Logger log =
      org.slf4j.LoggerFactory.getLogger(ProviderIdentity.class);
  private final List<String> names;
  private final String why;

  /**
   * @param names what the provider's certificate must name (one of)
   * @param why where they come from, for the refusal (e.g. "nsi.provider_identity")
   * @throws IllegalArgumentException if one is meant as an IP address and is not one
   */
  ProviderIdentity(List<String> names, String why) {
    super(Phase.PRE_INVOKE);
    this.names = checked(names);
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
    if (sans == null) {
      return false;
    }
    for (List<?> san : sans) {
      int type = (Integer) san.get(0);
      String value = strip(String.valueOf(san.get(1))).toLowerCase(Locale.ROOT);
      if (type == 2 && wantIp == null && want.equals(value)) {
        return true;
      }
      if (type == 7 && wantIp != null && wantIp.equals(IpLiteral.tryParse(value))) {
        return true;
      }
    }
    return false;
  }

  /**
   * An IPv4 or IPv6 literal as an address, null for a DNS name; never a name lookup.
   *
   * @throws IllegalArgumentException naming {@code s}, if it is meant as an address (only digits
   *     and dots, or a ':') and is not one, e.g. {@code 999.1.1.1}
   */
  static InetAddress literal(String s) {
    return IpLiteral.looksLikeOne(s) ? IpLiteral.parse(s) : null;
  }

  /**
   * {@code names}, once none is a malformed IP literal.
   *
   * @throws IllegalArgumentException naming the first that is (see {@link #literal})
   */
  static List<String> checked(List<String> names) {
    names.forEach(n -> literal(strip(n)));
    return List.copyOf(names);
  }

  private static String strip(String h) {
    return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
  }

  /**
   * The check of the provider's certificate when dialing it with {@code provider_identity} set:
   * the leaf must name one of {@code names}, whatever host the URL dials. CXF prefers a
   * configured verifier to its own check of the URL host (both in the trust-manager wrapper
   * its HttpClient conduit installs and on the URLConnection path), so this replaces that
   * rule; the chain is still validated by the trust managers (CA, validity, key usage,
   * algorithms) before this runs.
   */
  static HostnameVerifier verifier(List<String> names, String why) {
    List<String> want = checked(names);
    return (host, session) -> {
      Certificate[] peer;
      try {
        peer = session.getPeerCertificates();
      } catch (SSLPeerUnverifiedException e) {
        return false;
      }
      if (peer.length > 0 && peer[0] instanceof X509Certificate leaf && matchesAny(leaf, want)) {
        return true;
      }
      log.warn("dialing the NSI provider at {}: its certificate {} names none of {} ({})", host,
          peer.length > 0 && peer[0] instanceof X509Certificate leaf
              ? leaf.getSubjectX500Principal().getName() : "(none)", want, why);
      return false;
    };
  }
}
