package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

  record Site(String name, List<String> ranges) {
    Site {
      ranges = ranges == null ? List.of() : ranges;
      for (int i = 0; i < ranges.size(); i++) {
        try {
          Ipv4Cidr.parse(ranges.get(i));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("ranges[" + i + "]: " + e.getMessage());
        }
      }
    }
  }

  record Config(String listen, List<Site> sites, @JsonProperty("node_capacity") int nodeCapacity) {}

  @Test
  void readsRecords() {
    Config c = ConfigLoader.parse("grc.yaml",
        "listen: 127.0.0.1:7300\nnode_capacity: 4\nsites:\n  - name: a\n    ranges: [10.10.0.0/16]\n",
        Config.class);
    assertThat(c.listen()).isEqualTo("127.0.0.1:7300");
    assertThat(c.nodeCapacity()).isEqualTo(4);
    assertThat(c.sites().get(0).ranges()).containsExactly("10.10.0.0/16");
  }

  @Test
  void unknownFieldIsNamedWithTheKnownOnes() {
    assertThatThrownBy(() -> ConfigLoader.parse("grc.yaml", "listne: x\n", Config.class))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("grc.yaml: listne: unknown field")
        .hasMessageContaining("listen");
  }

  @Test
  void validationErrorsNameFileAndFieldPath() {
    assertThatThrownBy(() -> ConfigLoader.parse("crm.yaml",
        "sites:\n  - name: a\n  - name: b\n    ranges: [10.0.0.0/33]\n", Config.class))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("crm.yaml: sites[1]")
        .hasMessageContaining("ranges[0]: '10.0.0.0/33' is not a CIDR block");
  }

  @Test
  void wrongTypeAndBadYamlAreReported() {
    assertThatThrownBy(() -> ConfigLoader.parse("x.yaml", "node_capacity: lots\n", Config.class))
        .hasMessageStartingWith("x.yaml: node_capacity:");
    assertThatThrownBy(() -> ConfigLoader.parse("x.yaml", "listen: a: b\n", Config.class))
        .hasMessageStartingWith("x.yaml: not valid YAML");
  }

  @Test
  void missingFileIsNamed(@TempDir Path dir) {
    Path missing = dir.resolve("nope.yaml");
    assertThatThrownBy(() -> ConfigLoader.load(missing, Config.class))
        .hasMessage(missing + ": no such file");
  }
}
