package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.ConfigLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeManagerConfigTest {
  private static NodeManagerConfig parse(String yaml) {
    return ConfigLoader.parse("nm.yaml", yaml, NodeManagerConfig.class);
  }

  @Test
  void fullFile_isRead() {
    NodeManagerConfig c = parse("""
        driver: namespaces
        driver_config:
          attachment: bridge
          bridge: lgbr0
          shared_paths: [/scratch]
        state_dir: /var/lib/lambdagrid/nm
        connect_timeout: 1m30s
        teardown_timeout: 10s
        reconnect_grace: 2m
        """);
    assertThat(c.driver()).isEqualTo("namespaces");
    assertThat(c.driverConfig()).containsEntry("bridge", "lgbr0")
        .containsEntry("shared_paths", List.of("/scratch"));
    assertThat(c.stateDir()).isEqualTo(Path.of("/var/lib/lambdagrid/nm"));
    assertThat(c.connectTimeout()).isEqualTo(Duration.ofSeconds(90));
    assertThat(c.teardownTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(c.reconnectGrace()).isEqualTo(Duration.ofMinutes(2));
    assertThat(c.render()).contains("reconnect_grace: \"120s\"");
  }

  @Test
  void reconnectGrace_defaultsTo60s_andSubSecondValuesAreKept() {
    assertThat(parse("driver: fake\n").reconnectGrace()).isEqualTo(Duration.ofSeconds(60));
    assertThat(NodeManagerConfig.defaults().reconnectGrace())
        .isEqualTo(NodeManagerConfig.DEFAULT_RECONNECT_GRACE).isEqualTo(Duration.ofSeconds(60));
    assertThat(NodeManagerConfig.defaults().render()).contains("reconnect_grace: \"60s\"");
    assertThat(parse("reconnect_grace: 1500ms\n").reconnectGrace())
        .isEqualTo(Duration.ofMillis(1500));
    // the six-argument constructor other code uses still works, with the default grace
    assertThat(new NodeManagerConfig("fake", null, null, null, null, null).reconnectGrace())
        .isEqualTo(Duration.ofSeconds(60));
    assertThat(NodeManagerConfig.of("fake", Map.of(), Path.of("/tmp/nm"))
        .withReconnectGrace(Duration.ofSeconds(5)).reconnectGrace())
        .isEqualTo(Duration.ofSeconds(5));
  }

  @Test
  void reconnectGrace_zeroOrNegative_isRefusedNamingTheKey() {
    assertThatThrownBy(() -> parse("reconnect_grace: 0s\n")).isInstanceOf(ConfigException.class)
        .hasMessage("nm.yaml: reconnect_grace: must be positive (got 0s)");
    assertThatThrownBy(() -> parse("reconnect_grace: -5s\n")).isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("nm.yaml: reconnect_grace: '-5s' is not a duration");
    assertThatThrownBy(() -> parse("reconnect_grace: soon\n"))
        .hasMessageStartingWith("nm.yaml: reconnect_grace: 'soon' is not a duration");
    assertThatThrownBy(() -> NodeManagerConfig.defaults()
        .withReconnectGrace(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("reconnect_grace: must be positive");
  }

  @Test
  void emptyFile_givesDefaults() {
    assertThat(parse("")).isEqualTo(NodeManagerConfig.defaults());
    assertThat(NodeManagerConfig.defaults().driver()).isEqualTo("namespaces");
    assertThat(NodeManagerConfig.defaults().stateDir()).isEqualTo(Path.of("/run/lambdagrid/nm"));
    assertThat(NodeManagerConfig.defaults().render()).contains("connect_timeout: \"30s\"");
  }

  @Test
  void unknownField_isNamedWithTheKnownOnes() {
    assertThatThrownBy(() -> parse("drivr: fake\n")).isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("nm.yaml: drivr: unknown field (known fields: connect_timeout,"
            + " driver, driver_config, http, reconnect_grace, state_dir, teardown_timeout, tls)");
  }

  @Test
  void badValues_nameTheField() {
    assertThatThrownBy(() -> parse("connect_timeout: soon\n"))
        .hasMessage("nm.yaml: connect_timeout: 'soon' is not a duration (examples: 90s, 5m,"
            + " 1h30m, 2d)");
    assertThatThrownBy(() -> parse("state_dir: run/nm\n"))
        .hasMessage("nm.yaml: state_dir: 'run/nm' is not an absolute path");
    assertThatThrownBy(() -> parse("driver: Bad Name\n"))
        .hasMessage("nm.yaml: driver: 'Bad Name' is not a driver name");
  }

  @Test
  void missingFile_isNamed(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> NodeManagerConfig.load(dir.resolve("nm.yaml")))
        .hasMessageEndingWith("nm.yaml: no such file");
    Files.writeString(dir.resolve("ok.yaml"), "driver: fake\ndriver_config: {fail_at: run}\n");
    assertThat(NodeManagerConfig.load(dir.resolve("ok.yaml")).driverConfig())
        .isEqualTo(Map.of("fail_at", "run"));
  }
}
