package org.lambdagrid.nodemanager.driver.namespaces;

import java.time.Duration;
import java.util.List;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.HostCommand.Result;
import org.lambdagrid.common.security.HostTools;
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

  /**
   * The absolute path of host tool {@code name} in {@link HostTools#SYSTEM_DIRS}, whatever the
   * caller's PATH. An unknown tool is returned as {@code /usr/bin/NAME}, so running it fails with
   * a message naming that path ({@link #executableExists} reports it up front).
   */
  static String tool(String name) {
    java.nio.file.Path p = HostTools.system(name);
    return p != null ? p.toString() : "/usr/bin/" + name;
  }

  /** Whether an executable file exists at path, or in the system dirs when path has no '/'. */
  static boolean executableExists(String path) {
    return java.nio.file.Files.isExecutable(java.nio.file.Path.of(
        path.contains("/") ? path : tool(path)));
  }
}
