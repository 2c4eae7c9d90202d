package org.lambdagrid.common.net;

import java.time.Duration;
import java.util.List;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.HostCommand.Result;

/**
 * Runs one host command (ip, tc, bridge) for the code that builds network devices (the GRC's
 * testbed network, a routed site's overlay in its CRM). The seam tests replace with a fake that
 * records the commands and simulates the kernel, so build and teardown plans can be checked
 * without root.
 *
 * <p>Contract: {@link #run} never throws for a command that fails; it reports the exit code and
 * both streams. A command that cannot be started, times out or is interrupted is reported as
 * exit code -1 with the reason in stderr. Implementations must be thread-safe.
 */
@FunctionalInterface
public interface CommandRunner {
  Result run(List<String> argv, Duration timeout);

  /** Runs real processes ({@link HostCommand#run}). */
  static CommandRunner system() {
    return HostCommand::run;
  }
}
