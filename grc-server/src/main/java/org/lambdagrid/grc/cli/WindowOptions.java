package org.lambdagrid.grc.cli;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeParseException;
import java.util.Optional;
import org.lambdagrid.common.Quantities;
import picocli.CommandLine.Option;

/**
 * {@code --start TIME} and {@code --duration DUR}: the window a job or reservation asks for. The
 * command words their help in its resource bundle (keys {@code start} and {@code duration}).
 * A bad value is a {@link UserError} naming the option and the value.
 */
final class WindowOptions {
  @Option(names = "--start", paramLabel = "TIME", descriptionKey = "start")
  String start;

  @Option(names = "--duration", paramLabel = "DUR", descriptionKey = "duration")
  String duration;

  /** Whether either option was given. */
  boolean given() {
    return start != null || duration != null;
  }

  /** The {@code --start} time (see {@link #parseTime}); empty for "now". */
  Optional<Instant> start() {
    return Optional.ofNullable(start).map(text -> parseTime("--start", text));
  }

  /** The {@code --duration}; empty for the GRC's default. */
  Optional<Duration> duration() {
    try {
      return Optional.ofNullable(duration).map(Quantities::parseDuration);
    } catch (IllegalArgumentException e) {
      throw new UserError("--duration: " + e.getMessage(), 2);
    }
  }

  /**
   * {@code text} given to {@code option} as a time: +DURATION from now (+10m), an instant with
   * an offset (2030-01-02T10:00:00Z, ...+02:00), or a local date-time (2030-01-02T10:00).
   */
  static Instant parseTime(String option, String text) {
    try {
      if (text.startsWith("+")) {
        return Instant.now().plus(Quantities.parseDuration(text.substring(1)));
      }
      if (text.endsWith("Z") || text.matches(".*[+-]\\d\\d:\\d\\d$")) {
        return OffsetDateTime.parse(text).toInstant();
      }
      return LocalDateTime.parse(text).atZone(ZoneId.systemDefault()).toInstant();
    } catch (DateTimeParseException | IllegalArgumentException e) {
      throw new UserError(option + ": '" + text + "' is not a time (examples: +10m, "
          + "2030-01-02T10:00, 2030-01-02T10:00:00Z)", 2);
    }
  }
}
