package org.lambdagrid.nodemanager.driver.namespaces;

import java.time.Duration;
import java.util.List;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.HostCommand.Result;
import org.lambdagrid.nodemanager.driver.GuestException;

/**
 * Runs the host tools (iproute2, util-linux, OpenSSH) the namespaces driver is made of. Every
 * command has a timeout; a failure message names the command and quotes its stderr, so an
 * operator can rerun it by hand.
 *
 * <p>Thread-safe; holds no state.
 */
final class Commands {
  private Commands() {}

  static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

  /** Runs argv, throws unless it exits 0. */
  static Result run(String... argv) throws GuestException {
    return run(DEFAULT_TIMEOUT, List.of(argv));
  }

  static Result run(Duration timeout, List<String> argv) throws GuestException {
    Result r = attempt(timeout, argv);
    if (!r.ok()) {
      throw new GuestException(r.describe());
    }
    return r;
  }

  /**
   * Runs argv and returns whatever happened; never throws for a non-zero exit. A command that
   * cannot be started or times out is reported as exit code -1 with the reason in stderr.
   */
  static Result attempt(String... argv) {
    return attempt(DEFAULT_TIMEOUT, List.of(argv));
  }

  static Result attempt(Duration timeout, List<String> argv) {
    return HostCommand.run(argv, timeout);
  }

  /** Whether an executable file exists at path, or on the host PATH when path has no '/'. */
  static boolean executableExists(String path) {
    if (path.contains("/")) {
      return java.nio.file.Files.isExecutable(java.nio.file.Path.of(path));
    }
    String envPath = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (String dir : (envPath + ":/usr/sbin:/sbin").split(":")) {
      if (!dir.isEmpty() && java.nio.file.Files.isExecutable(java.nio.file.Path.of(dir, path))) {
        return true;
      }
    }
    return false;
  }
}
