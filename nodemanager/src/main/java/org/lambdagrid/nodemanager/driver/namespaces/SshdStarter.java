package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;

/**
 * The guest's sshd ({@code sshd -D -e}, output appended to {@code sshd.log}): started by the
 * guest's init as its first act in the guest's root (guest-init.sh), recorded at the end of the
 * build, and waited for by RUN until it listens on port 22; RUN starts it again ({@code nsenter}
 * into the guest) if it died. The sshd process is undone with the guest's other processes
 * ({@link ProcessesStep}).
 *
 * <p>Thread-safe; calls for one guest come from one thread at a time.
 */
final class SshdStarter {
  private final NamespacesDriverConfig config;
  /** The relaunch's nsenter (sshd's parent) per guest id, while this instance started it. */
  private final Map<String, Process> launchers = new ConcurrentHashMap<>();

  SshdStarter(NamespacesDriverConfig config) {
    this.config = config;
  }

  /** sshd's command line in the guest: in the foreground, logging to stderr, the guest's config. */
  static List<String> command(String sshdPath) {
    return List.of(sshdPath, "-D", "-e", "-f", GuestLayout.GUEST_ETC + "/sshd_config");
  }

  /** The relaunch's command line: nsenter into every namespace and the root of the guest. */
  static List<String> argv(long initPid, String sshdPath) {
    List<String> argv = new ArrayList<>(List.of(Commands.tool("nsenter"), "--target",
        Long.toString(initPid), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd"));
    argv.addAll(command(sshdPath));
    return argv;
  }

  /**
   * Records the sshd that the guest's init started as its first act in the guest's root
   * (guest-init.sh runs {@link #command}), without waiting for it to listen; returns it. The
   * build calls it last, so sshd's start-up overlaps the key exchange: it needs only its config
   * and host key (the trust files are read per connection). Fails, with sshd's log, when sshd
   * exited at once.
   *
   * <p>init forks sshd, then its loop's {@code sleep}, and nothing else; a child is told by its
   * command name (/proc/PID/stat: the executable's base name, which sshd's proctitle does not
   * change): sshd's, {@code sleep}, or neither yet (sshd before its exec: init's own).
   */
  GuestRecord.Proc recordStarted(GuestRecord rec, GuestHandle guest) throws GuestException {
    GuestRecord.Proc init = rec.proc(GuestRecord.INIT);
    if (init == null || !init.alive()) {
      throw new GuestException("guest " + guest.id() + " is not built (no init process)");
    }
    String sshdName = ProcFs.commandName(Path.of(config.sshdPath()));
    long deadline = System.nanoTime() + config.startTimeout().toNanos();
    while (true) {
      boolean looping = false;
      boolean unsettled = false;
      boolean exited = false;
      for (long pid : ProcFs.children(init.pid())) {
        ProcFs.Stat st = ProcFs.statOf(pid); // name, state and start time from one read
        if (st == null) {
          unsettled = true; // gone since the list was read
        } else if (st.name().equals(sshdName)) {
          if (st.zombie()) {
            exited = true;
            continue;
          }
          GuestRecord.Proc sshd = new GuestRecord.Proc(pid, st.startTime());
          rec.setProc(GuestRecord.SSHD, sshd);
          rec.persist();
          return sshd;
        } else if (st.name().equals("sleep")) {
          looping = true;
        } else {
          unsettled = true;
        }
      }
      if (!init.alive()) {
        throw new GuestException("the init of guest " + guest.id() + " exited before its sshd"
            + " was seen: " + SafeFiles.tail(guest.stateDir().resolve("holder.log")));
      }
      if (exited || (looping && !unsettled)) {
        throw new GuestException("sshd of guest " + guest.id() + " exited at once: "
            + SafeFiles.tail(guest.stateDir().resolve("sshd.log")));
      }
      if (System.nanoTime() > deadline) {
        throw new GuestException("sshd of guest " + guest.id() + " did not start within "
            + config.startTimeout().toSeconds() + " s: "
            + SafeFiles.tail(guest.stateDir().resolve("sshd.log")));
      }
      ProcFs.sleep(2);
    }
  }

  /**
   * Starts sshd again unless it runs; returns its process. Idempotent. (The guest's init starts
   * it at the build; this is for an sshd that died since.)
   */
  GuestRecord.Proc launchIfNeeded(GuestHandle guest) throws GuestException {
    GuestRecord rec = GuestRecord.loadFor(guest);
    GuestRecord.Proc init = rec.proc(GuestRecord.INIT);
    if (init == null || !init.alive()) {
      throw new GuestException("guest " + guest.id() + " is not built (no init process)");
    }
    GuestRecord.Proc sshd = rec.proc(GuestRecord.SSHD);
    if (sshd == null || !sshd.alive()) {
      sshd = launch(guest, rec, init, guest.stateDir().resolve("sshd.log"));
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
    Path pidFile = GuestLayout.run(guest.stateDir()).resolve(GuestLayout.SSHD_PID);
    while (!ProcFs.sshdListens(sshd, pidFile)) {
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

  /** Starts the launcher (in the guest's cgroups) and returns its child, sshd. */
  private GuestRecord.Proc launch(GuestHandle guest, GuestRecord rec, GuestRecord.Proc init,
      Path sshdLog) throws GuestException {
    List<String> argv = CgroupStep.joined(rec, argv(init.pid(), config.sshdPath()));
    Process launcher;
    try {
      // The dead sshd's pid file would name a process that is gone; the new one writes its own.
      Files.deleteIfExists(GuestLayout.run(guest.stateDir()).resolve(GuestLayout.SSHD_PID));
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
