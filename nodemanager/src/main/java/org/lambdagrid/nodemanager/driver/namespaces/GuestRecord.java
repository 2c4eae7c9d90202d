package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.regex.Pattern;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * What the driver built for one guest, persisted as {@code STATE/guest.properties} before each
 * step is taken, so that destroy (also by a new NodeManager after a crash) undoes exactly what
 * may exist and never guesses names. Keys are stable: a newer driver must still read them.
 * Every build step's undo works from this record alone, and deletes only what the guest's own
 * plan makes (its names derive from the id, which must be the directory's name): a record is
 * root's to act on, but a damaged or edited one must not make root delete another's objects.
 *
 * <p>Not thread-safe; the driver serializes access per guest.
 */
final class GuestRecord {
  static final String FILE = "guest.properties";
  static final String VERSION = "1";
  /** A guest's id ({@link StateDir} makes them): the names derived from it are short, plain. */
  static final Pattern ID = Pattern.compile("[0-9a-f]{8}");

  /** How the guest is attached: an {@link NamespacesDriverConfig.Attachment}, in lower case. */
  static final String ATTACHMENT = "attachment";

  /** The network namespace's name (network step). */
  static final String NETNS = "netns";
  /** The host-side interface: the veth's host end, or the macvlan before it moves (network). */
  static final String HOST_LINK = "hostLink";
  /** Process keys: the NodeManager that built the guest; unshare; the guest's pid 1; sshd. */
  static final String OWNER = "owner";
  static final String HOLDER = "holder";
  static final String INIT = "init";
  static final String SSHD = "sshd";
  /**
   * Cgroup keys (cgroup step): {@code cgroup.dir.N} (N = 0, 1, ...) every cgroup directory made
   * for the guest, one per hierarchy; {@code cgroup.version} 1 or 2; {@code cgroup.memory} the
   * one whose memory files count the guest's OOM kills; {@code cgroup.cpus} the CPUs it got.
   */
  static final String CGROUP_DIR = "cgroup.dir.";
  static final String CGROUP_VERSION = "cgroup.version";
  static final String CGROUP_MEMORY = "cgroup.memory";
  static final String CGROUP_CPUS = "cgroup.cpus";

  private final Path dir;
  private final Properties p = new Properties();

  private GuestRecord(Path dir) {
    this.dir = dir;
  }

  static GuestRecord create(Path dir, String id, GuestSpec spec, String attachment) {
    GuestRecord r = new GuestRecord(dir);
    r.p.setProperty("version", VERSION);
    r.p.setProperty("id", id);
    r.p.setProperty(ATTACHMENT, attachment);
    r.p.setProperty("spec.jobId", spec.jobId());
    r.p.setProperty("spec.hostname", spec.hostname());
    r.p.setProperty("spec.address", spec.address());
    r.p.setProperty("spec.prefixLength", Integer.toString(spec.prefixLength()));
    r.p.setProperty("spec.routes", String.join(",", spec.routes()));
    r.p.setProperty("spec.user", spec.user());
    r.p.setProperty("spec.cpus", Integer.toString(spec.cpus()));
    r.p.setProperty("spec.memoryBytes", Long.toString(spec.memoryBytes()));
    long self = ProcessHandle.current().pid();
    r.setProc(OWNER, new Proc(self, ProcFs.startTimeOf(self)));
    return r;
  }

  static GuestRecord load(Path dir) throws IOException {
    GuestRecord r = new GuestRecord(dir);
    try (Reader in = Files.newBufferedReader(dir.resolve(FILE), StandardCharsets.UTF_8)) {
      r.p.load(in);
    }
    if (r.get("id") == null) {
      throw new IOException(dir.resolve(FILE) + ": no id recorded");
    }
    if (!ID.matcher(r.get("id")).matches()) {
      throw new IOException(dir.resolve(FILE) + ": id '" + shown(r.get("id")) + "' is not 8 hex"
          + " digits; not a guest record of this driver, left alone");
    }
    if (!r.get("id").equals(String.valueOf(dir.getFileName()))) {
      throw new IOException(dir.resolve(FILE) + ": id '" + shown(r.get("id")) + "' is not its"
          + " directory's name '" + shown(String.valueOf(dir.getFileName()))
          + "'; not this guest's record, left alone");
    }
    return r;
  }

  /** The record of a guest the caller was handed, or why there is none. */
  static GuestRecord loadFor(GuestHandle guest) throws GuestException {
    try {
      return load(guest.stateDir());
    } catch (IOException e) {
      throw new GuestException("guest " + guest.id() + " has no readable record in "
          + guest.stateDir() + ": " + e.getMessage(), e);
    }
  }

  /** Writes atomically (temp file, rename), so a crash leaves the old or the new record. */
  void save() throws IOException {
    Path tmp = dir.resolve(FILE + ".tmp");
    try (Writer out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      p.store(out, "lambdagrid namespaces driver: what was built for this guest");
    }
    Files.move(tmp, dir.resolve(FILE), StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
  }

  /** {@link #save}, failing as a GuestException. */
  void persist() throws GuestException {
    try {
      save();
    } catch (IOException e) {
      throw new GuestException("cannot record the state of guest " + id() + ": "
          + e.getMessage(), e);
    }
  }

  Path dir() {
    return dir;
  }

  String id() {
    return get("id");
  }

  String get(String key) {
    return p.getProperty(key);
  }

  void set(String key, String value) {
    if (value == null) {
      p.remove(key);
    } else {
      p.setProperty(key, value);
    }
  }

  /** A recorded process: pid plus its start time (clock ticks since boot), against pid reuse. */
  record Proc(long pid, String startTime) {
    /** Whether this very process (not a later one with the same pid) is alive. */
    boolean alive() {
      ProcFs.Stat now = ProcFs.statOf(pid); // one read: start time and state
      return now != null && now.startTime().equals(startTime) && !now.zombie();
    }
  }

  void setProc(String key, Proc proc) {
    set(key + ".pid", proc == null ? null : Long.toString(proc.pid()));
    set(key + ".start", proc == null ? null : proc.startTime());
  }

  /** The process recorded under {@code key}, or null; IllegalArgumentException when damaged. */
  Proc proc(String key) {
    String pid = get(key + ".pid");
    String start = get(key + ".start");
    if (pid == null || start == null) {
      return null;
    }
    if (!pid.matches("[1-9][0-9]{0,17}")) {
      throw new IllegalArgumentException(key + ".pid '" + shown(pid) + "' is not a pid");
    }
    return new Proc(Long.parseLong(pid), start);
  }

  /**
   * {@code value} as read from a record, for a message: control characters as {@code \xNN},
   * invisible format characters and line separators (U+202E, U+2028) as backslash, u, 4 hex
   * digits.
   */
  static String shown(String value) {
    StringBuilder b = new StringBuilder();
    value.codePoints().forEach(c -> {
      int type = Character.getType(c);
      b.append(Character.isISOControl(c) ? String.format("\\x%02x", c)
          : type == Character.FORMAT || type == Character.LINE_SEPARATOR
              || type == Character.PARAGRAPH_SEPARATOR ? String.format("\\u%04x", c)
          : Character.toString(c));
    });
    return b.toString();
  }

  /** "cannot read FILE: why" for a record of {@code dir} that {@link #load} refused. */
  static String unreadable(Path dir, Exception e) {
    String file = dir.resolve(FILE).toString();
    String why = String.valueOf(e.getMessage());
    return "cannot read " + (why.startsWith(file) ? why : file + ": " + why);
  }

  GuestSpec spec() {
    String routes = p.getProperty("spec.routes", "");
    return new GuestSpec(
        p.getProperty("spec.jobId", ""),
        p.getProperty("spec.hostname", ""),
        p.getProperty("spec.address", ""),
        Integer.parseInt(p.getProperty("spec.prefixLength", "0")),
        routes.isEmpty() ? List.of() : Arrays.asList(routes.split(",")),
        p.getProperty("spec.user", ""), "",
        Integer.parseInt(p.getProperty("spec.cpus", "0")),
        Long.parseLong(p.getProperty("spec.memoryBytes", "0")));
  }

  /**
   * The cgroup directories recorded ({@link #CGROUP_DIR}), in order; IllegalArgumentException
   * for one that is no path (a NUL byte).
   */
  List<Path> cgroupDirs() {
    List<Path> out = new ArrayList<>();
    List<String> entries = cgroupDirEntries();
    for (int i = 0; i < entries.size(); i++) {
      try {
        out.add(Path.of(entries.get(i)));
      } catch (InvalidPathException e) {
        throw new IllegalArgumentException(CGROUP_DIR + i + " '" + shown(entries.get(i))
            + "' is not a path", e);
      }
    }
    return out;
  }

  /** The cgroup directories recorded ({@link #CGROUP_DIR}), in order, as written. */
  List<String> cgroupDirEntries() {
    List<String> out = new ArrayList<>();
    for (int i = 0; get(CGROUP_DIR + i) != null; i++) {
      out.add(get(CGROUP_DIR + i));
    }
    return out;
  }

  /**
   * Whether another live process (a concurrently running NodeManager sharing the state
   * directory) owns this guest. Guests of dead owners, or of this process, are not.
   */
  boolean ownedByAnotherLiveProcess() {
    Proc owner = proc(OWNER);
    return owner != null && owner.pid() != ProcessHandle.current().pid() && owner.alive();
  }

  /** Whether this process is the one recorded as the guest's owner. */
  boolean ownedByThisProcess() {
    Proc owner = proc(OWNER);
    return owner != null && owner.pid() == ProcessHandle.current().pid();
  }

  GuestHandle handle() {
    return new GuestHandle(id(), spec(), dir);
  }
}
