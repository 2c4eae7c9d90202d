package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.lambdagrid.nodemanager.driver.GuestException;

/**
 * Where this host's cgroups are and where a guest's go: read from the kernel's
 * {@code /proc/self/mountinfo} and {@code /proc/self/cgroup} (what the NodeManager's own process
 * is in), parsed by pure functions so that tests give their own texts and a directory of their
 * own as the mount point.
 *
 * <p>cgroup v2 is used where its hierarchy offers every controller the guest needs; otherwise
 * the v1 hierarchies of those controllers (a host may mount both, as this project's build
 * machines do: v1 for cpuset and memory, v2 holding none of them). A guest's cgroup is
 * {@code BASE/lambdagrid/lg-ID}, one per hierarchy, where {@code BASE} is:
 *
 * <ul>
 *   <li>v1: the NodeManager's own cgroup in that hierarchy, so a batch system's limits on the
 *       pilot (Slurm's task/cgroup) hold for its guests too, and its cleanup reaches them;
 *   <li>v2: the parent of the NodeManager's own cgroup (its own holds processes, and a v2 cgroup
 *       with processes cannot hand controllers to children), or the root when the NodeManager
 *       is in the root.
 * </ul>
 *
 * <p>Thread-safe; holds no state but its sources.
 */
final class CgroupHost {
  /** The directory under each base that holds the guests' cgroups. */
  static final String PARENT = "lambdagrid";
  static final String CPUSET = "cpuset";
  static final String MEMORY = "memory";

  enum Version { V1, V2 }

  /**
   * One hierarchy a guest's cgroup goes in.
   *
   * @param controllers the needed controllers it holds (v2: all of them)
   * @param mount where the hierarchy is mounted
   * @param base the directory {@link #PARENT} is made in
   */
  record Place(Set<String> controllers, Path mount, Path base) {
    Path parent() {
      return base.resolve(PARENT);
    }

    Path guest(String id) {
      return parent().resolve("lg-" + id);
    }
  }

  /** Where a guest's cgroups go: the version and one place per hierarchy. */
  record Layout(Version version, List<Place> places) {
    /** The place holding {@code controller}, or null. */
    Place holding(String controller) {
      return places.stream().filter(p -> p.controllers().contains(controller)).findFirst()
          .orElse(null);
    }
  }

  private final Supplier<String> mountinfo;
  private final Supplier<String> selfCgroup;
  private final Supplier<String> cpusAllowed;

  /**
   * @param mountinfo the text of /proc/self/mountinfo
   * @param selfCgroup the text of /proc/self/cgroup
   * @param cpusAllowed the CPUs this process may run on, as a list ("0-3,8")
   */
  CgroupHost(Supplier<String> mountinfo, Supplier<String> selfCgroup,
      Supplier<String> cpusAllowed) {
    this.mountinfo = mountinfo;
    this.selfCgroup = selfCgroup;
    this.cpusAllowed = cpusAllowed;
  }

  /** This host, as the NodeManager's process sees it. */
  static CgroupHost system() {
    return new CgroupHost(() -> readOrEmpty(Path.of("/proc/self/mountinfo")),
        () -> readOrEmpty(Path.of("/proc/self/cgroup")),
        () -> statusField(readOrEmpty(Path.of("/proc/self/status")), "Cpus_allowed_list"));
  }

  /** Where the host's cgroup file systems are mounted (v1 and v2), as this process sees them. */
  List<Path> mountPoints() {
    return mounts(mountinfo.get()).stream().map(Mount::point).toList();
  }

  /**
   * The CPUs a guest may be given: those the NodeManager may run on (its affinity, within the
   * cpuset its batch system gave it), ascending.
   */
  List<Integer> cpus() {
    return parseCpuList(cpusAllowed.get());
  }

  /**
   * Where a guest needing {@code controllers} ("cpuset", "memory") goes.
   *
   * @throws GuestException saying what is missing, naming {@code what} (e.g. "limit the guest's
   *     memory")
   */
  Layout layout(Set<String> controllers, String what) throws GuestException {
    List<Mount> mounts = mounts(mountinfo.get());
    Map<String, String> own = ownCgroups(selfCgroup.get());
    Mount v2 = mounts.stream().filter(m -> m.version() == Version.V2).findFirst().orElse(null);
    Set<String> v2Offers = new TreeSet<>();
    if (v2 != null) {
      v2Offers.addAll(Arrays.asList(readOrEmpty(v2.point().resolve("cgroup.controllers"))
          .trim().split("\\s+")));
      String path = own.get("");
      if (v2Offers.containsAll(controllers) && path != null && within(path, v2.root())) {
        String rel = relative(path, v2.root());
        Path base = rel.equals("/") ? v2.point()
            : v2.point().resolve(rel.substring(1)).getParent();
        return new Layout(Version.V2, List.of(new Place(Set.copyOf(controllers), v2.point(),
            base)));
      }
    }
    Map<Path, Place> places = new LinkedHashMap<>();
    List<String> missing = new ArrayList<>();
    for (String c : new TreeSet<>(controllers)) {
      Mount m = mounts.stream().filter(x -> x.version() == Version.V1
          && x.controllers().contains(c)).findFirst().orElse(null);
      String path = own.entrySet().stream()
          .filter(e -> Arrays.asList(e.getKey().split(",")).contains(c))
          .map(Map.Entry::getValue).findFirst().orElse(null);
      if (m == null || path == null || !within(path, m.root())) {
        missing.add(c);
        continue;
      }
      String rel = relative(path, m.root());
      Path base = rel.equals("/") ? m.point() : m.point().resolve(rel.substring(1));
      Place known = places.get(base);
      Set<String> held = new TreeSet<>(known == null ? Set.of() : known.controllers());
      held.add(c);
      places.put(base, new Place(Set.copyOf(held), m.point(), base));
    }
    if (!missing.isEmpty()) {
      throw new GuestException("this node cannot " + what + ": no cgroup controller "
          + String.join(", ", missing) + " for it (" + (v2 == null ? "no cgroup v2 is mounted"
              : "cgroup v2 at " + v2.point() + " offers " + (v2Offers.stream()
                  .anyMatch(s -> !s.isEmpty()) ? String.join(" ", v2Offers).trim() : "none"))
          + "; no cgroup v1 hierarchy of " + String.join(", ", missing) + " holds this"
          + " process)");
    }
    return new Layout(Version.V1, List.copyOf(places.values()));
  }

  /** A cgroup file system mount: v1 with its controllers, or v2. */
  record Mount(Version version, Set<String> controllers, String root, Path point) {}

  /** The cgroup mounts of a /proc/self/mountinfo text, in its order. */
  static List<Mount> mounts(String mountinfo) {
    List<Mount> out = new ArrayList<>();
    for (String line : mountinfo.split("\n")) {
      int dash = line.indexOf(" - ");
      if (dash < 0) {
        continue;
      }
      String[] left = line.substring(0, dash).split(" ");
      String[] right = line.substring(dash + 3).split(" ");
      if (left.length < 5 || right.length < 3) {
        continue;
      }
      String root = unescape(left[3]);
      Path point = Path.of(unescape(left[4]));
      if (right[0].equals("cgroup2")) {
        out.add(new Mount(Version.V2, Set.of(), root, point));
      } else if (right[0].equals("cgroup")) {
        Set<String> controllers = new TreeSet<>(Arrays.asList(right[2].split(",")));
        controllers.removeAll(Set.of("rw", "ro"));
        out.add(new Mount(Version.V1, controllers, root, point));
      }
    }
    return out;
  }

  /**
   * /proc/self/cgroup as controllers ("cpu,cpuacct"; "" for v2) to the process's path in that
   * hierarchy.
   */
  static Map<String, String> ownCgroups(String text) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String line : text.split("\n")) {
      String[] f = line.split(":", 3);
      if (f.length == 3) {
        out.putIfAbsent(f[1], f[2]);
      }
    }
    return out;
  }

  /** A kernel CPU list ("0-3,8,10-11") as CPU numbers, ascending; empty for none or garbage. */
  static List<Integer> parseCpuList(String list) {
    TreeSet<Integer> cpus = new TreeSet<>();
    for (String part : list.trim().split(",")) {
      if (part.isEmpty()) {
        continue;
      }
      try {
        String[] range = part.split("-", 2);
        int from = Integer.parseInt(range[0].trim());
        int to = range.length == 2 ? Integer.parseInt(range[1].trim()) : from;
        for (int c = from; c <= to && c < 1 << 16; c++) {
          cpus.add(c);
        }
      } catch (NumberFormatException e) {
        return List.of();
      }
    }
    return List.copyOf(cpus);
  }

  /** CPU numbers as a kernel CPU list: ascending runs joined ("0-1,3"). */
  static String formatCpuList(List<Integer> cpus) {
    List<Integer> sorted = new ArrayList<>(new TreeSet<>(cpus));
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < sorted.size(); ) {
      int j = i;
      while (j + 1 < sorted.size() && sorted.get(j + 1) == sorted.get(j) + 1) {
        j++;
      }
      b.append(b.length() > 0 ? "," : "").append(sorted.get(i));
      if (j > i) {
        b.append('-').append(sorted.get(j));
      }
      i = j + 1;
    }
    return b.toString();
  }

  /** The value of a "Name:\tvalue" line of /proc/PID/status, or "". */
  static String statusField(String status, String name) {
    for (String line : status.split("\n")) {
      if (line.startsWith(name + ":")) {
        return line.substring(name.length() + 1).trim();
      }
    }
    return "";
  }

  private static boolean within(String path, String root) {
    return root.equals("/") || path.equals(root) || path.startsWith(root + "/");
  }

  private static String relative(String path, String root) {
    if (root.equals("/")) {
      return path;
    }
    String rel = path.substring(root.length());
    return rel.isEmpty() ? "/" : rel;
  }

  /** mountinfo escapes space, tab, newline and backslash as octal (\040). */
  static String unescape(String field) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < field.length(); i++) {
      char ch = field.charAt(i);
      if (ch == '\\' && i + 3 < field.length()
          && field.substring(i + 1, i + 4).matches("[0-7]{3}")) {
        b.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        b.append(ch);
      }
    }
    return b.toString();
  }

  private static String readOrEmpty(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }
}
