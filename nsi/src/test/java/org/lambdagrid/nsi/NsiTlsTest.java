package org.lambdagrid.nsi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The NSI network's CA file: trusted as given, or refused with the field and the file named. */
class NsiTlsTest {
  @TempDir Path dir;

  private X509Certificate selfSigned(String dname) throws Exception {
    Path ks = dir.resolve("ca.p12");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool")
        .toString(), "-genkeypair", "-alias", "x", "-keyalg", "EC", "-dname", dname,
        "-keystore", ks.toString(), "-storepass", "changeit", "-storetype", "PKCS12")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as(out).isZero();
    KeyStore k = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(ks.toFile())) {
      k.load(in, "changeit".toCharArray());
    }
    return (X509Certificate) k.getCertificate("x");
  }

  private Path pem(String name, X509Certificate... certs) throws Exception {
    StringBuilder s = new StringBuilder();
    for (X509Certificate c : certs) {
      s.append("-----BEGIN CERTIFICATE-----\n")
          .append(Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(c.getEncoded()))
          .append("\n-----END CERTIFICATE-----\n");
    }
    return Files.writeString(dir.resolve(name), s);
  }

  @Test
  void theCaFileIsTheOnlyIssuerTrusted() throws Exception {
    X509Certificate ca = selfSigned("CN=nsi-ca");
    TrustManager[] tms = new NsiTls(dir, dir, pem("ca.pem", ca)).trustManagers();
    assertThat(tms).singleElement().isInstanceOf(X509TrustManager.class);
    assertThat(List.of(((X509TrustManager) tms[0]).getAcceptedIssuers())).containsExactly(ca);
  }

  @Test
  void anEmptyCaFileIsRefusedNamingIt() throws Exception {
    Path empty = Files.writeString(dir.resolve("empty.pem"), "");
    assertThatThrownBy(() -> new NsiTls(dir, dir, empty).trustManagers())
        .isInstanceOf(NsiException.class)
        .hasMessage("nsi.tls: ca '" + empty + "' holds no certificate");
  }

  @Test
  void aCaFileThatIsNoCertificateIsRefusedNamingIt() throws Exception {
    Path junk = Files.writeString(dir.resolve("junk.pem"),
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
    assertThatThrownBy(() -> new NsiTls(dir, dir, junk).trustManagers())
        .isInstanceOf(NsiException.class)
        .hasMessageStartingWith("nsi.tls: ca '" + junk + "' is not a PEM certificate file: ");
  }
}
