package org.lambdagrid.crm.pilot;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.security.HostTools;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the CRM runs Slurm's client commands (sbatch, squeue, scancel, scontrol, sinfo): each by
 * the absolute path found once in {@code pilot.slurm.bin_dir} or the system directories (never
 * the CRM's PATH), as an argument vector (never through a shell), from {@code /}, with stdin from
 * the given text or {@code /dev/null}, and killed when it does not answer within its timeout.
 * The child's PATH is those directories, its time zone UTC ({@code TZ=UTC}) and its time format
 * Slurm's standard one ({@code SLURM_TIME_FORMAT=standard}: {@code YYYY-MM-DDTHH:MM:SS}), so the
 * times the CRM writes and reads (scontrol's StartTime and EndTime) mean the same in both.
 * Thread-safe.
 */
final class SlurmCommands {
  private static final Logger log = LoggerFactory.getLogger(SlurmCommands.class);

  /** A finished command's exit code and output. */
  record Result(int exit, String out, String err) {
    /** stderr (or stdout when stderr is empty) on one line. */
    String errOneLine() {
      String e = err.strip();
      return (e.isEmpty() ? out.strip() : e).replace('\n', ' ');
    }
  }

  private final List<Path> slurmDirs;
  /** The PATH the tools run with: their directories, then the system ones. */
  private final String childPath;

  /** @param slurmDirs where Slurm's commands are looked up (absolute); never the PATH */
  SlurmCommands(List<Path> slurmDirs) {
    this.slurmDirs = List.copyOf(slurmDirs);
    List<Path> dirs = new ArrayList<>(slurmDirs);
    HostTools.SYSTEM_DIRS.stream().filter(d -> !dirs.contains(d)).forEach(dirs::add);
    this.childPath = HostTools.path(dirs);
  }

  /** {@code tool} in the Slurm directories, or null when none has it. */
  Path find(String tool) {
    return HostTools.find(tool, slurmDirs);
  }

  /** The directories Slurm's commands are looked up in, as a PATH value (for messages). */
  String path() {
    return HostTools.path(slurmDirs);
  }

  /**
   * Runs {@code cmd} (its first word an absolute path) and waits for it.
   *
   * @param stdin written to the command's stdin, or null for {@code /dev/null}
   * @throws IOException it could not be started, did not answer within {@code timeout} (then it
   *     is killed), or the wait was interrupted
   */
  Result run(List<String> cmd, String stdin, Duration timeout) throws IOException {
    Path out = Files.createTempFile("lg-slurm", ".out");
    Path err = Files.createTempFile("lg-slurm", ".err");
    try {
      ProcessBuilder pb = new ProcessBuilder(cmd).directory(new File("/"))
          .redirectOutput(out.toFile()).redirectError(err.toFile());
      pb.environment().put("PATH", childPath);
      pb.environment().put("TZ", "UTC");
      pb.environment().put("SLURM_TIME_FORMAT", "standard"); // whatever the CRM's env says
      if (stdin == null) {
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
      }
      Process p = pb.start();
      if (stdin != null) {
        try (var in = p.getOutputStream()) {
          in.write(stdin.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
          log.debug("writing stdin of {}: {}", cmd.get(0), e.toString());
        }
      }
      try {
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
          p.destroyForcibly();
          throw new IOException(Path.of(cmd.get(0)).getFileName() + " did not answer within "
              + timeout.toSeconds() + "s");
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while running " + cmd.get(0));
      }
      return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }
}
