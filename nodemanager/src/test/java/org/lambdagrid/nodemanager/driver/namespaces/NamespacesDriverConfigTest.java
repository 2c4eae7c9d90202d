package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The driver's config, and the host check naming what the config refers to; needs no root. */
class NamespacesDriverConfigTest {

  @Test
  void bridgeConfigTakesTheDefaults() {
    NamespacesDriverConfig c = NamespacesDriverConfig.bridge("lgbr0");
    assertThat(c.stateDir()).isEqualTo(Path.of("/run/lambdagrid/guests"));
    assertThat(c.attachment()).isEqualTo(NamespacesDriverConfig.Attachment.BRIDGE);
    assertThat(c.sshdPath()).isEqualTo("/usr/sbin/sshd");
    assertThat(c.defaultGateway()).isNull();
    assertThat(c.sharedPaths()).isEmpty();
    assertThat(c.startTimeout()).isEqualTo(Duration.ofSeconds(20));
  }

  @Test
  void fromMapReadsEveryField() {
    NamespacesDriverConfig c = NamespacesDriverConfig.fromMap(Map.ofEntries(
        Map.entry("state_dir", "/var/lib/lambdagrid/guests"),
        Map.entry("attachment", "macvlan"),
        Map.entry("parent", "eth1"),
        Map.entry("macvlan_mode", "private"),
        Map.entry("default_gateway", "10.1.0.1"),
        Map.entry("sshd", "/opt/ssh/sbin/sshd"),
        Map.entry("guest_path", "/opt/mpi/bin:/usr/bin:/bin"),
        Map.entry("shared_paths", List.of("/scratch")),
        Map.entry("start_timeout_seconds", 5),
        Map.entry("kill_grace_seconds", 0.5)));
    assertThat(c).isEqualTo(new NamespacesDriverConfig(Path.of("/var/lib/lambdagrid/guests"),
        NamespacesDriverConfig.Attachment.MACVLAN, null, "eth1", "private", "10.1.0.1",
        "/opt/ssh/sbin/sshd", "/opt/mpi/bin:/usr/bin:/bin",
        List.of("/scratch"), Duration.ofSeconds(5), Duration.ofMillis(500)));
  }

  @Test
  void errorsNameTheField() {
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(Map.of("attachment", "vxlan")))
        .hasMessage("attachment: 'vxlan' is not one of bridge, macvlan");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(Map.of()))
        .hasMessageStartingWith("attachment: missing");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(Map.of("attachment", "bridge")))
        .hasMessageContaining("bridge: 'null' is not an interface name");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(
        Map.of("attachment", "bridge", "bridge", "a-very-long-bridge-name")))
        .hasMessageContaining("bridge:");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(
        Map.of("attachment", "macvlan", "parent", "eth0", "default_gateway", "10.0.0.300")))
        .hasMessageContaining("default_gateway: '10.0.0.300' is not an IPv4 address");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(
        Map.of("attachment", "bridge", "bridge", "br0", "state_dir", "relative")))
        .hasMessageContaining("state_dir:");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(
        Map.of("attachment", "bridge", "bridge", "br0", "shared_paths", List.of("/a/../etc"))))
        .hasMessageContaining("shared_paths[0]:");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(
        Map.of("attachment", "bridge", "bridge", "br0", "sshd", "sshd")))
        .hasMessageContaining("sshd: 'sshd' must be an absolute path");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(
        Map.of("attachment", "bridge", "bridge", "br0", "bridgee", "x")))
        .hasMessageStartingWith("bridgee: unknown field");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(
        Map.of("attachment", "bridge", "bridge", "br0", "start_timeout_seconds", "ten")))
        .hasMessageContaining("start_timeout_seconds: expected a number of seconds");
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(Map.of("attachment", "bridge",
        "bridge", "br0", "macvlan_mode", "fast",
        "guest_path", "A=B", "kill_grace_seconds", -1)))
        .hasMessageContaining("macvlan_mode: 'fast' is not one of")
        .hasMessageContaining("guest_path: 'A=B' is not a PATH value")
        .hasMessageContaining("kill_grace_seconds: must not be negative");
  }

  @Test
  void theOldCamelCaseKeysAreUnknown() {
    assertThatThrownBy(() -> NamespacesDriverConfig.fromMap(
        Map.of("attachment", "bridge", "bridge", "br0", "stateDir", "/x")))
        .hasMessageStartingWith("stateDir: unknown field")
        .hasMessageContaining("state_dir");
  }

  @Test
  void checkHostNamesAMissingBridge() {
    NamespacesDriver d = new NamespacesDriver(NamespacesDriverConfig.bridge("lgnosuchbr"));
    assertThat(d.checkHost()).anyMatch(p -> p.contains("bridge 'lgnosuchbr'"));
    NamespacesDriver m = new NamespacesDriver(NamespacesDriverConfig.macvlan("lgnosuchpa")
        .withStateDir(Path.of("/nonexistent-root-dir/x")));
    assertThat(m.checkHost()).anyMatch(p -> p.contains("parent interface 'lgnosuchpa'"));
  }
}
