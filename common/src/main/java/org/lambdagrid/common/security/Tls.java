package org.lambdagrid.common.security;

import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collection;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.lambdagrid.common.ConfigException;

/**
 * gRPC credentials from a {@link TlsConfig}: mutual TLS with the grid's CA, or plaintext when the
 * config says {@code insecure: true}. Errors are {@link ConfigException}s naming the field and
 * the file, e.g. {@code crm.yaml: tls.key: '/etc/x.key' cannot be read: ...}.
 */
public final class Tls {
  private Tls() {}

  /**
   * A server's credentials: its certificate, and client certificates REQUIRED and verified
   * against the CA (expired or foreign ones fail the handshake). What each role may call is
   * decided afterwards, per call, by {@link RoleAuthorizer}.
   */
  public static ServerCredentials serverCredentials(String source, TlsConfig tls) {
    if (tls.isInsecure()) {
      return InsecureServerCredentials.create();
    }
    TrustManager[] trust = {trustManager(source, tls, null, null)};
    try {
      return TlsServerCredentials.newBuilder()
          .keyManager(keyManager(source, tls))
          .trustManager(trust)
          .clientAuth(TlsServerCredentials.ClientAuth.REQUIRE)
          .build();
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      throw new ConfigException(source + ": tls.cert/tls.key: not a usable certificate and"
          + " PKCS#8 key: " + e.getMessage(), e);
    }
  }

  /**
   * A server's credentials without client certificates: for a port whose callers authenticate
   * per call ({@link TokenAuthenticator}). Plaintext if {@code tls} says insecure.
   */
  public static ServerCredentials serverOnlyCredentials(String source, TlsConfig tls) {
    if (tls.isInsecure()) {
      return InsecureServerCredentials.create();
    }
    try {
      return TlsServerCredentials.newBuilder()
          .keyManager(keyManager(source, tls))
          .clientAuth(TlsServerCredentials.ClientAuth.NONE)
          .build();
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      throw new ConfigException(source + ": tls.cert/tls.key: not a usable certificate and"
          + " PKCS#8 key: " + e.getMessage(), e);
    }
  }

  /**
   * A client's credentials: its certificate, the CA, the server's host name checked against the
   * subjectAltName of the server's certificate, and the server's role (and name, if given)
   * checked against its subject, so that, say, a CRM cannot pose as the GRC.
   *
   * @param serverRole the role the dialled server must have
   * @param serverName the CN it must have, or null for any
   */
  public static ChannelCredentials channelCredentials(String source, TlsConfig tls,
      Role serverRole, String serverName) {
    if (tls.isInsecure()) {
      return InsecureChannelCredentials.create();
    }
    try {
      return TlsChannelCredentials.newBuilder()
          .keyManager(keyManager(source, tls))
          .trustManager(trustManager(source, tls, serverRole, serverName))
          .build();
    } catch (IOException | GeneralSecurityException | RuntimeException e) {
      throw new ConfigException(source + ": tls.cert/tls.key: not a usable certificate and"
          + " PKCS#8 key: " + e.getMessage(), e);
    }
  }

  /** The identity in this daemon's own certificate ({@code tls.cert}). */
  public static PeerIdentity identity(String source, TlsConfig tls) {
    File f = readable(source, "cert", tls.cert());
    try (InputStream in = Files.newInputStream(f.toPath())) {
      return PeerIdentity.of((X509Certificate) CertificateFactory.getInstance("X.509")
          .generateCertificate(in));
    } catch (IOException | GeneralSecurityException | IllegalArgumentException e) {
      throw new ConfigException(source + ": tls.cert: '" + tls.cert() + "': " + e.getMessage(), e);
    }
  }

  /** This daemon's or user's own identity (tls.cert, tls.key), for every credential above. */
  private static PemKeyManager keyManager(String source, TlsConfig tls)
      throws IOException, GeneralSecurityException {
    return PemKeyManager.read(readable(source, "cert", tls.cert()).toPath(),
        readable(source, "key", tls.key()).toPath());
  }

  private static File readable(String source, String field, String path) {
    Path p = Path.of(path);
    if (!Files.isReadable(p)) {
      throw new ConfigException(source + ": tls." + field + ": '" + path + "' "
          + (Files.exists(p) ? "is not readable by this user" : "does not exist"));
    }
    return p.toFile();
  }

  /**
   * A client's credentials without a client certificate, for a token port: the server is
   * verified against the CA certificates in {@code caPem} (chain, validity, host name against its
   * subjectAltName) and must present a certificate of {@code serverRole}.
   *
   * @param source names where the CA came from in errors (a file, or the local socket)
   * @throws ConfigException if {@code caPem} holds no usable certificate
   */
  public static ChannelCredentials tokenChannelCredentials(String source, byte[] caPem,
      Role serverRole) {
    try {
      return TlsChannelCredentials.newBuilder()
          .trustManager(trustManager(source, new java.io.ByteArrayInputStream(caPem), serverRole,
              null))
          .build();
    } catch (IOException | GeneralSecurityException e) {
      throw new ConfigException(source + ": not a PEM certificate file: " + e.getMessage(), e);
    }
  }

  /** PKIX trust in every certificate of the CA file, plus the server check for clients. */
  private static X509ExtendedTrustManager trustManager(String source, TlsConfig tls,
      Role serverRole, String serverName) {
    File caFile = readable(source, "ca", tls.ca());
    try (InputStream in = Files.newInputStream(caFile.toPath())) {
      return trustManager(source + ": tls.ca: '" + tls.ca() + "'", in, serverRole, serverName);
    } catch (IOException | GeneralSecurityException e) {
      throw new ConfigException(source + ": tls.ca: '" + tls.ca() + "' is not a PEM certificate"
          + " file: " + e.getMessage(), e);
    }
  }

  private static X509ExtendedTrustManager trustManager(String what, InputStream in,
      Role serverRole, String serverName) throws IOException, GeneralSecurityException {
    X509ExtendedTrustManager x = caTrustManager(what, in);
    return serverRole == null ? x : new ServerCheck(x, serverRole, serverName);
  }

  /**
   * PKIX trust in every certificate of the PEM stream {@code in} (chain and validity only, no
   * check of the peer's role): for a PKI of its own, such as an NSI network's.
   *
   * @param what names the CA's source in the error, e.g. {@code nsi.tls: ca '/etc/nsi-ca.pem'}
   * @throws ConfigException {@code "<what> holds no certificate"} when the stream is empty
   * @throws GeneralSecurityException when it is not PEM (or DER) certificates
   */
  public static X509ExtendedTrustManager caTrustManager(String what, InputStream in)
      throws IOException, GeneralSecurityException {
    Collection<? extends Certificate> cas = CertificateFactory.getInstance("X.509")
        .generateCertificates(in);
    if (cas.isEmpty()) {
      throw new ConfigException(what + " holds no certificate");
    }
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    store.load(null, null);
    int i = 0;
    for (Certificate c : cas) {
      store.setCertificateEntry("ca-" + i++, c);
    }
    TrustManagerFactory f = TrustManagerFactory.getInstance("PKIX");
    f.init(store);
    for (TrustManager tm : f.getTrustManagers()) {
      if (tm instanceof X509ExtendedTrustManager x) {
        return x;
      }
    }
    throw new IllegalStateException("no X509 trust manager in this JDK");
  }

  /**
   * Verifies as the JDK does (chain to the CA, validity, and, because gRPC asks for it, the
   * host name against the subjectAltName), then checks the server's role and name.
   */
  static final class ServerCheck extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager pkix;
    private final Role role;
    private final String name;

    ServerCheck(X509ExtendedTrustManager pkix, Role role, String name) {
      this.pkix = pkix;
      this.role = role;
      this.name = name;
    }

    private void checkIdentity(X509Certificate[] chain) throws CertificateException {
      PeerIdentity peer;
      try {
        peer = PeerIdentity.of(chain[0]);
      } catch (IllegalArgumentException e) {
        throw new CertificateException("the server's " + e.getMessage());
      }
      if (peer.role() != role || (name != null && !name.equals(peer.name()))) {
        throw new CertificateException("the server presented a certificate of " + peer
            + "; expected " + role.ou() + (name == null ? "" : " '" + name + "'"));
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      pkix.checkServerTrusted(chain, authType, engine);
      checkIdentity(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      pkix.checkServerTrusted(chain, authType, socket);
      checkIdentity(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      pkix.checkServerTrusted(chain, authType);
      checkIdentity(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      pkix.checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      pkix.checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      pkix.checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return pkix.getAcceptedIssuers();
    }
  }
}
