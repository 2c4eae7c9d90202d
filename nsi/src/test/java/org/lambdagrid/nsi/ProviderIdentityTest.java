package org.lambdagrid.nsi;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
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
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> callback(endpoint, urlHost))
        .hasMessageContaining("names none of [nsi-cb.example.net] (nsi.provider_identity)");
    // unset: the provider_url host
    NsiRequester.Config plain = new NsiRequester.Config(c.providerUrl(), "p", "r", c.replyTo(),
        c.tls(), c.replyTimeout());
    ProviderIdentity byHost = new ProviderIdentity(plain.identity(), plain.identitySource());
    callback(byHost, urlHost);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> callback(byHost, callbacks))
        .hasMessageContaining("names none of [nsa.example.net] (the host of nsi.provider_url)");
  }

  /**
   * A real TLS handshake to 127.0.0.1 with the URL-host check on (as the JDK's HTTP client
   * sets it): a server certificate naming only {@code san} passes exactly when {@code names}
   * (the configured provider_identity) holds one of its names, whatever the dialed host.
   */
  private void dial(String san, List<String> names, boolean ok) throws Exception {
    Path ks = keystore("server-" + servers++, "CN=server", san);
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(load(ks), "changeit".toCharArray());
    SSLContext server = SSLContext.getInstance("TLS");
    server.init(kmf.getKeyManagers(), null, null);
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("ca", load(ks).getCertificate("x")); // self-signed: its own CA
    TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
    tmf.init(trust);
    TrustManager[] tms = names == null ? tmf.getTrustManagers()
        : ProviderIdentity.checkingServer(tmf.getTrustManagers(), names, "nsi.provider_identity");
    SSLContext client = SSLContext.getInstance("TLS");
    client.init(null, tms, null);

    InetAddress lo = InetAddress.getByName("127.0.0.1");
    try (SSLServerSocket ss = (SSLServerSocket) server.getServerSocketFactory()
        .createServerSocket(0, 1, lo)) {
      ss.setSoTimeout(20_000);
      CompletableFuture<Void> served = CompletableFuture.runAsync(() -> {
        try (SSLSocket s = (SSLSocket) ss.accept()) {
          s.setSoTimeout(20_000);
          OutputStream out = s.getOutputStream();
          out.write(1);
          out.flush();
        } catch (Exception e) {
          // the client refused the certificate: the handshake fails here too
        }
      });
      try (SSLSocket s = (SSLSocket) client.getSocketFactory().createSocket("127.0.0.1",
          ss.getLocalPort())) {
        s.setSoTimeout(20_000);
        SSLParameters p = s.getSSLParameters();
        p.setEndpointIdentificationAlgorithm("HTTPS"); // the URL-host check, as for https
        s.setSSLParameters(p);
        InputStream in = s.getInputStream();
        assertThat(in.read()).isEqualTo(1);
        assertThat(ok).as("handshake with " + san + " for " + names + " should fail").isTrue();
      } catch (SSLException e) {
        assertThat(ok).as("handshake with " + san + " for " + names + ": " + e).isFalse();
        if (names != null) {
          assertThat(e).hasStackTraceContaining("names none of " + names
              + " (nsi.provider_identity)");
        }
      }
      served.get(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void dialingTheProviderChecksItsCertificateAgainstTheConfiguredNamesInsteadOfTheUrlHost()
      throws Exception {
    dial("dns:nsa.example.net", null, false); // unset: must name the dialed 127.0.0.1
    dial("dns:nsa.example.net,ip:127.0.0.1", null, true);
    dial("dns:nsa.example.net", List.of("nsa.example.net"), true);
    dial("dns:nsa.example.net", List.of("other.example.net", "192.0.2.7"), false);
    dial("dns:nsa.example.net,ip:127.0.0.1", List.of("other.example.net"), false);
  }
}
