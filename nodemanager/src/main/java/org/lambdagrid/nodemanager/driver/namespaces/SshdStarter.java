package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;

/**
 * The guest's sshd ({@code nsenter} into the guest, {@code sshd -D -e}, output appended to
 * {@code sshd.log}): launched and recorded at the end of the build, and waited for by RUN until
 * it listens on port 22. The sshd
 * process is undone with the guest's other processes ({@link ProcessesStep}).
 *
 * <p>Thread-safe; calls for one guest come from one thread at a time.
 */
final class SshdStarter {
  private final NamespacesDriverConfig config;
  /** The launcher process (nsenter, sshd's parent) per guest id, while this instance started it. */
  private final Map<String, Process> launchers = new ConcurrentHashMap<>();

  SshdStarter(NamespacesDriverConfig config) {
    this.config = config;
  }

  /** The launcher's command line: nsenter into every namespace and the root of the guest. */
  static List<String> argv(long initPid, String sshdPath) {
    return List.of(Commands.tool("nsenter"), "--target", Long.toString(initPid), "--mount",
        "--uts", "--ipc", "--net", "--pid", "--root", "--wd", sshdPath, "-D", "-e", "-f",
        GuestLayout.GUEST_ETC + "/sshd_config");
  }

  /**
   * Starts sshd unless it runs already, without waiting for it to listen; returns its process.
   * The build calls it last, so sshd's start-up overlaps the key exchange: it needs only its
   * config and host key (the trust files are read per connection). Idempotent.
   */
  GuestRecord.Proc launchIfNeeded(GuestHandle guest) throws GuestException {
    return launchIfNeeded(GuestRecord.loadFor(guest), guest);
  }

  /** {@link #launchIfNeeded(GuestHandle)} with the guest's record in hand (the build's). */
  GuestRecord.Proc launchIfNeeded(GuestRecord rec, GuestHandle guest) throws GuestException {
    GuestRecord.Proc init = rec.proc(GuestRecord.INIT);
    if (init == null || !init.alive()) {
      throw new GuestException("guest " + guest.id() + " is not built (no init process)");
    }
    GuestRecord.Proc sshd = rec.proc(GuestRecord.SSHD);
    if (sshd == null || !sshd.alive()) {
      sshd = launch(guest, init, guest.stateDir().resolve("sshd.log"));
      rec.setProc(GuestRecord.SSHD, sshd);
      rec.persist();
    }
    return sshd;
  }

  /** Starts sshd unless it runs already; returns once it listens. Idempotent. */
  void start(GuestHandle guest) throws GuestException {
    GuestRecord.Proc sshd = launchIfNeeded(guest);
    Path sshdLog = guest.stateDir().resolve("sshd.log");
    // Ready means: sshd listens on port 22 in the guest's network namespace, so the kernel
    // completes connections to it; sshd says so by writing its pid file (ProcFs.sshdListens). No
    // process per probe, which matters when dozens of guests start at once on a few cores.
    long deadline = System.nanoTime() + config.startTimeout().toNanos();
    while (!ProcFs.sshdListens(sshd.pid(), GuestLayout.SSHD_PID_FILE)) {
      if (!sshd.alive()) {
        throw new GuestException("sshd of guest " + guest.id() + " exited: "
            + SafeFiles.tail(sshdLog));
      }
      if (System.nanoTime() > deadline) {
        throw new GuestException("sshd of guest " + guest.id() + " does not listen on "
            + guest.spec().address() + ":22 after " + config.startTimeout().toSeconds()
            + " s; sshd log: " + SafeFiles.tail(sshdLog));
      }
      ProcFs.sleep(10);
    }
  }

  /** Starts the launcher and returns its child, sshd. */
  private GuestRecord.Proc launch(GuestHandle guest, GuestRecord.Proc init, Path sshdLog)
      throws GuestException {
    List<String> argv = argv(init.pid(), config.sshdPath());
    Process launcher;
    try {
      launcher = new ProcessBuilder(argv)
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(sshdLog.toFile()))
          .start();
    } catch (IOException e) {
      throw new GuestException("cannot start '" + String.join(" ", argv) + "': "
          + e.getMessage(), e);
    }
    launchers.put(guest.id(), launcher);
    long deadline = System.nanoTime() + config.startTimeout().toNanos();
    while (true) {
      GuestRecord.Proc sshd = ProcFs.firstChild(launcher.pid());
      if (sshd != null) {
        return sshd;
      }
      if (!launcher.isAlive()) {
        throw new GuestException("sshd of guest " + guest.id() + " exited at once ("
            + launcher.exitValue() + "): " + SafeFiles.tail(sshdLog));
      }
      if (System.nanoTime() > deadline) {
        throw new GuestException("sshd of guest " + guest.id() + " did not start");
      }
      ProcFs.sleep(5);
    }
  }

  /** After the guest's processes were stopped: reaps its launcher, waiting up to 5 s. */
  void reap(String guestId) {
    Process launcher = launchers.remove(guestId);
    if (launcher != null) {
      try {
        launcher.waitFor(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Forgets the guest's launcher (destroy). */
  void forget(String guestId) {
    launchers.remove(guestId);
  }
}
