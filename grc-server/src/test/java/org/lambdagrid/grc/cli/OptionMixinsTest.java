package org.lambdagrid.grc.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** The options several subcommands share: the window, the bandwidth and the output format. */
class OptionMixinsTest {
  @Command(name = "t")
  static final class Options {
    @Mixin
    WindowOptions window;

    @Mixin
    BandwidthOption bandwidth;

    @Mixin
    FormatOption output;

    @Mixin
    ShapeOptions shape;
  }

  private static Options parse(String... args) {
    Options o = new Options();
    new CommandLine(o).parseArgs(args);
    return o;
  }

  @Test
  void nothingGivenIsTheGrcsDefaults() {
    Options o = parse();
    assertThat(o.window.given()).isFalse();
    assertThat(o.window.start()).isEmpty();
    assertThat(o.window.duration()).isEmpty();
    assertThat(o.bandwidth.given()).isFalse();
    assertThat(o.bandwidth.bps()).isEmpty();
    assertThat(o.output.json()).isFalse();
  }

  @Test
  void windowsParse() {
    Options o = parse("--start", "2030-01-02T10:00:00Z", "--duration", "1h30m");
    assertThat(o.window.given()).isTrue();
    assertThat(o.window.start()).contains(Instant.parse("2030-01-02T10:00:00Z"));
    assertThat(o.window.duration()).contains(Duration.ofMinutes(90));
    assertThat(parse("--duration", "5m").window.given()).isTrue();
    assertThat(parse("--start", "2030-01-02T10:00+02:00").window.start())
        .contains(Instant.parse("2030-01-02T08:00:00Z"));
    assertThat(parse("--start", "2030-01-02T10:00").window.start()).contains(
        LocalDateTime.parse("2030-01-02T10:00").atZone(ZoneId.systemDefault()).toInstant());
    Instant before = Instant.now();
    Instant in10m = parse("--start", "+10m").window.start().orElseThrow();
    assertThat(in10m).isBetween(before.plus(Duration.ofMinutes(10)),
        Instant.now().plus(Duration.ofMinutes(10)));
  }

  @Test
  void badTimesAndDurationsNameTheOptionAndTheValue() {
    assertUserError(() -> parse("--duration", "forever").window.duration(),
        "--duration: 'forever' is not a duration (examples: 90s, 5m, 1h30m, 2d)");
    assertUserError(() -> parse("--start", "tomorrow").window.start(),
        "--start: 'tomorrow' is not a time (examples: +10m, 2030-01-02T10:00,"
            + " 2030-01-02T10:00:00Z)");
    assertUserError(() -> parse("--start", "+soon").window.start(),
        "--start: '+soon' is not a time (examples: +10m, 2030-01-02T10:00,"
            + " 2030-01-02T10:00:00Z)");
    assertUserError(() -> WindowOptions.parseTime("--deadline", "x"),
        "--deadline: 'x' is not a time (examples: +10m, 2030-01-02T10:00, 2030-01-02T10:00:00Z)");
  }

  @Test
  void bandwidthsParseAndBadOnesNameTheOptionAndTheValue() {
    assertThat(parse("--bandwidth", "200M").bandwidth.bps()).hasValue(200_000_000L);
    assertThat(parse("--bandwidth", "1.5G").bandwidth.bps()).hasValue(1_500_000_000L);
    assertThat(parse("--bandwidth", "0").bandwidth.bps()).hasValue(0L);
    assertThat(parse("--bandwidth", "0").bandwidth.given()).isTrue();
    assertUserError(() -> parse("--bandwidth", "fast").bandwidth.bps(),
        "--bandwidth: 'fast' is not a rate (examples: 200M, 1G, 100mbit, 500000)");
  }

  @Test
  void shapesParse() {
    Options none = parse();
    assertThat(none.shape.given()).isFalse();
    assertThat(none.shape.cpus()).isEmpty();
    assertThat(none.shape.memoryBytes()).isEmpty();
    Options o = parse("--cpus", "2", "--memory", "512M");
    assertThat(o.shape.given()).isTrue();
    assertThat(o.shape.cpus()).hasValue(2);
    assertThat(o.shape.memoryBytes()).hasValue(512L << 20);
    assertThat(parse("--memory", "1.5G").shape.memoryBytes()).hasValue(3L << 29);
    assertThat(parse("--memory", "33554432").shape.memoryBytes()).hasValue(32L << 20);
  }

  @Test
  void badShapesNameTheOptionAndTheValue() {
    assertUserError(() -> parse("--cpus", "0").shape.cpus(),
        "--cpus: '0' must be at least 1 (leave it unset for all of the node's CPUs)");
    assertUserError(() -> parse("--cpus", "-1").shape.cpus(),
        "--cpus: '-1' must be at least 1 (leave it unset for all of the node's CPUs)");
    assertUserError(() -> parse("--cpus", "two").shape.cpus(),
        "--cpus: 'two' is not a whole number of CPUs");
    assertUserError(() -> parse("--cpus", "99999").shape.cpus(),
        "--cpus: '99999' is more CPUs than any node has (at most 4096)");
    assertUserError(() -> parse("--memory", "1x").shape.memoryBytes(),
        "--memory: '1x' is not a size (examples: 512M, 2G, 1.5G, 268435456)");
    assertUserError(() -> parse("--memory", "1M").shape.memoryBytes(),
        "--memory: '1M' is less than the smallest memory limit, 32 MiB (33554432 bytes): a"
            + " guest needs that much for its sshd and the job's shell");
  }

  @Test
  void outputFormats() {
    assertThat(parse("-o", "json").output.json()).isTrue();
    assertThat(parse("--output", "text").output.json()).isFalse();
    assertUserError(() -> parse("-o", "yaml").output.json(),
        "-o: 'yaml' is not a format (text, json)");
  }

  @Test
  void eachCommandWordsTheSharedOptionsItsOwnWay() {
    CommandLine grc = GrcCli.commandLine(Map.of());
    String submit = grc.getSubcommands().get("submit").getUsageMessage();
    String reserve = grc.getSubcommands().get("reserve").getUsageMessage();
    assertThat(submit).contains("--start=TIME        Start time: ISO instant")
        .contains("--duration=DUR      Length of the job's window")
        .contains("--bandwidth=RATE    Bandwidth between the sites");
    assertThat(reserve).contains("--start=TIME        Earliest start: +10m")
        .contains("--duration=DUR      Length of the window")
        .contains("--bandwidth=RATE    Bandwidth between every pair of the sites");
  }

  private static void assertUserError(Runnable r, String message) {
    assertThatThrownBy(r::run).isInstanceOfSatisfying(UserError.class, e -> {
      assertThat(e).hasMessage(message);
      assertThat(e.exitCode).isEqualTo(2);
    });
  }
}
