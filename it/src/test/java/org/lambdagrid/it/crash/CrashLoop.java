package org.lambdagrid.it.crash;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.lambdagrid.common.testing.FreePorts;

/**
 * The crash-test harness: start a daemon as its own JVM, wait until it listens, let workloads
 * hammer it, SIGKILL it a random delay after the first acknowledged request, then (with the daemon dead) run every invariant
 * against what the clients were told and what the daemon recorded; repeat.
 *
 * <p>Workloads and invariants are separate plug-ins so a new kind of request (reservations)
 * adds one of each without touching the loop. Workloads run on their own threads until the
 * kill; they record only what the daemon <em>acknowledged</em> (a call that failed or was cut
 * off by the kill promises nothing). Invariants run between the kill and the next start, when
 * the daemon's database file is free to open.
 */
final class CrashLoop {
  /**
   * Starts the daemon for one iteration (a new JVM, see {@link #java}) on {@code port}, adding
   * {@code jvmFlags} to its command line.
   */
  interface Daemon {
    Process start(int iteration, int port, List<String> jvmFlags) throws IOException;
  }

  /**
   * Fires requests at the daemon listening on {@code port} until {@code stop} is set, calling
   * {@code acked} after each acknowledged request (the kill timer starts at the first).
   */
  interface Workload {
    void run(int iteration, int port, AtomicBoolean stop, Runnable acked) throws Exception;
  }

  /** Checks recorded state against acknowledgements after a kill; throws AssertionError. */
  interface Invariant {
    void check(int iteration) throws Exception;
  }

  /** What one run did, for the test's report. */
  record Report(int iterations, int killedWhileServing, long millis) {}

  private final Daemon daemon;
  private final List<Workload> workloads = new ArrayList<>();
  private final List<Invariant> invariants = new ArrayList<>();
  private final Random random;
  private Duration minKill = Duration.ofMillis(50);
  private Duration maxKill = Duration.ofMillis(600);
  private Duration startTimeout = Duration.ofSeconds(30);

  CrashLoop(Daemon daemon, long seed) {
    this.daemon = daemon;
    this.random = new Random(seed);
    // -Dlambdagrid.crash.kill_after=MIN_MS,MAX_MS: how long after the first acknowledged request
    // the daemon is killed (default 50,600); long lives exercise the store's space reuse.
    String range = System.getProperty("lambdagrid.crash.kill_after", "");
    if (!range.isEmpty()) {
      String[] mm = range.split(",");
      killAfter(Duration.ofMillis(Long.parseLong(mm[0].trim())),
          Duration.ofMillis(Long.parseLong(mm[1].trim())));
    }
  }

  CrashLoop workload(Workload w) {
    workloads.add(w);
    return this;
  }

  CrashLoop invariant(Invariant i) {
    invariants.add(i);
    return this;
  }

  CrashLoop killAfter(Duration min, Duration max) {
    this.minKill = min;
    this.maxKill = max;
    return this;
  }

  Report run(int iterations) throws Exception {
    long t0 = System.nanoTime();
    int serving = 0;
    ExecutorService pool = Executors.newCachedThreadPool();
    try {
      for (int i = 1; i <= iterations; i++) {
        int port = FreePorts.pick();
        long t1 = System.nanoTime();
        Process p = daemon.start(i, port, List.of());
        long tListen = 0;
        long tAck = 0;
        long tKill = 0;
        AtomicBoolean stop = new AtomicBoolean();
        List<Future<?>> running = new ArrayList<>();
        try {
          awaitListening(p, port, i);
          tListen = System.nanoTime();
          serving++;
          CountDownLatch firstAck = new CountDownLatch(1);
          for (Workload w : workloads) {
            final int it = i;
            running.add(pool.submit(() -> {
              w.run(it, port, stop, firstAck::countDown);
              return null;
            }));
          }
          if (!firstAck.await(startTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("iteration " + i + ": no request was acknowledged within "
                + startTimeout);
          }
          tAck = System.nanoTime();
          long span = maxKill.toMillis() - minKill.toMillis();
          Thread.sleep(minKill.toMillis() + (span <= 0 ? 0 : random.nextInt((int) span)));
        } finally {
          p.destroyForcibly(); // SIGKILL
          p.waitFor(30, TimeUnit.SECONDS);
          stop.set(true);
          tKill = System.nanoTime();
        }
        // The workloads' calls fail now; they must have stopped before the checks read.
        for (Future<?> f : running) {
          f.get(30, TimeUnit.SECONDS);
        }
        long tStopped = System.nanoTime();
        for (Invariant inv : invariants) {
          inv.check(i);
        }
        System.out.printf("crash loop %d: listening after %d ms, first ack after %d ms, killed"
            + " after %d ms, clients stopped in %d ms, checked in %d ms%n", i,
            (tListen - t1) / 1_000_000, (tAck - tListen) / 1_000_000, (tKill - tAck) / 1_000_000,
            (tStopped - tKill) / 1_000_000, (System.nanoTime() - tStopped) / 1_000_000);
      }
    } finally {
      pool.shutdownNow();
      pool.awaitTermination(20, TimeUnit.SECONDS);
    }
    return new Report(iterations, serving, (System.nanoTime() - t0) / 1_000_000);
  }

  private void awaitListening(Process p, int port, int iteration) throws Exception {
    long deadline = System.nanoTime() + startTimeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        throw new AssertionError("iteration " + iteration + ": the daemon exited with "
            + p.exitValue() + " before listening");
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException e) {
        Thread.sleep(20);
      }
    }
    throw new AssertionError("iteration " + iteration + ": the daemon did not listen on " + port
        + " within " + startTimeout);
  }

  /**
   * Starts the daemon once more and lets it run until {@code settled} holds (or the timeout),
   * then kills it and runs the invariants: the restart's background work (releasing what the
   * last kill left) must finish on its own.
   */
  void settle(BooleanSupplier settled, Duration timeout, int iteration) throws Exception {
    int port = FreePorts.pick();
    Process p = daemon.start(iteration, port, List.of());
    try {
      awaitListening(p, port, iteration);
      long deadline = System.nanoTime() + timeout.toNanos();
      while (!settled.getAsBoolean()) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError("the restarted daemon did not settle within " + timeout);
        }
        Thread.sleep(50);
      }
      Thread.sleep(500); // the write that follows the last confirmation
    } finally {
      p.destroyForcibly();
      p.waitFor(30, TimeUnit.SECONDS);
    }
    for (Invariant inv : invariants) {
      inv.check(iteration);
    }
  }

  /** The JVM command line for a daemon on the test classpath, tuned for a fast start. */
  static List<String> java(List<String> jvmFlags, String main, String... args) {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData"));
    cmd.addAll(jvmFlags);
    cmd.addAll(List.of("-cp", classpath(), main));
    cmd.addAll(List.of(args));
    return cmd;
  }

  private static String classpath() {
    String cp = System.getProperty("surefire.test.class.path");
    return cp != null ? cp : System.getProperty("java.class.path");
  }
}
