package org.lambdagrid.common.security;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * A TLS key manager that holds one identity: a certificate chain and its PKCS#8 private key,
 * read from PEM files. Handing this to gRPC instead of the two files spares the PKCS#12 key store
 * Netty otherwise builds in memory for them, whose PBKDF2 (10,000 rounds of HMAC-SHA256) was a
 * quarter of the node agent's CPU while it connected its pilots (docs/benchmarks.md section 3)
 * and a share of every {@code grc} start. Immutable and thread-safe.
 */
public final class PemKeyManager extends X509ExtendedKeyManager {
  private static final String ALIAS = "lambdagrid";
  private static final List<String> ALGORITHMS = List.of("EC", "RSA", "Ed25519", "Ed448");

  private final X509Certificate[] chain;
  private final PrivateKey key;

  private PemKeyManager(X509Certificate[] chain, PrivateKey key) {
    this.chain = chain;
    this.key = key;
  }

  /**
   * Reads the chain (leaf first) and the key ({@code -----BEGIN PRIVATE KEY-----}, PKCS#8).
   *
   * @throws GeneralSecurityException no certificate, or a key that is not PKCS#8 of a known
   *     algorithm (the message says which)
   */
  public static PemKeyManager read(Path cert, Path key) throws IOException, GeneralSecurityException {
    X509Certificate[] chain;
    try (InputStream in = Files.newInputStream(cert)) {
      chain = CertificateFactory.getInstance("X.509").generateCertificates(in).stream()
          .map(c -> (X509Certificate) c).toArray(X509Certificate[]::new);
    }
    if (chain.length == 0) {
      throw new GeneralSecurityException(cert + " holds no certificate");
    }
    return new PemKeyManager(chain, privateKey(Files.readString(key, StandardCharsets.US_ASCII)));
  }

  /** The key of a PEM {@code PRIVATE KEY} block, trying each algorithm the grid's CA may use. */
  static PrivateKey privateKey(String pem) throws GeneralSecurityException {
    String begin = "-----BEGIN PRIVATE KEY-----";
    String end = "-----END PRIVATE KEY-----";
    int b = pem.indexOf(begin);
    int e = pem.indexOf(end);
    if (b < 0 || e < b) {
      throw new GeneralSecurityException("no '" + begin + "' block (a PKCS#8 key, as"
          + " 'openssl genpkey' writes it, is needed" + (pem.contains("BEGIN EC PRIVATE KEY")
              || pem.contains("BEGIN RSA PRIVATE KEY") ? "; convert it with 'openssl pkcs8"
              + " -topk8 -nocrypt'" : "") + ")");
    }
    byte[] der;
    try {
      der = Base64.getMimeDecoder().decode(pem.substring(b + begin.length(), e));
    } catch (IllegalArgumentException x) {
      throw new GeneralSecurityException("the PRIVATE KEY block is not base64: " + x.getMessage());
    }
    PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
    for (String alg : ALGORITHMS) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(spec);
      } catch (InvalidKeySpecException x) {
        // not this algorithm: try the next
      }
    }
    throw new GeneralSecurityException("the PRIVATE KEY block is none of " + ALGORITHMS);
  }

  @Override
  public String[] getClientAliases(String keyType, Principal[] issuers) {
    return new String[] {ALIAS};
  }

  @Override
  public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
    return ALIAS;
  }

  @Override
  public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
    return ALIAS;
  }

  @Override
  public String[] getServerAliases(String keyType, Principal[] issuers) {
    return new String[] {ALIAS};
  }

  @Override
  public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
    return ALIAS;
  }

  @Override
  public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
    return ALIAS;
  }

  @Override
  public X509Certificate[] getCertificateChain(String alias) {
    return ALIAS.equals(alias) ? chain.clone() : null;
  }

  @Override
  public PrivateKey getPrivateKey(String alias) {
    return ALIAS.equals(alias) ? key : null;
  }
}
