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
