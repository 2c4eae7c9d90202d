package org.lambdagrid.common.reservation;

import java.time.Duration;
import java.time.Instant;

/** A half-open time window {@code [start, end)}; {@code start} is before {@code end}. */
public record Window(Instant start, Instant end) {
  public Window {
    if (!start.isBefore(end)) {
      throw new IllegalArgumentException("window start " + start + " is not before end " + end);
    }
  }

  public static Window of(Instant start, Duration duration) {
    return new Window(start, start.plus(duration));
  }

  public Duration duration() {
    return Duration.between(start, end);
  }

  public boolean overlaps(Window o) {
    return start.isBefore(o.end) && o.start.isBefore(end);
  }

  public long startMillis() {
    return start.toEpochMilli();
  }

  public long endMillis() {
    return end.toEpochMilli();
  }

  @Override
  public String toString() {
    return "[" + start + ", " + end + ")";
  }
}
