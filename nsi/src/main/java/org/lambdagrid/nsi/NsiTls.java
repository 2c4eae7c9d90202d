package org.lambdagrid.nsi;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collection;
import javax.net.ssl.KeyManager;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import org.lambdagrid.common.security.PemKeyManager;

/**
 * The requester's TLS identity on the NSI network: its key and certificate (PEM, PKCS#8 key),
 * used both to dial the provider and to serve the callbacks, and the CA(s) that sign the
 * provider's certificate and the certificates allowed to call back. NSI networks run a PKI of
 * their own, separate from the grid's.
 */
public record NsiTls(Path key, Path cert, Path ca) {

  KeyManager[] keyManagers() {
    try {
      return new KeyManager[] {PemKeyManager.read(cert, key)};
    } catch (IOException | GeneralSecurityException e) {
      throw new NsiException("nsi.tls: key '" + key + "' / certificate '" + cert
          + "' cannot be read: " + e.getMessage(), e);
    }
  }

  TrustManager[] trustManagers() {
    try (InputStream in = Files.newInputStream(ca)) {
      Collection<? extends Certificate> cas =
          CertificateFactory.getInstance("X.509").generateCertificates(in);
      if (cas.isEmpty()) {
        throw new NsiException("nsi.tls: ca '" + ca + "' holds no certificate");
      }
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      int i = 0;
      for (Certificate c : cas) {
        store.setCertificateEntry("nsi-ca-" + i++, c);
      }
      TrustManagerFactory f = TrustManagerFactory.getInstance("PKIX");
      f.init(store);
      return f.getTrustManagers();
    } catch (IOException | GeneralSecurityException e) {
      throw new NsiException("nsi.tls: ca '" + ca + "' is not a PEM certificate file: "
          + e.getMessage(), e);
    }
  }
}
