package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.LimitEvents;

/**
 * The build step after the files ({@link GuestSteps#of}), the guest's cgroups, when SETUP asks for
 * CPUs or memory ({@link org.lambdagrid.nodemanager.driver.GuestSpec#shape}); a guest without a
 * shape has none and this step does nothing. One cgroup {@code BASE/lambdagrid/lg-ID} per hierarchy
 * that holds a needed controller ({@link CgroupHost}: v2 where it offers them, else v1):
 *
 * <ul>
 *   <li>CPUs: {@code cpuset.cpus} = N of the CPUs the NodeManager may run on, the least used by
 *       the other guests' cgroups beside it (distinct CPUs while there are enough, shared
 *       after that; ties by number), so the guest's processes run on, and see
 *       ({@code sched_getaffinity}: {@code nproc}, Open MPI's binding), only those. v1 also
 *       needs {@code cpuset.mems}, copied from the parent.
 *   <li>memory: v1 {@code memory.limit_in_bytes} and, where swap is accounted,
 *       {@code memory.memsw.limit_in_bytes} (the same: no swap beyond it); v2 {@code memory.max}
 *       and {@code memory.swap.max} 0. The kernel's OOM killer then kills a process of the guest
 *       when they reach it; {@link #limitEvents} counts those kills.
 * </ul>
 *
 * <p>Every process of the guest is in them before any of the user's code runs: the holder (and
 * so the guest's init and sshd), the EXEC'd command and a relaunched sshd start through
 * {@link #joined}, which moves the starting process into the recorded cgroups and then execs.
 *
 * <p>The directories are recorded before they are made. Undo (from the record alone) kills what
 * is still in them, removes them, and removes {@code lambdagrid} when no other guest's cgroup is
 * in it. Only directories named {@code lg-ID} (this guest's id, which the driver made) in a
 * directory named {@code lambdagrid} below one of the host's cgroup mounts are touched; any
 * other is reported and left alone, and the state directory then stays (the files step, built
 * before this one, is undone after it).
 *
 * <p>Choosing CPUs and making the shared {@code lambdagrid} directories is serialised within the
 * process (the node agent builds many guests); NodeManager processes building at the same moment
 * may pick the same CPUs (they then share them), and one removing {@code lambdagrid} while
 * another makes its guest's cgroup in it makes the other retry.
 */
final class CgroupStep implements GuestStep {
  /** Serialises CPU choices and the shared parents within this process. */
  private static final Object SHARED = new Object();
  private final CgroupHost host;
  private final CgroupFs fs;
  private final Duration killWait;

  CgroupStep(CgroupHost host, CgroupFs fs) {
    this(host, fs, Duration.ofSeconds(10));
  }

  /** @param killWait how long undo kills what is left in a cgroup before it gives up */
  CgroupStep(CgroupHost host, CgroupFs fs, Duration killWait) {
    this.host = host;
    this.fs = fs;
    this.killWait = killWait;
  }

  /** Refuses more CPUs than the NodeManager may use, before any step builds. */
  @Override
  public void check(NewGuest guest) throws GuestException {
    if (guest.spec().shape().cpus() > 0) {
      cpusFor(guest);
    }
  }

  /** The CPUs the NodeManager may use; GuestException when fewer than the guest asks for. */
  private List<Integer> cpusFor(NewGuest guest) throws GuestException {
    NodeShape shape = guest.spec().shape();
    List<Integer> cpus = host.cpus();
    if (shape.cpus() > 0 && shape.cpus() > cpus.size()) {
      throw new GuestException("cpus: '" + shape.cpus() + "' is more CPUs than node "
          + guest.spec().hostname() + " has (" + cpus.size() + ": CPUs "
          + CgroupHost.formatCpuList(cpus) + ")");
    }
    return cpus;
  }

  @Override
  public void build(NewGuest guest) throws GuestException, IOException {
    NodeShape shape = guest.spec().shape();
    if (!shape.limited()) {
      return;
    }
    GuestRecord rec = guest.record();
    List<Integer> cpus = cpusFor(guest); // again: the CPUs allowed may have changed
    Set<String> needed = new TreeSet<>();
    if (shape.cpus() > 0) {
      needed.add(CgroupHost.CPUSET);
    }
    if (shape.memoryBytes() > 0) {
      needed.add(CgroupHost.MEMORY);
    }
    CgroupHost.Layout layout = host.layout(needed, "limit the guest's "
        + (needed.size() == 2 ? "CPUs and memory" : needed.contains(CgroupHost.CPUSET) ? "CPUs"
            : "memory"));
    List<CgroupHost.Place> places = layout.places();
    rec.set(GuestRecord.CGROUP_VERSION, layout.version() == CgroupHost.Version.V2 ? "2" : "1");
    for (int i = 0; i < places.size(); i++) {
      rec.set(GuestRecord.CGROUP_DIR + i, places.get(i).guest(rec.id()).toString());
    }
    CgroupHost.Place mem = layout.holding(CgroupHost.MEMORY);
    if (mem != null) {
      rec.set(GuestRecord.CGROUP_MEMORY, mem.guest(rec.id()).toString());
    }
    rec.save(); // recorded before anything is made
    try {
      synchronized (SHARED) {
        String cpuList = null;
        for (CgroupHost.Place p : places) {
          make(layout.version(), p, rec.id());
        }
        CgroupHost.Place cpuset = layout.holding(CgroupHost.CPUSET);
        if (cpuset != null) {
          cpuList = CgroupHost.formatCpuList(choose(shape.cpus(), cpus,
              usage(cpuset.parent(), cpuset.guest(rec.id()))));
          Path dir = cpuset.guest(rec.id());
          fs.write(dir.resolve("cpuset.cpus"), cpuList);
          if (layout.version() == CgroupHost.Version.V1) {
            fs.write(dir.resolve("cpuset.mems"),
                fs.read(cpuset.parent().resolve("cpuset.mems")).trim());
          }
          rec.set(GuestRecord.CGROUP_CPUS, cpuList);
        }
        if (mem != null) {
          limitMemory(layout.version(), mem.guest(rec.id()), shape.memoryBytes());
        }
      }
    } catch (IOException e) {
      throw new GuestException("cannot set up the guest's cgroups (" + shape.describe() + "): "
          + e.getMessage(), e);
    }
    rec.save();
  }

  /**
   * Makes {@code lambdagrid} (if missing) and the guest's cgroup in it; retries when another
   * process removed {@code lambdagrid} between the two. v1 cpuset: a new {@code lambdagrid} gets
   * its parent's CPUs and memory nodes (a v1 cpuset starts with none). v2: the controllers are
   * enabled in every directory above the guest's that lacks them.
   */
  private void make(CgroupHost.Version version, CgroupHost.Place p, String id)
      throws IOException {
    for (int attempt = 1; ; attempt++) {
      try {
        if (version == CgroupHost.Version.V2) {
          enableV2(p);
        }
        mkdirIfMissing(p.parent());
        if (version == CgroupHost.Version.V1 && p.controllers().contains(CgroupHost.CPUSET)) {
          for (String f : List.of("cpuset.cpus", "cpuset.mems")) {
            if (fs.read(p.parent().resolve(f)).isBlank()) {
              fs.write(p.parent().resolve(f), fs.read(p.base().resolve(f)).trim());
            }
          }
        }
        if (version == CgroupHost.Version.V2) {
          enable(p.parent(), p.controllers());
        }
        fs.mkdir(p.guest(id));
        return;
      } catch (NoSuchFileException e) {
        if (attempt == 3) {
          throw e;
        }
      }
    }
  }

  private void mkdirIfMissing(Path dir) throws IOException {
    if (!fs.isDir(dir)) {
      try {
        fs.mkdir(dir);
      } catch (FileAlreadyExistsException e) {
        if (!fs.isDir(dir)) {
          throw e;
        }
      }
    }
  }

  /** v2: every directory from the mount down to the base hands the controllers to its children. */
  private void enableV2(CgroupHost.Place p) throws IOException {
    List<Path> chain = new ArrayList<>();
    for (Path d = p.base(); d != null && d.startsWith(p.mount()); d = d.getParent()) {
      chain.add(0, d);
    }
    for (Path d : chain) {
      enable(d, p.controllers());
    }
  }

  private void enable(Path dir, Set<String> controllers) throws IOException {
    Set<String> on = Set.of(fs.read(dir.resolve("cgroup.subtree_control")).trim().split("\\s+"));
    for (String c : new java.util.TreeSet<>(controllers)) { // in name order: a stable first error
      if (!on.contains(c)) {
        try {
          fs.write(dir.resolve("cgroup.subtree_control"), "+" + c);
        } catch (IOException e) {
          throw new IOException("cannot enable the " + c + " controller for the children of "
              + dir + " (" + e.getMessage() + "); a cgroup v2 directory that holds processes"
              + " cannot, and the guests' cgroups go beside the NodeManager's own, so run the"
              + " NodeManager in a cgroup whose parent holds no processes (as a systemd service"
              + " or scope, e.g. the node agent's unit or systemd-run --scope, or a Slurm job)",
              e);
        }
      }
    }
  }

  private void limitMemory(CgroupHost.Version version, Path dir, long bytes) throws IOException {
    String value = Long.toString(bytes);
    if (version == CgroupHost.Version.V2) {
      fs.write(dir.resolve("memory.max"), value);
      if (fs.exists(dir.resolve("memory.swap.max"))) {
        fs.write(dir.resolve("memory.swap.max"), "0");
      }
      return;
    }
    fs.write(dir.resolve("memory.limit_in_bytes"), value);
    if (fs.exists(dir.resolve("memory.memsw.limit_in_bytes"))) {
      fs.write(dir.resolve("memory.memsw.limit_in_bytes"), value); // after: it must be >= that
    } else if (fs.exists(dir.resolve("memory.swappiness"))) {
      fs.write(dir.resolve("memory.swappiness"), "0");
    }
  }

  /** How many other guests' cgroups beside {@code self} use each CPU. */
  private Map<Integer, Integer> usage(Path parent, Path self) {
    Map<Integer, Integer> used = new HashMap<>();
    for (Path sibling : fs.children(parent, "lg-")) {
      if (!sibling.equals(self)) {
        for (int cpu : CgroupHost.parseCpuList(fs.readOrEmpty(sibling.resolve("cpuset.cpus")))) {
          used.merge(cpu, 1, Integer::sum);
        }
      }
    }
    return used;
  }

  /** {@code n} of {@code cpus}, the least used first, ties by number. Pure. */
  static List<Integer> choose(int n, List<Integer> cpus, Map<Integer, Integer> used) {
    return cpus.stream()
        .sorted(Comparator.comparingInt((Integer c) -> used.getOrDefault(c, 0))
            .thenComparingInt(c -> c))
        .limit(n).sorted().toList();
  }

  @Override
  public List<String> undo(GuestRecord rec) {
    List<String> problems = new ArrayList<>();
    List<String> dirs = rec.cgroupDirEntries(); // each on its own: a bad one keeps no other
    List<Path> mounts = dirs.isEmpty() ? List.of() : host.mountPoints();
    for (int i = 0; i < dirs.size(); i++) {
      Path dir = pathOrNull(dirs.get(i));
      if (dir == null || !ours(dir, rec.id(), mounts)) {
        problems.add("guest record " + rec.dir().resolve(GuestRecord.FILE) + ": "
            + GuestRecord.CGROUP_DIR + i + " '" + GuestRecord.shown(dirs.get(i))
            + "' is not a guest cgroup of this driver (lambdagrid/lg-" + rec.id()
            + " under a cgroup mount); left alone");
        continue;
      }
      if (!fs.isDir(dir)) {
        continue;
      }
      List<Long> left = killAll(dir);
      synchronized (SHARED) {
        try {
          fs.rmdir(dir);
        } catch (NoSuchFileException e) {
          // gone already
        } catch (IOException e) {
          problems.add("cgroup " + dir + ": " + e.getMessage()
              + (left.isEmpty() ? "" : " (processes still in it: " + left + ")"));
          continue;
        }
        if (fs.children(dir.getParent(), "").isEmpty()) {
          try {
            fs.rmdir(dir.getParent()); // the last guest's: nothing of lambdagrid is left
          } catch (IOException e) {
            // another guest's cgroup arrived in it meanwhile: it stays
          }
        }
      }
    }
    return problems;
  }

  private static Path pathOrNull(String path) {
    try {
      return Path.of(path);
    } catch (InvalidPathException e) {
      return null; // a NUL byte
    }
  }

  /**
   * Whether {@code dir} is {@code MOUNT/.../lambdagrid/lg-ID}, absolute and normal, below one of
   * the cgroup {@code mounts} (so its {@code cgroup.procs} is the kernel's, not a user's file).
   */
  static boolean ours(Path dir, String id, List<Path> mounts) {
    return dir.isAbsolute() && dir.normalize().equals(dir)
        && mounts.stream().anyMatch(m -> dir.startsWith(m) && !dir.equals(m))
        && dir.getFileName() != null && dir.getFileName().toString().equals("lg-" + id)
        && dir.getParent() != null && dir.getParent().getFileName() != null
        && dir.getParent().getFileName().toString().equals(CgroupHost.PARENT);
  }

  /**
   * SIGKILL to every process in the cgroup until none is left (new ones a dying one forked
   * included), for up to the kill wait (10 s); returns the pids still there. A pid is taken as
   * a handle (the JDK pins its start time, so a pid reused meanwhile is not killed) before it is
   * killed.
   */
  private List<Long> killAll(Path dir) {
    long deadline = System.currentTimeMillis() + killWait.toMillis();
    List<Long> pids = procs(dir);
    while (!pids.isEmpty() && System.currentTimeMillis() < deadline) {
      for (long pid : pids) {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
      }
      ProcFs.sleep(20);
      pids = procs(dir);
    }
    return pids;
  }

  private List<Long> procs(Path dir) {
    List<Long> pids = new ArrayList<>();
    for (String line : fs.readOrEmpty(dir.resolve("cgroup.procs")).split("\n")) {
      if (line.trim().matches("\\d+")) {
        pids.add(Long.parseLong(line.trim()));
      }
    }
    return pids;
  }

  /**
   * {@code argv} started inside the guest's recorded cgroups: a root shell writes 0 (itself) to
   * each {@code cgroup.procs}, then execs {@code argv} (same pid), so everything {@code argv}
   * starts is in them from its first instruction. Paths are arguments, never interpolated; a
   * failed move ends it with 125 before {@code argv} runs. Without recorded cgroups,
   * {@code argv} unchanged. Reads the record only.
   */
  static List<String> joined(GuestRecord rec, List<String> argv) {
    List<Path> dirs = rec.cgroupDirs();
    if (dirs.isEmpty()) {
      return argv;
    }
    List<String> out = new ArrayList<>(List.of("/bin/sh", "-c",
        "for f do [ \"$f\" = -- ] && break; echo 0 > \"$f\" || exit 125; shift; done; shift;"
            + " exec \"$@\"", "lg-cgroup-join"));
    dirs.forEach(d -> out.add(d.resolve("cgroup.procs").toString()));
    out.add("--");
    out.addAll(argv);
    return out;
  }

  /**
   * The OOM kills in the guest's memory cgroup so far (v1 {@code memory.oom_control}, v2
   * {@code memory.events}: their {@code oom_kill} line), with the guest's limit. NONE without a
   * memory cgroup or when it is gone. Never throws.
   */
  static LimitEvents limitEvents(GuestRecord rec, CgroupFs fs) {
    String dir = rec.get(GuestRecord.CGROUP_MEMORY);
    if (dir == null) {
      return LimitEvents.NONE;
    }
    String file = "2".equals(rec.get(GuestRecord.CGROUP_VERSION)) ? "memory.events"
        : "memory.oom_control";
    long kills = 0;
    for (String line : fs.readOrEmpty(Path.of(dir).resolve(file)).split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f.length == 2 && f[0].equals("oom_kill") && f[1].matches("\\d{1,18}")) {
        kills = Long.parseLong(f[1]);
      }
    }
    return kills == 0 ? LimitEvents.NONE : new LimitEvents(kills, rec.spec().memoryBytes());
  }

  /** "cgroup DIR" for each recorded cgroup that still exists, for inspection. */
  static List<String> leftovers(GuestRecord rec, CgroupFs fs) {
    return rec.cgroupDirs().stream().filter(fs::isDir).map(d -> "cgroup " + d).toList();
  }

  /** "1 CPU (CPUs 1), 256 MiB" for logs. */
  static String describe(GuestRecord rec) {
    NodeShape s = rec.spec().shape();
    String cpus = rec.get(GuestRecord.CGROUP_CPUS);
    return (s.cpus() > 0 ? s.cpus() + (s.cpus() == 1 ? " CPU" : " CPUs")
        + (cpus == null ? "" : " (" + cpus + ")") : "")
        + (s.cpus() > 0 && s.memoryBytes() > 0 ? ", " : "")
        + (s.memoryBytes() > 0 ? Quantities.formatSize(s.memoryBytes()) : "");
  }
}
