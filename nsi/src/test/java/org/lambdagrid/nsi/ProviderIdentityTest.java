package org.lambdagrid.nsi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.FileInputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.apache.cxf.transport.https.SSLUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which certificates the provider may present, on callbacks and when dialed. */
class ProviderIdentityTest {
  @TempDir Path dir;
  private int servers;

  private Path keystore(String name, String dname, String san) throws Exception {
    Path ks = dir.resolve(name + ".p12");
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin",
        "keytool").toString(), "-genkeypair", "-alias", "x", "-keyalg", "EC", "-dname", dname,
        "-keystore", ks.toString(), "-storepass", "changeit", "-storetype", "PKCS12"));
    if (san != null) {
      cmd.addAll(List.of("-ext", "san=" + san));
    }
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as(out).isZero();
    return ks;
  }

  private static KeyStore load(Path ks) throws Exception {
    KeyStore k = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(ks.toFile())) {
      k.load(in, "changeit".toCharArray());
    }
    return k;
  }

  private X509Certificate cert(String name, String dname, String san) throws Exception {
    return (X509Certificate) load(keystore(name, dname, san)).getCertificate("x");
  }

  @Test
  void theProvidersCertificateMustNameTheProviderUrlsHost() throws Exception {
    X509Certificate provider = cert("p", "CN=opennsa", "dns:nsa.example.net,ip:127.0.0.1");
    assertThat(ProviderIdentity.matches(provider, "127.0.0.1")).isTrue();
    assertThat(ProviderIdentity.matches(provider, "NSA.example.net")).isTrue();
    assertThat(ProviderIdentity.matches(provider, "other.example.net")).isFalse();
    assertThat(ProviderIdentity.matches(provider, "opennsa")).as("CN ignored with SANs").isFalse();
    X509Certificate other = cert("o", "CN=someone", "dns:someone.example.net");
    assertThat(ProviderIdentity.matches(other, "127.0.0.1")).isFalse();
    X509Certificate cnOnly = cert("c", "CN=nsa.example.net", null);
    assertThat(ProviderIdentity.matches(cnOnly, "nsa.example.net")).as("never the CN").isFalse();
    assertThat(ProviderIdentity.matches(cnOnly, "127.0.0.1")).isFalse();
  }

  @Test
  void aCallbackCertificateMustNameOneOfTheConfiguredNames() throws Exception {
    X509Certificate callbacks = cert("p", "CN=opennsa", "dns:nsi-cb.example.net,ip:192.0.2.7");
    assertThat(ProviderIdentity.matchesAny(callbacks, List.of("nsa.example.net",
        "NSI-CB.example.net"))).isTrue();
    assertThat(ProviderIdentity.matchesAny(callbacks, List.of("192.0.2.7"))).isTrue();
    assertThat(ProviderIdentity.matchesAny(callbacks, List.of("nsa.example.net"))).isFalse();
    assertThat(ProviderIdentity.matchesAny(callbacks, List.of("opennsa"))).as("CN ignored")
        .isFalse();
    assertThat(ProviderIdentity.matchesAny(callbacks, List.of("192.0.2.8"))).isFalse();
    assertThat(ProviderIdentity.matchesAny(callbacks, List.of("example.net"))).isFalse();
    X509Certificate v6 = cert("v6", "CN=v6", "ip:2001:db8:0:0:0:0:0:7");
    assertThat(ProviderIdentity.matchesAny(v6, List.of("2001:db8::7"))).as("same address")
        .isTrue();
    assertThat(ProviderIdentity.matchesAny(v6, List.of("[2001:db8::7]"))).isTrue();
    X509Certificate wildcard = cert("w", "CN=w", "dns:*.example.net");
    assertThat(ProviderIdentity.matchesAny(wildcard, List.of("nsa.example.net")))
        .as("no wildcards").isFalse();
  }

  private static void callback(ProviderIdentity endpoint, X509Certificate from) {
    org.apache.cxf.message.Message m = new org.apache.cxf.message.MessageImpl();
    m.put(org.apache.cxf.security.transport.TLSSessionInfo.class,
        new org.apache.cxf.security.transport.TLSSessionInfo("TLS_AES_128_GCM_SHA256", null,
            new java.security.cert.Certificate[] {from}));
    endpoint.handleMessage(m);
  }

  @Test
  void theRequesterEndpointTakesCallbacksOnlyFromTheConfiguredNames() throws Exception {
    X509Certificate urlHost = cert("u", "CN=nsa", "dns:nsa.example.net");
    X509Certificate callbacks = cert("c", "CN=cb", "dns:nsi-cb.example.net");
    // provider_identity set: it replaces the provider_url host rule
    NsiRequester.Config c = new NsiRequester.Config(
        java.net.URI.create("https://nsa.example.net:9443/NSI/services/CS2"), "p", "r",
        java.net.URI.create("https://127.0.0.1:7378/nsi"), new NsiTls(dir, dir, dir),
        java.time.Duration.ofSeconds(1), List.of("nsi-cb.example.net"));
    ProviderIdentity endpoint = new ProviderIdentity(c.identity(), c.identitySource());
    callback(endpoint, callbacks);
    assertThatThrownBy(() -> callback(endpoint, urlHost))
        .hasMessageContaining("names none of [nsi-cb.example.net] (nsi.provider_identity)");
    // unset: the provider_url host
    NsiRequester.Config plain = new NsiRequester.Config(c.providerUrl(), "p", "r", c.replyTo(),
        c.tls(), c.replyTimeout());
    ProviderIdentity byHost = new ProviderIdentity(plain.identity(), plain.identitySource());
    callback(byHost, urlHost);
    assertThatThrownBy(() -> callback(byHost, callbacks))
        .hasMessageContaining("names none of [nsa.example.net] (the host of nsi.provider_url)");
  }

  /**
   * A real HTTPS request to 127.0.0.1 through the SSLContext CXF's HttpClient conduit builds
   * from the requester's TLS parameters ({@code SSLUtils.getSSLContext(params, true)}, which
   * wraps the trust managers in CXF's host check): a server certificate naming only {@code san}
   * passes exactly when it names the dialed host (identity unset) or one of {@code identity}.
   */
  private void dial(String san, List<String> identity, boolean ok) throws Exception {
    Path ks = keystore("server-" + servers++, "CN=127.0.0.1", san);
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(load(ks), "changeit".toCharArray());
    SSLContext serverTls = SSLContext.getInstance("TLS");
    serverTls.init(kmf.getKeyManagers(), null, null);
    HttpsServer server = HttpsServer.create(new InetSocketAddress(
        InetAddress.getByName("127.0.0.1"), 0), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(serverTls));
    server.createContext("/", ex -> {
      ex.sendResponseHeaders(204, -1);
      ex.close();
    });
    server.start();
    try {
      KeyStore trust = KeyStore.getInstance("PKCS12");
      trust.load(null, null);
      trust.setCertificateEntry("ca", load(ks).getCertificate("x")); // self-signed: its own CA
      TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
      tmf.init(trust);
      SSLContext client = SSLUtils.getSSLContext(
          NsiRequester.clientTls(null, tmf.getTrustManagers(), identity), true);
      HttpClient http = HttpClient.newBuilder().sslContext(client)
          .connectTimeout(Duration.ofSeconds(20)).build();
      HttpRequest get = HttpRequest.newBuilder(URI.create("https://127.0.0.1:"
          + server.getAddress().getPort() + "/")).timeout(Duration.ofSeconds(20)).build();
      String what = "dialing a certificate naming " + san + " with provider_identity " + identity;
      try {
        assertThat(http.send(get, HttpResponse.BodyHandlers.discarding()).statusCode())
            .as(what).isEqualTo(204);
        assertThat(ok).as(what + " should fail").isTrue();
      } catch (IOException e) {
        assertThat(ok).as(what + ": " + e).isFalse();
        assertThat(e).hasStackTraceContaining("No name matching 127.0.0.1");
        List<String> names = identity.isEmpty() ? List.of("127.0.0.1") : identity;
        String source = identity.isEmpty() ? "the host of nsi.provider_url"
            : "nsi.provider_identity";
        assertThat(NsiRequester.failure(e, names, source)).isEqualTo(
            "its TLS certificate names none of " + names + " (" + source + ")");
      }
    } finally {
      server.stop(0);
    }
  }

  @Test
  void dialingTheProviderChecksItsCertificateAgainstTheConfiguredNamesInsteadOfTheUrlHost()
      throws Exception {
    dial("dns:nsa.example.net", List.of(), false); // unset: must name the dialed 127.0.0.1
    dial("dns:nsa.example.net,ip:127.0.0.1", List.of(), true);
    dial("dns:nsa.example.net", List.of("nsa.example.net"), true);
    dial("dns:nsa.example.net", List.of("other.example.net", "192.0.2.7"), false);
    dial("dns:nsa.example.net,ip:127.0.0.1", List.of("other.example.net"), false);
    dial("dns:nsa.example.net", List.of("127.0.0.1"), false); // the CN is not a name
  }

  @Test
  void aMalformedAddressIsRefusedNamingItInsteadOfBeingLookedUpAsAName() throws Exception {
    assertThat(ProviderIdentity.literal("192.0.2.7")).isEqualTo(InetAddress.getByAddress(
        new byte[] {(byte) 192, 0, 2, 7}));
    assertThat(ProviderIdentity.literal("nsa.example.net")).as("a name").isNull();
    for (String bad : List.of("999.1.1.1", "010.0.0.1", "1.2.3.4.5")) {
      assertThatThrownBy(() -> ProviderIdentity.literal(bad))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("'" + bad + "' is not an IPv4 address (four numbers 0..255, no leading"
              + " zeros)");
    }
    assertThatThrownBy(() -> ProviderIdentity.literal("g::1"))
        .hasMessage("'g::1' is not an IPv6 address");
    assertThatThrownBy(
        () -> new ProviderIdentity(List.of("nsa.example.net", "999.1.1.1"), "test"))
        .hasMessageContaining("'999.1.1.1'");
    assertThatThrownBy(
        () -> ProviderIdentity.verifier(List.of("[2001:db8::7::1]"), "test"))
        .hasMessageContaining("'2001:db8::7::1'");
  }

  @Test
  void onlyTheSubjectAltNamesCountNeverTheCn() throws Exception {
    X509Certificate noSan = cert("n", "CN=nsa.example.net", null);
    assertThat(ProviderIdentity.matchesAny(noSan, List.of("nsa.example.net"))).isFalse();
    X509Certificate ipCn = cert("i", "CN=192.0.2.7", null);
    assertThat(ProviderIdentity.matchesAny(ipCn, List.of("192.0.2.7"))).isFalse();
    X509Certificate withSan = cert("s", "CN=nsa.example.net", "dns:nsa.example.net");
    assertThat(ProviderIdentity.matchesAny(withSan, List.of("nsa.example.net"))).isTrue();
  }
}
