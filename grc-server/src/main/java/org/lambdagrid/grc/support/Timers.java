package org.lambdagrid.grc.support;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** The job and reservation timers: tasks at an instant of the GRC's clock. */
public final class Timers {
  private Timers() {}

  /** Runs {@code task} on {@code scheduler} at {@code at} by {@code clock}; at once if past. */
  public static Future<?> at(ScheduledExecutorService scheduler, Clock clock, Instant at,
      Runnable task) {
    long millis = Math.max(0, Duration.between(clock.instant(), at).toMillis());
    return scheduler.schedule(task, millis, TimeUnit.MILLISECONDS);
  }

  /** Cancels {@code f} (null: nothing); {@code interrupt} also interrupts it if it runs. */
  public static void cancel(Future<?> f, boolean interrupt) {
    if (f != null) {
      f.cancel(interrupt);
    }
  }
}
