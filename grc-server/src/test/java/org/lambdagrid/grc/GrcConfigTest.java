package org.lambdagrid.grc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.grc.job.CoordinatorSettings;
import picocli.CommandLine;

class GrcConfigTest {
  @Test
  void emptyFileGivesTheDocumentedDefaults() {
    GrcConfig c = ConfigLoader.parse("grc.yaml", "", GrcConfig.class);
    assertThat(c.listen()).isEqualTo("127.0.0.1:7300");
    CoordinatorSettings s = c.settings();
    assertThat(s.setupTimeout()).isEqualTo(Duration.ofSeconds(120));
    assertThat(s.keysTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(s.defaultDuration()).isEqualTo(Duration.ofHours(1));
    assertThat(s.outputBufferBytes()).isEqualTo(16L << 20);
    assertThat(s.crmGrace()).isEqualTo(Duration.ofSeconds(60));
  }

  @Test
  void readsEveryField() {
    GrcConfig c = ConfigLoader.parse("grc.yaml", String.join("\n",
        "listen: 0.0.0.0:7400",
        "phase_timeouts: {setup: 5m, keys: 10s, set_keys: 11s, run: 12s, exec: 13s}",
        "rpc_timeout: 3s", "call_margin: 1s", "default_duration: 2h",
        "output_buffer_bytes: 4096", "crm_grace: 2m30s"), GrcConfig.class);
    assertThat(c.listenEndpoint().port()).isEqualTo(7400);
    assertThat(c.settings()).isEqualTo(new CoordinatorSettings(Duration.ofMinutes(5),
        Duration.ofSeconds(10), Duration.ofSeconds(11), Duration.ofSeconds(12),
        Duration.ofSeconds(13), Duration.ofSeconds(3), Duration.ofSeconds(1), Duration.ofHours(2),
        4096, Duration.ofSeconds(150)));
    assertThat(c.withListen("127.0.0.1:0").settings().crmGrace())
        .isEqualTo(Duration.ofSeconds(150));
  }

  @Test
  void errorsNameFileFieldAndProblem() {
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "listen: nope", GrcConfig.class))
        .withMessage("grc.yaml: listen: 'nope' is not host:port");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "phase_timeouts: {keys: 5x}",
            GrcConfig.class))
        .withMessage("grc.yaml: phase_timeouts: keys: '5x' is not a duration"
            + " (examples: 90s, 5m, 1h30m, 2d)");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "phase_timeouts: {set_keys: 0s}",
            GrcConfig.class))
        .withMessage("grc.yaml: phase_timeouts: set_keys: '0s' must be longer than zero");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "output_buffer_bytes: 10",
            GrcConfig.class))
        .withMessage("grc.yaml: output_buffer_bytes: '10' is too small (at least 1024)");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "crm_grace: 0s", GrcConfig.class))
        .withMessage("grc.yaml: crm_grace: '0s' must be longer than zero");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "crm_grace: a while", GrcConfig.class))
        .withMessage("grc.yaml: crm_grace: 'a while' is not a duration"
            + " (examples: 90s, 5m, 1h30m, 2d)");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "rpcTimeout: 3s", GrcConfig.class))
        .withMessageStartingWith("grc.yaml: rpcTimeout: unknown field");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "listne: a:1", GrcConfig.class))
        .withMessageStartingWith("grc.yaml: listne: unknown field");
  }

  @Test
  void readsTheTopologyAndTheNetworkProvider() {
    GrcConfig c = ConfigLoader.parse("grc.yaml", String.join("\n",
        "topology:",
        "  sites: [alpha, bravo, core]",
        "  links:",
        "    - {a: alpha, b: core, capacity: 1G}",
        "    - {a: bravo, b: core, capacity: 500M}",
        "network: {provider: testbed, state_dir: /tmp/lg-net, hold_time: 30s}"), GrcConfig.class);
    assertThat(c.topology().build().links()).extracting(l -> l.id() + "=" + l.capacityBps())
        .containsExactly("alpha<->core=1000000000", "bravo<->core=500000000");
    assertThat(c.network().provider()).isEqualTo("testbed");
    assertThat(c.network().holdTimeDuration()).isEqualTo(Duration.ofSeconds(30));
    GrcConfig d = ConfigLoader.parse("grc.yaml", "", GrcConfig.class);
    assertThat(d.network().provider()).isEqualTo("calendar");
    assertThat(d.network().holdTimeDuration()).isEqualTo(Duration.ofSeconds(120));
    assertThat(d.topology().build().links()).isEmpty();
  }

  @Test
  void topologyAndNetworkErrorsNameTheField() {
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "topology: {sites: [a], links: [{a: a,"
            + " b: kyoto, capacity: 1G}]}", GrcConfig.class))
        .withMessage("grc.yaml: topology: links[0].b: 'kyoto' is not a site (sites: a)");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "topology: {sites: [a, b], links: [{a: a,"
            + " b: b, capacity: 0}]}", GrcConfig.class))
        .withMessage("grc.yaml: topology.links[0]: capacity: '0' must be positive");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "network: {provider: optical}",
            GrcConfig.class))
        .withMessage("grc.yaml: network: provider: 'optical' is not a provider (calendar, testbed, nsi)");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "network: {holdtime: 5s}",
            GrcConfig.class))
        .withMessageStartingWith("grc.yaml: network.holdtime: unknown field");
  }

  @Test
  void grcServerWithABadConfigPrintsOneLineAndExits2(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("grc.yaml");
    Files.writeString(f, "rpc_timeout: soon\n");
    StringWriter err = new StringWriter();
    CommandLine cli = new CommandLine(new GrcMain());
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute("--config", f.toString());
    assertThat(code).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo(
        "grc-server: grc.yaml: rpc_timeout: 'soon' is not a duration (examples: 90s, 5m, 1h30m, 2d)");
  }

  @Test
  void stateAndTokensAreReadAndChecked() {
    GrcConfig c = ConfigLoader.parse("grc.yaml", "state_dir: /var/lib/lg\n"
        + "tokens: {listen: 0.0.0.0:7302, file: /etc/lg/tokens}\n", GrcConfig.class);
    assertThat(c.stateUrl()).isEqualTo("jdbc:h2:file:/var/lib/lg/grc");
    assertThat(c.tokens().file()).isEqualTo("/etc/lg/tokens");
    assertThat(GrcConfig.defaults().stateUrl())
        .isEqualTo("jdbc:h2:file:/var/lib/lambdagrid/grc/grc");
    assertThat(ConfigLoader.parse("grc.yaml", "state: {url: 'jdbc:postgresql://db/lg', user: lg}\n",
        GrcConfig.class).stateUrl()).isEqualTo("jdbc:postgresql://db/lg");
    assertThatExceptionOfType(org.lambdagrid.common.ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "state_dir: var/lg\n", GrcConfig.class))
        .withMessage("grc.yaml: state_dir: 'var/lg' is not an absolute path");
    assertThatExceptionOfType(org.lambdagrid.common.ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "tokens: {listen: 0.0.0.0:7302}\n",
            GrcConfig.class))
        .withMessageContaining("file: 'null' is not an absolute path");
  }

  @Test
  void theLocalSectionHasDefaultsAndNeedsTokens() {
    GrcConfig c = ConfigLoader.parse("grc.yaml", "tokens: {listen: 0.0.0.0:7302, file: /etc/lg/t}\n"
        + "local: {}\n", GrcConfig.class);
    assertThat(c.local().socket()).isEqualTo("/run/lambdagrid/grc.sock");
    assertThat(c.local().sessionTtlDuration()).isEqualTo(java.time.Duration.ofMinutes(5));
    assertThat(c.local().endpoint()).isNull();
    assertThatExceptionOfType(org.lambdagrid.common.ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "local: {socket: /run/x.sock}\n",
            GrcConfig.class))
        .withMessageContaining("local: needs a tokens section");
    assertThatExceptionOfType(org.lambdagrid.common.ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "tokens: {listen: 0.0.0.0:7302, file: /t}\n"
            + "local: {socket: run/x.sock}\n", GrcConfig.class))
        .withMessageContaining("socket: 'run/x.sock' is not an absolute path");
    assertThatExceptionOfType(org.lambdagrid.common.ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "tokens: {listen: 0.0.0.0:7302, file: /t}\n"
            + "local: {session_ttl: 0s}\n", GrcConfig.class))
        .withMessageContaining("session_ttl");
  }

  @Test
  void theTimelineSectionNamesAnAbsoluteTokensFile_andNeedsTheHttpPort() {
    GrcConfig c = ConfigLoader.parse("grc.yaml", "http: {listen: 127.0.0.1:7380}\n"
        + "timeline: {tokens_file: /etc/lg/timeline.tokens}\n", GrcConfig.class);
    assertThat(c.timeline().tokensFile()).isEqualTo("/etc/lg/timeline.tokens");
    assertThat(GrcConfig.defaults().timeline()).as("off unless configured").isNull();
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "timeline: {tokens_file: /etc/lg/t}\n",
            GrcConfig.class))
        .withMessage("grc.yaml: timeline: needs an http section (the page is served on the"
            + " operations port, http.listen)");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "http: {listen: 127.0.0.1:7380}\n"
            + "timeline: {tokens_file: lg/t}\n", GrcConfig.class))
        .withMessage("grc.yaml: timeline: tokens_file: 'lg/t' is not an absolute path");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "http: {listen: 127.0.0.1:7380}\n"
            + "timeline: {}\n", GrcConfig.class))
        .withMessageStartingWith("grc.yaml: timeline: tokens_file: is required");
  }

  @Test
  void issueTokenPrintsATokenAndStoresOnlyItsHash(@TempDir Path dir) throws Exception {
    Path tokens = dir.resolve("tokens");
    StringWriter out = new StringWriter();
    CommandLine cli = new CommandLine(new GrcMain());
    cli.setOut(new PrintWriter(out, true));
    assertThat(cli.execute("issue-token", "--file", tokens.toString(), "alice")).isZero();
    String token = out.toString().strip();
    assertThat(token).startsWith("lgt_");
    String stored = Files.readString(tokens);
    assertThat(stored).doesNotContain(token).matches("sha256:[0-9a-f]{64} user alice\n");
    assertThat(new org.lambdagrid.common.security.BearerTokens(tokens).lookup(token))
        .hasValue(new org.lambdagrid.common.security.PeerIdentity(
            org.lambdagrid.common.security.Role.USER, "alice"));
    assertThat(java.nio.file.Files.getPosixFilePermissions(tokens))
        .containsExactlyInAnyOrder(java.nio.file.attribute.PosixFilePermission.OWNER_READ,
            java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
  }

  @Test
  void overlayVniRangeIsReadAndSiteEndpointsAreRefusedPointingToCrmYaml() throws Exception {
    GrcConfig c = ConfigLoader.parse("grc.yaml", String.join("\n",
        "network:",
        "  provider: testbed",
        "  overlay:",
        "    vni_range: 5000-5009"), GrcConfig.class);
    assertThat(c.network().overlay().vniMin()).isEqualTo(5000);
    assertThat(c.network().overlay().vniMax()).isEqualTo(5009);
    assertThatExceptionOfType(Exception.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml",
            "network: {provider: testbed, overlay: {vni_range: 9-3}}", GrcConfig.class))
        .withMessageContaining("overlay.vni_range").withMessageContaining("9-3");
    assertThatExceptionOfType(Exception.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml",
            "network: {provider: testbed, overlay: {sites: {alpha: {endpoint: 172.31.255.2}}}}", GrcConfig.class))
        .withMessageContaining("overlay.sites").withMessageContaining("crm.yaml");
    assertThatExceptionOfType(Exception.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml",
            "network: {provider: testbed, overlay: {underlay_mtu: 1550}}", GrcConfig.class))
        .withMessageContaining("overlay.underlay_mtu").withMessageContaining("crm.yaml");
    // The calendar provider plans overlays too (the sites' CRMs build them).
    assertThat(ConfigLoader.parse("grc.yaml", "network: {overlay: {vni_range: 1-2}}", GrcConfig.class)
        .network().overlay().vniMax()).isEqualTo(2);
  }

  /** A valid nsi section over two sites. */
  private static final String NSI_YAML = String.join("\n",
        "network:",
        "  provider: nsi",
        "  nsi:",
        "    provider_url: https://nsa.example.net:9443/NSI/services/CS2",
        "    provider_nsa: urn:ogf:network:example.net:2020:nsa",
        "    requester_nsa: urn:ogf:network:example.org:2026:nsa:grc",
        "    requester_url: https://grc.example.org:7378/nsi/requester",
        "    tls: {key: /k, cert: /c, ca: /a}",
        "    stps:",
        "      alpha: 'urn:ogf:network:example.net:2020:topology:alpha?vlan=1780-1789'",
        "      bravo: 'urn:ogf:network:example.net:2020:topology:bravo?vlan=1780-1789'");

  @Test
  void theNsiSectionIsReadAndBadValuesRefusedNamingTheField() throws Exception {
    String good = NSI_YAML;
    GrcConfig c = ConfigLoader.parse("grc.yaml", good, GrcConfig.class);
    assertThat(c.network().nsi().stps()).containsKeys("alpha", "bravo");
    assertThat(c.network().nsi().dataPlane()).isEqualTo("calendar");
    assertThat(c.network().nsi().replyTimeoutDuration()).hasSeconds(30);
    for (String[] bad : new String[][] {
        {"https://nsa.example.net:9443/NSI/services/CS2", "http://nsa.example.net/x", "nsi.provider_url"},
        {"urn:ogf:network:example.net:2020:nsa\n", "nsa.example.net\n", "nsi.provider_nsa"},
        {":7378/nsi", "/nsi", "nsi.requester_url"},
        {"'urn:ogf:network:example.net:2020:topology:bravo?vlan=1780-1789'", "port-b", "nsi.stps.bravo"},
        {"tls: {key: /k, cert: /c, ca: /a}", "tls: {key: /k}", "nsi.tls"}}) {
      String y = good.replace(bad[0], bad[1]);
      assertThat(y).isNotEqualTo(good);
      assertThatExceptionOfType(Exception.class)
          .isThrownBy(() -> ConfigLoader.parse("grc.yaml", y, GrcConfig.class))
          .as(bad[2]).withMessageContaining(bad[2]);
    }
    assertThatExceptionOfType(Exception.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "network: {provider: nsi}", GrcConfig.class))
        .withMessageContaining("provider nsi needs an nsi section");
  }

  @Test
  void nsiMaxConcurrentAndProviderIdentityAreReadAndBadValuesRefusedNamingThem() throws Exception {
    String base = NSI_YAML + "\n";
    GrcConfig.NsiConfig d = ConfigLoader.parse("grc.yaml", base, GrcConfig.class).network().nsi();
    assertThat(d.maxConcurrent()).isEqualTo(8);
    assertThat(d.providerIdentity()).as("unset: the provider_url host rule").isEmpty();
    GrcConfig.NsiConfig c = ConfigLoader.parse("grc.yaml", base + String.join("\n",
        "    max_concurrent: 3",
        "    provider_identity: [nsi-callbacks.example.net, 192.0.2.7, '2001:db8::7']"),
        GrcConfig.class).network().nsi();
    assertThat(c.maxConcurrent()).isEqualTo(3);
    assertThat(c.providerIdentity())
        .containsExactly("nsi-callbacks.example.net", "192.0.2.7", "2001:db8::7");
    for (String[] bad : new String[][] {
        {"    max_concurrent: 0", "nsi.max_concurrent: 0 is not between 1 and 64"},
        {"    max_concurrent: 65", "nsi.max_concurrent: 65 is not between 1 and 64"},
        {"    provider_identity: []", "nsi.provider_identity: [] names nothing"},
        {"    provider_identity: [nsa.example.net, '']", "nsi.provider_identity[1]: '' is empty"},
        {"    provider_identity: ['*.example.net']",
            "nsi.provider_identity[0]: '*.example.net' is not a DNS name or an IP address"},
        {"    provider_identity: ['https://nsa.example.net:9443/']",
            "nsi.provider_identity[0]: 'https://nsa.example.net:9443/' is not a DNS name"},
        {"    provider_identity: [nsa.example.net, 010.0.0.1]",
            "nsi.provider_identity[1]: '010.0.0.1' has a leading zero in an IPv4 part"},
        {"    provider_identity: [192.0.2.300]",
            "nsi.provider_identity[0]: '192.0.2.300' is not a DNS name or an IP address"},
        {"    provider_identity: ['CN=nsa,O=example']",
            "nsi.provider_identity[0]: 'CN=nsa,O=example' is not a DNS name"}}) {
      assertThatExceptionOfType(Exception.class)
          .isThrownBy(() -> ConfigLoader.parse("grc.yaml", base + bad[0], GrcConfig.class))
          .as(bad[0]).withMessageContaining(bad[1]);
    }
  }
}
