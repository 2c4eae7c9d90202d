package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the driver reads from {@code /proc}: process start times (against pid reuse), zombies,
 * a PID namespace's members, listening sockets, mounts. The parsing is in pure functions.
 *
 * <p>Thread-safe; holds no state.
 */
final class ProcFs {
  private ProcFs() {}

  /** The start time field of /proc/PID/stat, or null when there is no such process. */
  static String startTimeOf(long pid) {
    Stat s = statOf(pid);
    return s == null ? null : s.startTime();
  }

  /** Field 22 (starttime) of a /proc/PID/stat line; the command name may hold spaces. */
  static String startTimeField(String stat) {
    return fieldsAfterName(stat)[19];
  }

  /** A /proc/PID/stat line's fields after the name (field 3 on); the name may hold ')'. */
  private static String[] fieldsAfterName(String stat) {
    return stat.substring(stat.lastIndexOf(')') + 2).split(" ");
  }

  /** The process with that pid as recorded now, or null when there is none. */
  static GuestRecord.Proc procOf(long pid) {
    String start = startTimeOf(pid);
    return start == null ? null : new GuestRecord.Proc(pid, start);
  }

  /**
   * What one read of /proc/PID/stat says of a process: its command name (the executable's base
   * name, cut to 15 bytes by the kernel; a proctitle does not change it), whether it is a zombie,
   * its start time.
   */
  record Stat(String name, boolean zombie, String startTime) {
    /** Parses a /proc/PID/stat line; the command name may hold spaces and parentheses. */
    static Stat parse(String stat) {
      int close = stat.lastIndexOf(')');
      return new Stat(stat.substring(stat.indexOf('(') + 1, close),
          stat.charAt(close + 2) == 'Z', startTimeField(stat));
    }
  }

  /** The process's {@link Stat}, or null when there is no such process. */
  static Stat statOf(long pid) {
    try {
      return Stat.parse(Files.readString(stat(pid)));
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** The command name the kernel gives a process that execs {@code executable} (TASK_COMM_LEN). */
  static String commandName(Path executable) {
    byte[] base = executable.getFileName().toString().getBytes(StandardCharsets.UTF_8);
    return new String(base, 0, Math.min(base.length, 15), StandardCharsets.UTF_8);
  }

  /** The process's arguments (/proc/PID/cmdline), empty when it is gone or has none. */
  static List<String> cmdline(long pid) {
    try {
      return cmdlineArgs(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")));
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }

  /** /proc/PID/cmdline's NUL-terminated arguments. */
  static List<String> cmdlineArgs(byte[] raw) {
    List<String> out = new ArrayList<>();
    int from = 0;
    for (int i = 0; i < raw.length; i++) {
      if (raw[i] == 0) {
        out.add(new String(raw, from, i - from, java.nio.charset.StandardCharsets.UTF_8));
        from = i + 1;
      }
    }
    if (from < raw.length) {
      out.add(new String(raw, from, raw.length - from, java.nio.charset.StandardCharsets.UTF_8));
    }
    return out;
  }

  /**
   * Whether guest-init.sh (as pid 1) has made its last exec: {@code chroot ROOT /bin/sh -c LOOP}
   * has run chroot(2) and exec'd the loop, so the process's root is the guest's. Before that its
   * arguments are {@code /bin/sh STATE/guest-init.sh ...} or {@code chroot ROOT /bin/sh -c ...}.
   */
  static boolean isChrootedInit(List<String> argv) {
    return argv.size() >= 2 && argv.get(0).equals("/bin/sh") && argv.get(1).equals("-c");
  }

  /**
   * The first child of process {@code pid}'s main thread (from {@code /proc/PID/task/PID/children},
   * one file read, unlike {@link ProcessHandle#children()}, which reads every process's stat), as
   * recorded now; null when it has none yet or is gone. Only for single-threaded parents (the C
   * tools the driver starts): a child forked by another thread is listed under that thread.
   */
  static GuestRecord.Proc firstChild(long pid) {
    List<Long> kids = children(pid);
    return kids.isEmpty() ? null : procOf(kids.get(0));
  }

  /**
   * The children of process {@code pid}'s main thread, oldest first, from
   * {@code /proc/PID/task/PID/children}; empty when it has none or is gone. Single-threaded
   * parents only (see {@link #firstChild}).
   */
  static List<Long> children(long pid) {
    String p = Long.toString(pid);
    try {
      String kids = Files.readString(Path.of("/proc", p, "task", p, "children")).trim();
      List<Long> out = new ArrayList<>();
      for (String k : kids.isEmpty() ? new String[0] : kids.split(" +")) {
        out.add(Long.parseLong(k));
      }
      return out;
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }

  /**
   * Whether {@code sshd} (a recorded process running in a guest) listens: its pid file
   * {@code pidFile} (in root's own directory on the host, read without following a link; the
   * guest's /run/lambdagrid is a bind mount of it) names that very process. OpenSSH's sshd
   * writes it only after its listening sockets are bound and listen(2) succeeded (sshd.c,
   * "Write out the pid file after ... the listen sockets are bound"), in its own PID
   * namespace's numbering, so it is compared with the innermost pid of /proc/PID/status's
   * NSpid, read while sshd is known to be that process. A file left by an sshd that died names
   * another process and does not count. Two small reads, no process, no walk of the kernel's
   * TCP tables (as reading /proc/PID/net/tcp is).
   */
  static boolean sshdListens(GuestRecord.Proc sshd, Path pidFile) {
    String written = SafeFiles.readOrEmpty(pidFile);
    String status = SafeFiles.readOrEmpty(Path.of("/proc", Long.toString(sshd.pid()), "status"));
    return sshd.alive() && wroteItsOwnPid(written, status);
  }

  /** Whether a pid file's text is the innermost pid of the NSpid line of a /proc/PID/status. */
  static boolean wroteItsOwnPid(String pidFileText, String status) {
    String written = pidFileText.trim();
    if (written.isEmpty()) {
      return false;
    }
    for (String line : status.split("\n")) {
      if (line.startsWith("NSpid:")) {
        String[] f = line.substring("NSpid:".length()).trim().split("\\s+");
        return f[f.length - 1].equals(written);
      }
    }
    return false;
  }

  /**
   * Processes of the PID namespace of {@code init}, other than init, as seen from the host; none
   * when init is in this process's own PID namespace (a record naming a host process must not
   * make root kill every process of the host), cannot be read, or is no longer the recorded
   * process (checked after its namespace is read: its pid may be another guest's init now).
   */
  static List<ProcessHandle> pidNamespaceMembers(GuestRecord.Proc init) {
    Path initNs = pidNs(init.pid());
    if (initNs == null || pidNamespace(init.pid()) != PidNs.OTHER || !init.alive()) {
      return List.of();
    }
    List<ProcessHandle> found = new ArrayList<>();
    try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : procs) {
        long pid = Long.parseLong(p.getFileName().toString());
        if (pid != init.pid()) { // the handle, then where it is: a reused pid is not taken
          ProcessHandle.of(pid).filter(h -> initNs.equals(pidNs(pid))).ifPresent(found::add);
        }
      }
    } catch (IOException e) {
      return found;
    }
    return found;
  }

  /** Where a process is, against this process's own PID namespace ({@link #pidNamespace}). */
  enum PidNs {
    OWN,
    OTHER,
    /** In do_exit (PF_EXITING): its namespaces are being released; it ends by itself. */
    EXITING,
    GONE,
    /** Alive, but its (or our own) ns/pid link cannot be read here: an LSM or a sandbox. */
    DENIED;

    /** Gone, or ending by itself: nothing to kill or refuse. */
    boolean ending() {
      return this == GONE || this == EXITING;
    }
  }

  /**
   * Whether process {@code pid} is in this process's own PID namespace, another, or cannot be
   * told, and why. A task's ns/pid link stays readable until it is reaped, but its ns/net link
   * goes early in do_exit, so an exiting task is told by its PF_EXITING flag, read first.
   */
  static PidNs pidNamespace(long pid) {
    return exiting(pid) ? PidNs.EXITING
        : pidNamespace(Path.of("/proc", Long.toString(pid), "ns/pid"),
            Path.of("/proc/self/ns/pid"));
  }

  /** {@link #pidNamespace} from a process's and our own ns/pid links, read now. */
  static PidNs pidNamespace(Path nsLink, Path ownLink) {
    Path own;
    try {
      own = Files.readSymbolicLink(ownLink);
    } catch (IOException e) {
      return PidNs.DENIED;
    }
    try {
      return Files.readSymbolicLink(nsLink).equals(own) ? PidNs.OWN : PidNs.OTHER;
    } catch (NoSuchFileException e) {
      return PidNs.GONE;
    } catch (IOException e) {
      return PidNs.DENIED; // also a process reaped during the read (EACCES): callers check alive()
    }
  }

  /** PF_EXITING, the kernel's flag for a task in do_exit. */
  private static final long PF_EXITING = 0x4;

  /** Whether process {@code pid} is in do_exit (its stat flags); false when it is gone. */
  static boolean exiting(long pid) {
    try {
      return exitingStat(Files.readString(stat(pid)));
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Whether a /proc/PID/stat line's flags (field 9) hold PF_EXITING. */
  static boolean exitingStat(String stat) {
    return (Long.parseUnsignedLong(fieldsAfterName(stat)[6]) & PF_EXITING) != 0;
  }

  /** The target of /proc/PID/ns/pid ({@code pid:[INODE]}), or null when it cannot be read. */
  static Path pidNs(long pid) {
    try {
      return Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns/pid"));
    } catch (IOException e) {
      return null;
    }
  }

  /**
   * Whether process {@code pid} is in the network namespace {@code netnsFile} binds (e.g.
   * {@code /run/netns/lg-ID}): the same nsfs file (device and inode); false when either is gone.
   */
  static boolean inNetns(long pid, Path netnsFile) {
    try {
      return Files.isSameFile(Path.of("/proc", Long.toString(pid), "ns/net"), netnsFile);
    } catch (IOException e) {
      return false;
    }
  }

  /** Mount points at or below {@code dir} in this process's mount namespace. */
  static List<String> mountsUnder(Path dir) {
    try {
      return mountsUnder(dir, Files.readAllLines(Path.of("/proc/self/mounts")));
    } catch (IOException e) {
      return List.of("(cannot read /proc/self/mounts: " + e.getMessage() + ")");
    }
  }

  /** Mount points at or below {@code dir} among the lines of a /proc/PID/mounts file. */
  static List<String> mountsUnder(Path dir, List<String> mounts) {
    String prefix = dir.toString();
    return mounts.stream()
        .map(l -> l.split(" ")).filter(f -> f.length > 1)
        .map(f -> f[1].replace("\\040", " "))
        .filter(m -> m.equals(prefix) || m.startsWith(prefix + "/"))
        .toList();
  }

  /** The pause between two looks of a poll loop; interruption ends the loop by an exception. */
  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new UncheckedIOException(new InterruptedIOException("interrupted"));
    }
  }

  private static Path stat(long pid) {
    return Path.of("/proc", Long.toString(pid), "stat");
  }
}
