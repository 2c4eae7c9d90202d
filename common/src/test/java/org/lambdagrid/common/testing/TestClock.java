package org.lambdagrid.common.testing;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** A clock that stands still until the test sets or advances it; the one test clock of every module. Thread-safe. */
public final class TestClock extends Clock {
  private volatile Instant now;

  public TestClock(Instant start) {
    this.now = start;
  }

  /** Starting now (whole milliseconds, as the protocol's timestamps carry them). */
  public static TestClock ofNow() {
    return new TestClock(Instant.ofEpochMilli(System.currentTimeMillis()));
  }

  public void set(Instant instant) {
    now = instant;
  }

  public synchronized void advance(Duration d) {
    now = now.plus(d);
  }

  @Override
  public Instant instant() {
    return now;
  }

  @Override
  public ZoneId getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    return this;
  }
}
