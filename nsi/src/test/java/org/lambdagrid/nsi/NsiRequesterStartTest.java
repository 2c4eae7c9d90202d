package org.lambdagrid.nsi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Starting the requester endpoint: what it checks, in which order, without a provider. */
class NsiRequesterStartTest {
  private static final URI PROVIDER = URI.create("https://127.0.0.1:1/NSI/services/CS2");
  @TempDir Path dir;

  private void openssl(String... args) throws Exception {
    org.lambdagrid.common.testing.Openssl.run(dir, args);
  }

  private NsiRequester.Config config(URI replyTo, NsiTls tls) {
    return new NsiRequester.Config(PROVIDER, "urn:ogf:network:fake.net:2026:nsa",
        "urn:ogf:network:lambdagrid:2026:nsa:grc", replyTo, tls, Duration.ofSeconds(1));
  }

  @Test
  void startsOnItsReplyUrlWithPemFilesAndStops() throws Exception {
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "r.key");
    openssl("req", "-x509", "-new", "-key", "r.key", "-days", "1", "-subj", "/CN=requester",
        "-out", "r.crt");
    int port = org.lambdagrid.common.testing.FreePorts.pick();
    NsiTls tls = new NsiTls(dir.resolve("r.key"), dir.resolve("r.crt"), dir.resolve("r.crt"));
    try (NsiRequester r = NsiRequester.start(config(
        URI.create("https://127.0.0.1:" + port + "/nsi"), tls), null)) {
      assertThat(r.providerNsa()).isEqualTo("urn:ogf:network:fake.net:2026:nsa");
    }
  }

  @Test
  void aReplyUrlThatIsNotHttpsIsRefusedBeforeTheFilesAreRead() {
    Path none = dir.resolve("none");
    assertThatThrownBy(() -> NsiRequester.start(config(URI.create("http://127.0.0.1:7378/nsi"),
        new NsiTls(none, none, none)), null))
        .isInstanceOf(NsiException.class)
        .hasMessage("nsi.requester_url: 'http://127.0.0.1:7378/nsi' must be"
            + " https://HOST:PORT/PATH (the provider calls back over TLS)");
  }

  @Test
  void aMissingKeyIsRefusedNamingTheKeyAndTheCertificate() {
    Path key = dir.resolve("missing.key");
    Path cert = dir.resolve("missing.crt");
    assertThatThrownBy(() -> NsiRequester.start(config(URI.create("https://127.0.0.1:7378/nsi"),
        new NsiTls(key, cert, cert)), null))
        .isInstanceOf(NsiException.class)
        .hasMessageStartingWith("nsi.tls: key '" + key + "' / certificate '" + cert
            + "' cannot be read: ");
  }

  private static final URI REPLY_TO = URI.create("https://127.0.0.1:7378/nsi");

  /** TLS files that do not exist: a start that gets past its checks fails on them. */
  private NsiTls missingTls() {
    Path none = dir.resolve("none");
    return new NsiTls(none, none, none);
  }

  @Test
  void aProviderHostOrIdentityThatIsAMalformedAddressIsRefusedBeforeTheFilesAreRead() {
    NsiTls tls = missingTls();
    assertThatThrownBy(() -> NsiRequester.start(new NsiRequester.Config(
        URI.create("https://010.0.0.1:9443/NSI/services/CS2"), "p", "r", REPLY_TO, tls,
        Duration.ofSeconds(1)), null))
        .isInstanceOf(NsiException.class)
        .hasMessage("nsi.provider_url: its host '010.0.0.1' is not an IPv4 address (four numbers"
            + " 0..255, no leading zeros)");
    assertThatThrownBy(() -> NsiRequester.start(new NsiRequester.Config(PROVIDER, "p", "r",
        REPLY_TO, tls, Duration.ofSeconds(1), java.util.List.of("nsa.example.net", "999.1.1.1")),
        null))
        .isInstanceOf(NsiException.class)
        .hasMessage("nsi.provider_identity: '999.1.1.1' is not an IPv4 address (four numbers"
            + " 0..255, no leading zeros)");
  }

  @Test
  void aBracketedIpv6HostPassesTheIdentityCheckAndAHostlessUrlIsRefusedNamingIt() {
    NsiTls tls = missingTls();
    // URI.getHost() keeps the brackets; the start gets past the host to the missing files.
    assertThatThrownBy(() -> NsiRequester.start(new NsiRequester.Config(
        URI.create("https://[2001:db8::7]:9443/NSI/services/CS2"), "p", "r", REPLY_TO, tls,
        Duration.ofSeconds(1)), null))
        .isInstanceOf(NsiException.class).hasMessageContaining(dir.resolve("none").toString())
        .hasMessageNotContaining("provider_url");
    // Not a host to java.net.URI (a registry authority): refused when the config is made.
    assertThatThrownBy(() -> new NsiRequester.Config(URI.create("https://999.1.1.1/NSI"), "p",
        "r", REPLY_TO, tls, Duration.ofSeconds(1)))
        .isInstanceOf(NsiException.class)
        .hasMessage("nsi.provider_url: 'https://999.1.1.1/NSI' has no host");
  }
}
