package org.lambdagrid.grc.reservation.testbed;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs one host command (ip, tc) for {@link TestbedNetwork}. The seam tests replace with a fake
 * that records the commands and simulates the kernel, so the build and teardown plans can be
 * checked without root.
 *
 * <p>Contract: {@link #run} never throws for a command that fails; it reports the exit code and
 * both streams. A command that cannot be started, times out or is interrupted is reported as
 * exit code -1 with the reason in stderr. Implementations must be thread-safe.
 */
@FunctionalInterface
public interface CommandRunner {
  /** What a finished command printed and returned. */
  record Result(List<String> argv, int exitCode, String stdout, String stderr) {
    public Result {
      argv = List.copyOf(argv);
    }

    public boolean ok() {
      return exitCode == 0;
    }

    /** "'ip link add ...' exited with 2: RTNETLINK answers: File exists", for error messages. */
    public String describe() {
      String err = stderr.isBlank() ? stdout.strip() : stderr.strip();
      return "'" + String.join(" ", argv) + "' exited with " + exitCode + (err.isEmpty() ? "" : ": " + err);
    }
  }

  Result run(List<String> argv, Duration timeout);

  /** Runs real processes, stdin from /dev/null, both pipes drained so neither can block. */
  static CommandRunner system() {
    return CommandRunner::runProcess;
  }

  private static Result runProcess(List<String> argv, Duration timeout) {
    Process p;
    try {
      p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    } catch (IOException e) {
      return new Result(argv, -1, "", "cannot start: " + e.getMessage());
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    Thread o = drain(p.getInputStream(), out);
    Thread e = drain(p.getErrorStream(), err);
    try {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        p.waitFor(5, TimeUnit.SECONDS);
        return new Result(argv, -1, text(out), "timed out after " + timeout.toMillis() + " ms");
      }
      o.join(5000);
      e.join(5000);
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      return new Result(argv, -1, "", "interrupted");
    }
    return new Result(argv, p.exitValue(), text(out), text(err));
  }

  private static Thread drain(InputStream in, ByteArrayOutputStream into) {
    Thread t = new Thread(() -> {
      try (in) {
        byte[] buf = new byte[8192];
        for (int n; (n = in.read(buf)) > 0; ) {
          synchronized (into) {
            into.write(buf, 0, n);
          }
        }
      } catch (IOException ignored) {
        // The process went away; what was read is what there is.
      }
    }, "lg-tbnet-drain");
    t.setDaemon(true);
    t.start();
    return t;
  }

  private static String text(ByteArrayOutputStream b) {
    synchronized (b) {
      return b.toString(StandardCharsets.UTF_8);
    }
  }
}
