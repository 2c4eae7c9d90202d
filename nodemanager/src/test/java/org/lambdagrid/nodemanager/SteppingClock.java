package org.lambdagrid.nodemanager;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** A clock that moves on by {@code step} each time it is read: every wait on it expires. */
final class SteppingClock extends Clock {
  private final Duration step;
  private Instant now = Instant.parse("2030-01-01T00:00:00Z");

  SteppingClock(Duration step) {
    this.step = step;
  }

  @Override
  public synchronized Instant instant() {
    Instant t = now;
    now = now.plus(step);
    return t;
  }

  @Override
  public ZoneId getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    throw new UnsupportedOperationException();
  }
}
