package org.lambdagrid.common.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Real zombie processes for tests of code that must tell them from running ones. */
public final class Zombies {
  private Zombies() {}

  /**
   * Starts {@code sh -c 'true & exec sleep 30'}: sleep inherits the exited {@code true} as its
   * child and never reaps it, a zombie for 30 s. The caller destroys the returned parent.
   */
  public static Process parent() throws IOException {
    return new ProcessBuilder("sh", "-c", "true & exec sleep 30").start();
  }

  /** The zombie child of {@code parent} (from {@link #parent}), waited for up to 10 s. */
  public static ProcessHandle childOf(ProcessHandle parent) throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (System.nanoTime() < deadline) {
      for (ProcessHandle h : parent.children().toList()) {
        try {
          if (Files.readString(Path.of("/proc/" + h.pid() + "/stat")).contains(") Z ")) {
            return h;
          }
        } catch (IOException gone) {
          // not yet or no longer there; look again
        }
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no zombie child of " + parent.pid() + " within 10 s");
  }
}
