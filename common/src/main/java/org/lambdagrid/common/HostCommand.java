package org.lambdagrid.common;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The one way the project runs host tools (ip, tc, nsenter, ssh-keygen, ...): argv only (no
 * shell), stdin from /dev/null, both pipes drained so neither can block, and a timeout after
 * which the process and its descendants are killed. Never throws for a failed command: callers
 * decide, and quote {@link Result#describe} in their errors.
 */
public final class HostCommand {
  private HostCommand() {}

  /** What a finished command printed and returned; exit code -1 if it could not run. */
  public record Result(List<String> argv, int exitCode, String stdout, String stderr) {
    public Result {
      argv = List.copyOf(argv);
    }

    public boolean ok() {
      return exitCode == 0;
    }

    /** "'ip link add ...' exited with 2: RTNETLINK answers: File exists", for error messages. */
    public String describe() {
      String err = stderr.isBlank() ? stdout.strip() : stderr.strip();
      return "'" + String.join(" ", argv) + "' exited with " + exitCode
          + (err.isEmpty() ? "" : ": " + err);
    }
  }

  /**
   * Runs argv and returns whatever happened. A command that cannot be started, times out or is
   * interrupted is reported as exit code -1 with the reason in stderr.
   */
  public static Result run(List<String> argv, Duration timeout) {
    argv = List.copyOf(argv);
    Process p;
    try {
      p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(
          new File("/dev/null"))).start();
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
        return new Result(argv, -1, out.text(), "timed out after " + timeout.toMillis() + " ms");
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

  /** Whether this process runs with effective uid 0 (from /proc/self/status). */
  public static boolean isRoot() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("Uid:")) {
          return line.split("\\s+")[2].equals("0");
        }
      }
    } catch (IOException e) {
      return false;
    }
    return false;
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
        // The process went away; what was read is what there is.
      }
    }

    String text() {
      synchronized (buf) {
        return buf.toString(StandardCharsets.UTF_8);
      }
    }
  }
}
