package org.lambdagrid.nodemanager;

import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Something whose end means "the launcher is gone": the read end of the pipe the launcher holds
 * (EOF when every holder of the write end has exited), or the launcher's process itself. The
 * pipe alone is not enough: a child of the launcher that inherited the write end keeps it open
 * after the launcher is killed, so the NodeManager watches the launcher's pid as well.
 *
 * <p>{@link #start} runs the watch on a daemon thread and calls {@code onEnd} at most once, with
 * a short reason ("stdin closed", "process 1234 exited"). {@link #close} stops watching without
 * calling it (a stream's reader thread stays blocked until its owner closes the stream).
 * Thread-safe.
 */
public abstract class Lifeline implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Lifeline.class);
  private final AtomicBoolean fired = new AtomicBoolean();
  private volatile boolean closed;
  private Thread thread;

  /** Ends at EOF (or a read error) on {@code in}. Whatever is read is discarded. */
  public static Lifeline ofStream(InputStream in, String name) {
    return new Lifeline() {
      @Override
      String watch() {
        byte[] buf = new byte[256];
        try {
          while (in.read(buf) >= 0) {
            // Anything the launcher writes after the credential is ignored; only EOF counts.
          }
          return name + " closed";
        } catch (IOException e) {
          return name + " failed: " + e.getMessage();
        }
      }

      @Override
      boolean interruptOnClose() {
        // Interrupting a read on an interruptible channel (the node agent's socket) would close
        // the channel; the read ends when the stream's owner closes it.
        return false;
      }

      @Override
      public String toString() {
        return name;
      }
    };
  }

  /**
   * Ends when process {@code pid} exits, checked every {@code poll}. The process is identified by
   * pid and start time, so a new process that reuses the pid does not keep the lifeline alive.
   *
   * @throws IllegalArgumentException if there is no process {@code pid} now
   */
  public static Lifeline ofProcess(long pid, Duration poll) {
    return ofProcess(pid, () -> Thread.sleep(poll.toMillis()));
  }

  /** What a process lifeline does between two looks at the process. */
  interface Pause {
    void pause() throws InterruptedException;
  }

  /** As {@link #ofProcess(long, Duration)}, with {@code pause} between two looks. */
  static Lifeline ofProcess(long pid, Pause pause) {
    ProcessHandle handle = ProcessHandle.of(pid).orElseThrow(
        () -> new IllegalArgumentException("--watch-pid: there is no process " + pid));
    Optional<Instant> started = handle.info().startInstant();
    return new Lifeline() {
      @Override
      String watch() throws InterruptedException {
        while (true) {
          Optional<ProcessHandle> now = ProcessHandle.of(pid);
          if (now.isEmpty() || !now.get().isAlive()) {
            return "process " + pid + " exited";
          }
          Optional<Instant> nowStarted = now.get().info().startInstant();
          if (started.isPresent() && nowStarted.isPresent()
              && !started.get().equals(nowStarted.get())) {
            return "process " + pid + " exited (the pid now belongs to another process)";
          }
          pause.pause();
        }
      }

      @Override
      public String toString() {
        return "process " + pid;
      }
    };
  }

  /** Blocks until the watched thing ends; returns the reason. */
  abstract String watch() throws InterruptedException;

  /** Whether {@link #close} interrupts the watching thread. */
  boolean interruptOnClose() {
    return true;
  }

  /** Starts watching on a daemon thread. Call once. */
  public synchronized Lifeline start(Consumer<String> onEnd) {
    if (thread != null) {
      throw new IllegalStateException("lifeline " + this + " already started");
    }
    thread = new Thread(() -> {
      String reason;
      try {
        reason = watch();
      } catch (InterruptedException e) {
        return;
      }
      if (!closed && fired.compareAndSet(false, true)) {
        log.info("lifeline ended: {}", reason);
        onEnd.accept(reason);
      }
    }, "lifeline-" + this);
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  /**
   * Waits up to {@code timeout} for the watching thread to finish (after {@code onEnd} returned,
   * or without calling it); returns whether it did. Call after {@link #start}.
   */
  boolean awaitWatched(Duration timeout) throws InterruptedException {
    Thread t;
    synchronized (this) {
      t = thread;
    }
    t.join(timeout.toMillis());
    return !t.isAlive();
  }

  /** Stops watching; {@code onEnd} is not called afterwards unless already running. Idempotent. */
  @Override
  public synchronized void close() {
    closed = true;
    if (thread != null && interruptOnClose()) {
      thread.interrupt();
    }
  }
}
