package org.lambdagrid.nodemanager.driver;

import java.time.Duration;
import java.util.OptionalInt;

/** The EXEC'd command. */
public interface RunningCommand {
  /**
   * Waits up to {@code timeout} for the command to end and its output to be delivered.
   * Returns the exit code (128+N for signal N), or empty if it still runs.
   */
  OptionalInt waitFor(Duration timeout) throws InterruptedException;

  /** Stops the command (TERM, then KILL after a grace). Idempotent. */
  void kill();
}
