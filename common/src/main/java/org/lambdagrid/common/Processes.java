package org.lambdagrid.common;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the daemons ask of a process they wait to see gone. */
public final class Processes {
  private Processes() {}

  /**
   * Alive and not a zombie. A zombie holds no namespace, mount or socket any more; an orphan that
   * exited stays one until its reaper (the host's init after a crash; some inits in containers
   * and micro-VMs reap only now and then) collects it, so for teardown it is gone. Note that a
   * child of this JVM is also a zombie for a moment before the JDK reaps it: use
   * {@link Process#waitFor} when its exit code matters.
   */
  public static boolean running(ProcessHandle p) {
    if (!p.isAlive()) {
      return false;
    }
    try {
      return !isZombieStat(Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat")));
    } catch (IOException e) {
      return p.isAlive(); // gone between the two reads, or no /proc: trust the JDK
    }
  }

  /** Whether a {@code /proc/PID/stat} line says state Z; the name in parentheses may hold any. */
  static boolean isZombieStat(String stat) {
    int close = stat.lastIndexOf(')');
    return close >= 0 && close + 2 < stat.length() && stat.charAt(close + 2) == 'Z';
  }
}
