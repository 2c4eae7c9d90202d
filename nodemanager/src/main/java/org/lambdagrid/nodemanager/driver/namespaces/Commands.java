package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
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

  /** What a finished command printed and returned. */
  record Result(List<String> argv, int exitCode, String stdout, String stderr) {
    boolean ok() {
      return exitCode == 0;
    }

    String describe() {
      String err = stderr.isBlank() ? stdout.strip() : stderr.strip();
      return "'" + String.join(" ", argv) + "' exited with " + exitCode
          + (err.isEmpty() ? "" : ": " + err);
    }
  }

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
    argv = List.copyOf(argv);
    Process p;
    try {
      p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(
          new java.io.File("/dev/null"))).start();
    } catch (IOException e) {
      return new Result(argv, -1, "", "cannot start: " + e.getMessage());
    }
    Drain out = new Drain(p.getInputStream());
    Drain err = new Drain(p.getErrorStream());
    out.start();
    err.start();
    try {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        p.waitFor(5, TimeUnit.SECONDS);
        return new Result(argv, -1, out.text(), "timed out after " + timeout.toSeconds() + " s");
      }
      out.join(5000);
      err.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      return new Result(argv, -1, "", "interrupted");
    }
    return new Result(argv, p.exitValue(), out.text(), err.text());
  }

  /** Reads one stream to the end in its own thread, so neither pipe can fill and block. */
  private static final class Drain extends Thread {
    private final InputStream in;
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

    Drain(InputStream in) {
      this.in = in;
      setDaemon(true);
      setName("lg-cmd-drain");
    }

    @Override
    public void run() {
      try (in) {
        in.transferTo(buf);
      } catch (IOException e) {
        // The process went away; what we have is what there is.
      }
    }

    String text() {
      synchronized (buf) {
        return buf.toString(StandardCharsets.UTF_8);
      }
    }
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
