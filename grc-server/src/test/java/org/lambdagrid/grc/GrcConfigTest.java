package org.lambdagrid.grc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.ConfigLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
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
  }

  @Test
  void readsEveryField() {
    GrcConfig c = ConfigLoader.parse("grc.yaml", String.join("\n",
        "listen: 0.0.0.0:7400",
        "phaseTimeouts: {setup: 5m, keys: 10s, setKeys: 11s, run: 12s, exec: 13s}",
        "rpcTimeout: 3s", "callMargin: 1s", "defaultDuration: 2h",
        "outputBufferBytes: 4096"), GrcConfig.class);
    assertThat(c.listenEndpoint().port()).isEqualTo(7400);
    assertThat(c.settings()).isEqualTo(new CoordinatorSettings(Duration.ofMinutes(5),
        Duration.ofSeconds(10), Duration.ofSeconds(11), Duration.ofSeconds(12),
        Duration.ofSeconds(13), Duration.ofSeconds(3), Duration.ofSeconds(1), Duration.ofHours(2),
        4096));
  }

  @Test
  void errorsNameFileFieldAndProblem() {
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "listen: nope", GrcConfig.class))
        .withMessage("grc.yaml: listen: 'nope' is not host:port");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "phaseTimeouts: {keys: 5x}",
            GrcConfig.class))
        .withMessageStartingWith("grc.yaml: ").withMessageContaining("keys: '5x' is not a duration");
    assertThatExceptionOfType(ConfigException.class)
        .isThrownBy(() -> ConfigLoader.parse("grc.yaml", "listne: a:1", GrcConfig.class))
        .withMessageStartingWith("grc.yaml: listne: unknown field");
  }

  @Test
  void grcServerWithABadConfigPrintsOneLineAndExits2(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("grc.yaml");
    Files.writeString(f, "rpcTimeout: soon\n");
    StringWriter err = new StringWriter();
    CommandLine cli = new CommandLine(new GrcMain());
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute("--config", f.toString());
    assertThat(code).isEqualTo(2);
    assertThat(err.toString().strip()).isEqualTo(
        "grc-server: grc.yaml: rpcTimeout: 'soon' is not a duration (examples: 90s, 5m, 1h30m, 2d)");
  }
}
