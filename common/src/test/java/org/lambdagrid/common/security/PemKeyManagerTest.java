package org.lambdagrid.common.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.Signature;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The TLS identity read from PEM files as scripts/lambdagrid-ca writes them (openssl). */
class PemKeyManagerTest {
  @TempDir Path dir;

  private void openssl(String... args) throws Exception {
    org.lambdagrid.common.testing.Openssl.run(dir, args);
  }

  @Test
  void readsTheChainAndTheKeyThatSignsForItsCertificate() throws Exception {
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.key");
    openssl("req", "-x509", "-new", "-key", "k.key", "-days", "1", "-subj",
        "/O=lambdagrid/OU=crm/CN=alpha", "-out", "k.crt");
    PemKeyManager km = PemKeyManager.read(dir.resolve("k.crt"), dir.resolve("k.key"));
    String alias = km.chooseEngineClientAlias(new String[] {"EC"}, null, null);
    assertThat(km.chooseEngineServerAlias("EC", null, null)).isEqualTo(alias);
    assertThat(km.getCertificateChain(alias)).hasSize(1);
    assertThat(km.getCertificateChain(alias)[0].getSubjectX500Principal().getName())
        .contains("CN=alpha");
    assertThat(km.getPrivateKey(alias).getAlgorithm()).isEqualTo("EC");
    assertThat(km.getPrivateKey("other")).isNull();
    // The key is the certificate's: what it signs, the certificate's public key verifies.
    Signature s = Signature.getInstance("SHA256withECDSA");
    s.initSign(km.getPrivateKey(alias));
    s.update(new byte[] {1, 2, 3});
    byte[] sig = s.sign();
    s.initVerify(km.getCertificateChain(alias)[0].getPublicKey());
    s.update(new byte[] {1, 2, 3});
    assertThat(s.verify(sig)).isTrue();
  }

  @Test
  void aKeyThatIsNotPkcs8IsRefusedSayingHowToConvertIt() throws Exception {
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sec1.key");
    assertThat(Files.readString(dir.resolve("sec1.key"))).contains("BEGIN EC PRIVATE KEY");
    assertThatThrownBy(() -> PemKeyManager.privateKey(Files.readString(dir.resolve("sec1.key"))))
        .isInstanceOf(GeneralSecurityException.class)
        .hasMessageContaining("openssl pkcs8 -topk8 -nocrypt");
    assertThatThrownBy(() -> PemKeyManager.privateKey("-----BEGIN PRIVATE KEY-----\nAAAA\n"
        + "-----END PRIVATE KEY-----\n")).isInstanceOf(GeneralSecurityException.class)
        .hasMessageContaining("is none of [EC, RSA, Ed25519, Ed448]");
  }
}
