package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.nodemanager.driver.OutputSink;
import org.lambdagrid.nodemanager.driver.RunningCommand;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The EXEC'd job: the nsenter process on the host, whose descendants are the job. stdout and
 * stderr are pumped to the sink by two daemon threads.
 */
final class JobProcess implements RunningCommand {
  private static final Logger log = LoggerFactory.getLogger(JobProcess.class);

  /** How long an exit waits for output still in the pipes. */
  static final Duration OUTPUT_GRACE = Duration.ofSeconds(2);
  private final Process process;
  private final Duration grace;
  private final Thread out;
  private final Thread err;

  JobProcess(Process process, OutputSink sink, Duration grace) {
    this.process = process;
    this.grace = grace;
    this.out = pump(process.getInputStream(), sink, false);
    this.err = pump(process.getErrorStream(), sink, true);
  }

  private static Thread pump(InputStream in, OutputSink sink, boolean stderr) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[8192];
      try (in) {
        int n;
        while ((n = in.read(buf)) > 0) {
          sink.output(stderr, Arrays.copyOf(buf, n));
        }
      } catch (IOException e) {
        // The pipe closed: the job is gone.
      } catch (RuntimeException e) {
        log.warn("output sink failed", e);
      }
    }, stderr ? "lg-job-stderr" : "lg-job-stdout");
    t.setDaemon(true);
    t.start();
    return t;
  }

  @Override
  public OptionalInt waitFor(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
      return OptionalInt.empty();
    }
    // Output may trail the exit briefly. A process the job left behind may hold the pipes
    // open for ever; it must not hold the exit code back, so after OUTPUT_GRACE the exit is
    // reported and the pumps keep delivering whatever comes later.
    long ms = Math.min(OUTPUT_GRACE.toMillis(),
        Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
    long until = System.currentTimeMillis() + ms;
    out.join(ms);
    err.join(Math.max(1, until - System.currentTimeMillis()));
    return OptionalInt.of(process.exitValue());
  }

  @Override
  public void kill() {
    List<ProcessHandle> all = process.descendants().toList();
    all.forEach(ProcessHandle::destroy);
    long deadline = System.nanoTime() + grace.toNanos();
    while (System.nanoTime() < deadline && all.stream().anyMatch(ProcessHandle::isAlive)) {
      ProcFs.sleep(20);
    }
    process.descendants().forEach(ProcessHandle::destroyForcibly);
    all.forEach(ProcessHandle::destroyForcibly);
  }
}
