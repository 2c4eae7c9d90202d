package org.lambdagrid.common.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.ConfigLoader;

class TlsConfigTest {
  record Daemon(TlsConfig tls) {}

  private static TlsConfig parse(String yaml) {
    return ConfigLoader.parse("d.yaml", yaml, Daemon.class).tls();
  }

  @Test
  void aFullSectionIsTls() {
    TlsConfig t = parse("tls: {ca: a.crt, cert: d.crt, key: d.key}");
    assertThat(t.isInsecure()).isFalse();
    assertThat(t.cert()).isEqualTo("d.crt");
  }

  @Test
  void insecureAloneIsPlaintext() {
    assertThat(parse("tls: {insecure: true}").isInsecure()).isTrue();
  }

  @Test
  void aMissingFileFieldIsNamed() {
    assertThatThrownBy(() -> parse("tls: {ca: a.crt, cert: d.crt}"))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("d.yaml: tls: key: is required");
  }

  @Test
  void insecureWithCertificatesIsRefused() {
    assertThatThrownBy(() -> parse("tls: {insecure: true, ca: a.crt}"))
        .hasMessageContaining("insecure: true runs without TLS");
  }

  @Test
  void noSectionAtAllStopsTheDaemonNamingTheField() {
    assertThatThrownBy(() -> TlsConfig.require("crm.yaml", parse("{}")))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("crm.yaml: tls: is required")
        .hasMessageContaining("insecure: true");
  }

  @Test
  void missingCertificateFilesAreNamedWhenTheCredentialsAreBuilt() {
    TlsConfig t = new TlsConfig("/nonexistent/ca.crt", "/nonexistent/d.crt", "/nonexistent/d.key",
        false);
    assertThatThrownBy(() -> Tls.serverCredentials("d.yaml", t))
        .hasMessage("d.yaml: tls.ca: '/nonexistent/ca.crt' does not exist");
  }

  @Test
  void roleNamesAreTheOuValues() {
    assertThat(Role.fromOu("nodemanager")).isEqualTo(Role.NODEMANAGER);
    assertThat(Role.fromOu("admin")).isNull();
  }
}
