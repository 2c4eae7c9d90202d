package org.lambdagrid.common;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses the human quantities users type: durations ("90s", "5m", "2h"), rates ("200M") and
 * sizes ("512M", "2G").
 */
public final class Quantities {
  private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h|d)");
  private static final Pattern RATE =
      Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]?)(?:bit/s|bps|bit|b)?", Pattern.CASE_INSENSITIVE);
  private static final Pattern SIZE =
      Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(?:([kmgt])(?:ib?|b)?|b)?", Pattern.CASE_INSENSITIVE);
  private static final String[] SIZE_UNITS = {"KiB", "MiB", "GiB", "TiB"};

  private Quantities() {}

  /** "90s", "5m", "1h30m", "2d", "250ms". The exception quotes the input. */
  public static Duration parseDuration(String text) {
    String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
    Matcher m = DURATION.matcher(t);
    Duration total = Duration.ZERO;
    int pos = 0;
    while (m.find() && m.start() == pos) {
      long n = Long.parseLong(m.group(1));
      total = total.plus(switch (m.group(2)) {
        case "ms" -> Duration.ofMillis(n);
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        default -> Duration.ofDays(n);
      });
      pos = m.end();
    }
    if (t.isEmpty() || pos != t.length()) {
      throw new IllegalArgumentException(
          "'" + text + "' is not a duration (examples: 90s, 5m, 1h30m, 2d)");
    }
    return total;
  }

  /** The inverse of {@link #parseDuration}: "1m", "1m30s", "2h5s", "7d", "1500ms", "0s". */
  public static String formatDuration(Duration d) {
    long ms = d.toMillis();
    if (ms % 1000 != 0) {
      return ms + "ms";
    }
    long s = ms / 1000;
    StringBuilder b = new StringBuilder();
    if (s >= 86400) {
      b.append(s / 86400).append('d');
      s %= 86400;
    }
    if (s >= 3600) {
      b.append(s / 3600).append('h');
      s %= 3600;
    }
    if (s >= 60) {
      b.append(s / 60).append('m');
      s %= 60;
    }
    if (s > 0 || b.length() == 0) {
      b.append(s).append('s');
    }
    return b.toString();
  }

  /** Bits per second from "200M", "1.5G", "100mbit", "500000"; SI multipliers (k = 1000). */
  public static long parseRate(String text) {
    Matcher m = RATE.matcher(text == null ? "" : text.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException(
          "'" + text + "' is not a rate (examples: 200M, 1G, 100mbit, 500000)");
    }
    double value = Double.parseDouble(m.group(1));
    long mult = switch (m.group(2).toLowerCase(Locale.ROOT)) {
      case "k" -> 1_000L;
      case "m" -> 1_000_000L;
      case "g" -> 1_000_000_000L;
      case "t" -> 1_000_000_000_000L;
      default -> 1L;
    };
    return Math.round(value * mult);
  }

  /** "200 Mbit/s" style, for messages and tables. */
  public static String formatRate(long bps) {
    if (bps >= 1_000_000_000L && bps % 1_000_000_000L == 0) {
      return bps / 1_000_000_000L + " Gbit/s";
    }
    if (bps >= 1_000_000L && bps % 1_000_000L == 0) {
      return bps / 1_000_000L + " Mbit/s";
    }
    if (bps >= 1_000L && bps % 1_000L == 0) {
      return bps / 1_000L + " kbit/s";
    }
    return bps + " bit/s";
  }

  /**
   * Bytes from "512M", "2G", "1.5G", "256MiB", "64k", "1048576" (plain bytes): binary
   * multipliers (k = 1024), as in {@code free -h} and cgroup limits; a fraction of a byte is
   * dropped. The exception quotes the input.
   */
  public static long parseSize(String text) {
    Matcher m = SIZE.matcher(text == null ? "" : text.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException(
          "'" + text + "' is not a size (examples: 512M, 2G, 1.5G, 268435456)");
    }
    int shift = m.group(2) == null ? 0 : switch (m.group(2).toLowerCase(Locale.ROOT)) {
      case "k" -> 10;
      case "m" -> 20;
      case "g" -> 30;
      default -> 40;
    };
    BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(1L << shift));
    if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
      throw new IllegalArgumentException("'" + text + "' is too large a size");
    }
    return bytes.longValue();
  }

  /**
   * "256 MiB", "2 GiB", "1536 KiB", "100 bytes": the largest binary unit that states the size
   * exactly, for messages and tables.
   */
  public static String formatSize(long bytes) {
    for (int i = SIZE_UNITS.length - 1; i >= 0; i--) {
      long unit = 1L << (10 * (i + 1));
      if (bytes >= unit && bytes % unit == 0) {
        return bytes / unit + " " + SIZE_UNITS[i];
      }
    }
    return bytes + (bytes == 1 ? " byte" : " bytes");
  }
}
