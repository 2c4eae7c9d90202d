package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.Processes;
import org.lambdagrid.common.net.LinkCommands;
import org.lambdagrid.nodemanager.driver.GuestException;

/**
 * The last build step ({@link GuestSteps#of}), the guest's processes: the holder ({@code unshare}
 * in the netns, owning the guest's mount, UTS, IPC and PID namespaces) and its child
 * {@code guest-init.sh}, which mounts the guest's file system and stays as the guest's pid 1,
 * which starts the guest's sshd. Each pid is recorded as soon as it is known; sshd's by
 * {@link SshdStarter} once the step is done.
 *
 * <p>Undo kills init (the kernel then kills every process of the guest, and its mounts go with
 * its mount namespace), then the holder and sshd if they do not exit by themselves, then
 * anything still in the netns. The holder reaps init and then exits by itself; it is killed only
 * if it does not, since a process it no longer reaps would wait for the host's init. A recorded
 * process outside the guest's own netns, an init in the NodeManager's PID namespace, or one whose
 * namespaces cannot be read here, is reported and left alone ({@link #refusal}); an init already
 * exiting is waited for like a killed one.
 */
final class ProcessesStep implements GuestStep {
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(15);

  private final NamespacesDriverConfig config;
  private final NetworkStep.Kernel kernel;

  ProcessesStep(NamespacesDriverConfig config) {
    this(config, NetworkStep.Kernel.KERNEL);
  }

  /** @param kernel asked for the processes left in the guest's netns ({@code ip netns pids}) */
  ProcessesStep(NamespacesDriverConfig config, NetworkStep.Kernel kernel) {
    this.config = config;
    this.kernel = kernel;
  }

  @Override
  public void build(NewGuest guest) throws GuestException, IOException {
    GuestRecord rec = guest.record();
    Path dir = rec.dir();
    List<String> argv = CgroupStep.joined(rec, holderArgv(dir, NetworkPlan.netns(rec.id()),
        guest.spec().hostname(), guest.user(), config.sshdPath()));
    Path holderLog = dir.resolve("holder.log");
    Process holder = new ProcessBuilder(argv)
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(holderLog.toFile()))
        .start();
    // The cgroup join (if any) and nsenter exec (no fork), so this pid is unshare's; record it
    // before anything else.
    GuestRecord.Proc unshare = ProcFs.procOf(holder.pid());
    rec.setProc(GuestRecord.HOLDER,
        unshare != null ? unshare : new GuestRecord.Proc(holder.pid(), "?"));
    rec.save();
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    Path ready = dir.resolve(GuestLayout.READY);
    while (!Files.exists(ready)) {
      if (!holder.isAlive()) {
        throw new GuestException("the guest's file system could not be set up: '"
            + String.join(" ", argv) + "' exited with " + holder.exitValue() + ": "
            + SafeFiles.tail(holderLog));
      }
      if (System.nanoTime() > deadline) {
        throw new GuestException("the guest's file system was not ready within 15 s: "
            + SafeFiles.tail(holderLog));
      }
      ProcFs.sleep(5);
    }
    GuestRecord.Proc init = null;
    while (init == null) {
      init = ProcFs.firstChild(holder.pid());
      if (init == null) {
        if (!holder.isAlive() || System.nanoTime() > deadline) {
          throw new GuestException("the guest's init process vanished: "
              + SafeFiles.tail(holderLog));
        }
        ProcFs.sleep(5);
      }
    }
    rec.setProc(GuestRecord.INIT, init);
    rec.save();
    // READY is written just before init's last exec into the guest's root; whoever enters the
    // guest (nsenter --target INIT --root: sshd, the command) takes init's root, so wait for it.
    while (!ProcFs.isChrootedInit(ProcFs.cmdline(init.pid()))) {
      if (!init.alive() || System.nanoTime() > deadline) {
        throw new GuestException("the guest's init did not enter the guest's root (its command"
            + " line: '" + String.join(" ", ProcFs.cmdline(init.pid())) + "'): "
            + SafeFiles.tail(holderLog));
      }
      ProcFs.sleep(1);
    }
  }

  /**
   * The holder's command line: {@code nsenter --net=/run/netns/NETNS unshare ... /bin/sh
   * guest-init.sh STATE HOSTNAME HOME UID SSHD-COMMAND...} (see guest-init.sh; the mounts are in
   * STATE/fstab; init starts the sshd command in the guest's root).
   * Tools by absolute path. nsenter only joins the netns; {@code ip netns exec} would also make
   * a mount namespace and remount /sys for it, which guest-init.sh does itself in the guest's.
   */
  static List<String> holderArgv(Path dir, String netns, String hostname, GuestUser user,
      String sshdPath) {
    List<String> argv = new ArrayList<>(List.of(Commands.tool("nsenter"),
        "--net=" + LinkCommands.netnsPath(netns), "--", Commands.tool("unshare"), "--mount",
        "--uts", "--ipc", "--pid", "--fork", "--kill-child",
        "--propagation", "private", "/bin/sh", dir.resolve(GuestLayout.INIT_SCRIPT).toString(),
        dir.toString(), hostname, user.home().toString(), Integer.toString(user.uid())));
    argv.addAll(SshdStarter.command(sshdPath)); // init starts it in the guest's root
    return argv;
  }

  @Override
  public List<String> undo(GuestRecord rec) {
    List<String> problems = new ArrayList<>();
    List<ProcessHandle> victims = new ArrayList<>();
    GuestRecord.Proc init = recorded(rec, GuestRecord.INIT, problems);
    ProcFs.PidNs initNs = init == null ? null : ProcFs.pidNamespace(init.pid());
    List<ProcessHandle> ending = new ArrayList<>();
    if (initNs == ProcFs.PidNs.EXITING) {
      // The kernel is ending it and its PID namespace already: waited for, never signalled
      // (nothing shows it is the guest's: its netns link is gone).
      ProcessHandle.of(init.pid()).filter(h -> init.alive()).ifPresent(ending::add);
    } else if (initNs != null && initNs != ProcFs.PidNs.GONE && init.alive()) {
      String refused = refusal(rec, GuestRecord.INIT, init, initNs, netnsFile(rec));
      if (refused != null) {
        problems.add(refused);
      } else {
        // The handle first, then the start time again: the handle is then of the recorded init.
        ProcessHandle h = ProcessHandle.of(init.pid()).orElse(null);
        if (h != null && init.alive()) {
          victims.addAll(ProcFs.pidNamespaceMembers(init));
          victims.add(h);
        }
      }
    }
    killAndWait(victims, Duration.ofSeconds(10));
    waitGone(ending, Duration.ofSeconds(10));
    ending.stream().filter(Processes::running).forEach(h -> problems.add("guest record "
        + rec.dir().resolve(GuestRecord.FILE) + ": init.pid " + h.pid() + " did not finish"
        + " exiting within 10 s; destroy again"));
    for (String key : List.of(GuestRecord.HOLDER, GuestRecord.SSHD)) {
      GuestRecord.Proc p = recorded(rec, key, problems);
      if (p != null && p.alive()) {
        ProcessHandle.of(p.pid()).ifPresent(h -> {
          waitGone(List.of(h), Duration.ofSeconds(2)); // the holder exits once init is gone
          ProcFs.PidNs ns = ProcFs.pidNamespace(p.pid());
          if (!Processes.running(h) || ns.ending()) {
            return; // gone, or ending by itself
          }
          String refused = refusal(rec, key, p, ns, netnsFile(rec));
          if (refused != null) {
            problems.add(refused);
          } else if (p.alive()) { // h was taken before: it is the recorded process
            victims.add(h);
          }
        });
      }
    }
    String ns = NetworkPlan.netns(rec.id()); // the guest's own, whatever the record names
    if (rec.get(GuestRecord.NETNS) != null && kernel.netnsExists(ns)) {
      HostCommand.Result pids = kernel.ip("netns", "pids", ns);
      pids.stdout().lines().map(String::trim).filter(s -> s.matches("\\d{1,18}"))
          .forEach(s -> ProcessHandle.of(Long.parseLong(s)) // the handle, then where it is
              .filter(h -> kernel.inNetns(h.pid(), ns)).ifPresent(victims::add));
    }
    killAndWait(victims, Duration.ofSeconds(10));
    victims.stream().filter(Processes::running)
        .forEach(p -> problems.add("process " + p.pid() + " survived SIGKILL"));
    return problems;
  }

  /**
   * The process {@code rec} records under {@code key}, or null; a damaged entry (a pid that is
   * no number) is reported and is null, so the rest of undo, above all the sweep of the guest's
   * netns, still runs.
   */
  private static GuestRecord.Proc recorded(GuestRecord rec, String key, List<String> problems) {
    try {
      return rec.proc(key);
    } catch (IllegalArgumentException e) {
      problems.add("guest record " + rec.dir().resolve(GuestRecord.FILE) + ": " + e.getMessage()
          + "; not killed by pid, only what is in the guest's network namespace: correct or"
          + " delete " + key + ".pid, then destroy again");
      return null;
    }
  }

  /**
   * Why the live process {@code rec} records under {@code key} (init, holder, sshd) must not be
   * killed as this guest's, or null. Each is in the guest's own network namespace (the one
   * {@code /run/netns/lg-ID} binds, ID the record's), and init in a PID namespace other than the
   * NodeManager's; a damaged or edited record naming a host process (pid 1 with its real start
   * time) or another guest's is refused, and so is any process once that file is gone (deleted
   * by hand: nothing shows the process is the guest's), and any whose namespaces cannot be read
   * here (DENIED: an LSM or a sandbox). Null when the process exited meanwhile or is exiting
   * (PF_EXITING: the kernel ends it and, for an init, its PID namespace).
   */
  static String refusal(GuestRecord rec, String key, GuestRecord.Proc p) {
    return refusal(rec, key, p, ProcFs.pidNamespace(p.pid()), netnsFile(rec));
  }

  /**
   * {@link #refusal}, given where {@code p} is ({@code pidNs}, read before anything else) and
   * the file that binds the guest's netns.
   */
  static String refusal(GuestRecord rec, String key, GuestRecord.Proc p, ProcFs.PidNs pidNs,
      Path netnsFile) {
    String why = pidNs.ending() ? null
        : pidNs == ProcFs.PidNs.DENIED
            ? "cannot be inspected: /proc/" + p.pid() + "/ns cannot be read here (an LSM or a"
                + " sandbox?); not killed (if it is the guest's " + key + ", kill -9 " + p.pid()
                + " by hand)"
        : key.equals(GuestRecord.INIT) && pidNs == ProcFs.PidNs.OWN
            ? "is in the NodeManager's own PID namespace; refused, not killed"
        : !Files.exists(netnsFile, LinkOption.NOFOLLOW_LINKS)
            ? "cannot be shown to be this guest's: its network namespace " + netnsFile
                + " is gone; not killed (if it is the guest's " + key + ", kill -9 " + p.pid()
                + " by hand)"
        : !ProcFs.inNetns(p.pid(), netnsFile)
            ? "is not in this guest's network namespace " + NetworkPlan.netns(rec.id())
                + "; refused, not killed"
            : null;
    // Read last: a process that began exiting meanwhile (PF_EXITING comes before its netns goes).
    return why == null || !p.alive() || ProcFs.exiting(p.pid()) ? null : "guest record "
        + rec.dir().resolve(GuestRecord.FILE) + ": " + key + ".pid " + p.pid() + " " + why;
  }

  private static Path netnsFile(GuestRecord rec) {
    return LinkCommands.netnsPath(NetworkPlan.netns(rec.id()));
  }

  /**
   * SHUTDOWN: TERM to every process of the guest but its init, KILL after {@code grace}. Returns
   * false, doing nothing, when init is gone, exiting or not this guest's ({@link #refusal}).
   */
  static boolean stopInside(GuestRecord rec, Duration grace) {
    GuestRecord.Proc init = rec.proc(GuestRecord.INIT);
    ProcFs.PidNs ns = init == null ? null : ProcFs.pidNamespace(init.pid());
    if (ns == null || ns.ending() || !init.alive()
        || refusal(rec, GuestRecord.INIT, init, ns, netnsFile(rec)) != null) {
      return false;
    }
    List<ProcessHandle> inside = ProcFs.pidNamespaceMembers(init);
    inside.forEach(ProcessHandle::destroy);
    long deadline = System.nanoTime() + grace.toNanos();
    while (System.nanoTime() < deadline && inside.stream().anyMatch(ProcessHandle::isAlive)) {
      ProcFs.sleep(20);
    }
    ProcFs.pidNamespaceMembers(init).forEach(ProcessHandle::destroyForcibly);
    return true;
  }

  private static void killAndWait(List<ProcessHandle> victims, Duration timeout) {
    // Every one: the JDK signals a handle only while its start time still matches.
    victims.forEach(ProcessHandle::destroyForcibly);
    waitGone(victims, timeout);
  }

  private static void waitGone(List<ProcessHandle> procs, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (procs.stream().anyMatch(Processes::running) && System.nanoTime() < deadline) {
      ProcFs.sleep(10);
    }
  }
}
