package org.lambdagrid.nsi;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import javax.net.ssl.KeyManager;
import javax.net.ssl.TrustManager;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.security.PemKeyManager;
import org.lambdagrid.common.security.Tls;

/**
 * The requester's TLS identity on the NSI network: its key and certificate (PEM, PKCS#8 key),
 * used both to dial the provider and to serve the callbacks, and the CA(s) that sign the
 * provider's certificate and the certificates allowed to call back. NSI networks run a PKI of
 * their own, separate from the grid's.
 */
public record NsiTls(Path key, Path cert, Path ca) {

  /** The files, read: one identity and one trust, shared by the endpoint and the client. */
  record Material(KeyManager[] keys, TrustManager[] trust) {}

  /**
   * Reads the key, the certificate and the CA (in that order).
   *
   * @throws NsiException naming the file that cannot be read or is not what it should be
   */
  Material read() {
    return new Material(keyManagers(), trustManagers());
  }

  KeyManager[] keyManagers() {
    try {
      return new KeyManager[] {PemKeyManager.read(cert, key)};
    } catch (IOException | GeneralSecurityException e) {
      throw new NsiException("nsi.tls: key '" + key + "' / certificate '" + cert
          + "' cannot be read: " + e.getMessage(), e);
    }
  }

  TrustManager[] trustManagers() {
    String what = "nsi.tls: ca '" + ca + "'";
    try (InputStream in = Files.newInputStream(ca)) {
      return new TrustManager[] {Tls.caTrustManager(what, in)};
    } catch (ConfigException e) { // holds no certificate
      throw new NsiException(e.getMessage(), e);
    } catch (IOException | GeneralSecurityException e) {
      throw new NsiException(what + " is not a PEM certificate file: " + e.getMessage(), e);
    }
  }
}
