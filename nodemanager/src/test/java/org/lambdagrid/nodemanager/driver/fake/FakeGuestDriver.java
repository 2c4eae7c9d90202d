package org.lambdagrid.nodemanager.driver.fake;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.lambdagrid.nodemanager.driver.Capabilities;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestStatus;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.lambdagrid.nodemanager.driver.LimitEvents;
import org.lambdagrid.nodemanager.driver.OutputSink;
import org.lambdagrid.nodemanager.driver.RunningCommand;

/**
 * A guest driver for tests: no namespaces, no root, no sshd. It records every call, makes real
 * Ed25519 key pairs, keeps each guest as a directory {@code STATE_DIR/fake/ID/} (spec, public
 * keys, and the installed trust files: {@code hostfile}, {@code known_hosts},
 * {@code authorized_keys}, {@code hosts}) that destroy removes, and runs EXEC's argv as a plain
 * child process of the JVM with {@code LAMBDAGRID_HOSTFILE} and {@code LAMBDAGRID_NODES} set.
 *
 * <p>Failures are set by configuration ({@link FakeConfig}): {@code fail_at}, {@code hang_at},
 * {@code exit_code}, {@code check_host}, {@code destroy_leaves}, {@code only_on},
 * {@code oom_kills}. It takes CPUs and memory in a spec and enforces nothing. A guest with a
 * memory limit counts {@code oom_kills} OOM kills from its build on, plus one per line its
 * command appends to the file {@code $LAMBDAGRID_FAKE_OOM} (an OOM kill while it runs).
 *
 * <p>{@link #recover} returns the recorded guests of this state directory except those another
 * live instance in this JVM holds (as a real driver skips guests of another live NodeManager).
 *
 * <p>Every instance registers itself in {@link #instances()} and every guest in
 * {@link #guests()}, so tests in the same JVM can look at what NodeManagers did.
 */
public final class FakeGuestDriver implements GuestDriver {
  private static final List<FakeGuestDriver> INSTANCES = new CopyOnWriteArrayList<>();
  private static final Map<String, FakeGuest> GUESTS = new ConcurrentHashMap<>();

  /** In a guest's directory: one line per OOM kill "in" the guest after it was built. */
  static final String OOM_FILE = "oom_kills";

  private final FakeConfig config;
  private final Path root;
  private final List<String> calls = new CopyOnWriteArrayList<>();
  private final Map<String, FakeGuest> mine = new ConcurrentHashMap<>();

  /** What one fake guest holds. Private keys stay here, as on a real node. */
  public static final class FakeGuest {
    public final GuestSpec spec;
    public final Path dir;
    public final KeyPair hostKey;
    public final KeyPair userKey;
    public volatile GuestTrust trust;
    public volatile boolean started;
    public volatile boolean destroyed;

    FakeGuest(GuestSpec spec, Path dir, KeyPair hostKey, KeyPair userKey) {
      this.spec = spec;
      this.dir = dir;
      this.hostKey = hostKey;
      this.userKey = userKey;
    }

    public GuestKeys keys() {
      return new GuestKeys(
          OpenSshKeys.publicKeyLine(hostKey.getPublic(), "root@" + spec.hostname()),
          OpenSshKeys.publicKeyLine(userKey.getPublic(), spec.user() + "@" + spec.hostname()));
    }
  }

  public FakeGuestDriver(FakeConfig config, Path stateDir) {
    this.config = config;
    this.root = stateDir.resolve("fake");
    INSTANCES.add(this);
  }

  /** Every fake driver made in this JVM, oldest first. */
  public static List<FakeGuestDriver> instances() {
    return List.copyOf(INSTANCES);
  }

  /** Every fake guest built in this JVM by "jobId/hostname", including destroyed ones. */
  public static Map<String, FakeGuest> guests() {
    return Collections.unmodifiableMap(GUESTS);
  }

  public static Optional<FakeGuest> guest(String jobId, String hostname) {
    return Optional.ofNullable(GUESTS.get(jobId + "/" + hostname));
  }

  /** The calls made on this instance, in order: "build site-0", "destroy site-0", ... */
  public List<String> calls() {
    return List.copyOf(calls);
  }

  /** Guests of this instance that are not destroyed. */
  public List<FakeGuest> liveGuests() {
    return mine.values().stream().filter(g -> !g.destroyed).toList();
  }

  /** Simulates this NodeManager's crash: it forgets its guests, which stay on disk. */
  public void crash() {
    mine.clear();
  }

  public FakeConfig config() {
    return config;
  }

  @Override
  public String name() {
    return "fake";
  }

  @Override
  public Capabilities capabilities() {
    // It takes a CPU count and memory limit and keeps them in the guest's spec, enforcing
    // nothing: the NodeManager's and the CRM's handling of shapes is tested with it.
    return new Capabilities(false, false, false, true);
  }

  @Override
  public List<String> checkHost() {
    calls.add("checkHost");
    return config.checkHost();
  }

  @Override
  public GuestHandle build(GuestSpec spec) throws GuestException {
    calls.add("build " + spec.hostname());
    String id = "fake-" + sanitize(spec.jobId()) + "-" + sanitize(spec.hostname());
    Path dir = root.resolve(id);
    FakeGuest g = new FakeGuest(spec, dir, OpenSshKeys.generate(), OpenSshKeys.generate());
    GuestHandle handle = new GuestHandle(id, spec, dir);
    try {
      Files.createDirectories(dir);
      Properties p = new Properties();
      p.setProperty("job", spec.jobId());
      p.setProperty("hostname", spec.hostname());
      p.setProperty("address", spec.address());
      p.setProperty("prefix", Integer.toString(spec.prefixLength()));
      p.setProperty("routes", String.join(",", spec.routes()));
      p.setProperty("user", spec.user());
      p.setProperty("owner_pid", Long.toString(ProcessHandle.current().pid()));
      // Renamed into place whole: another NodeManager process's recover() reads these files,
      // and a half-written one without owner_pid would look like an orphan to destroy.
      Path tmp = dir.resolve("spec.properties.tmp");
      try (var out = Files.newBufferedWriter(tmp)) {
        p.store(out, "fake guest " + id);
      }
      Files.move(tmp, dir.resolve("spec.properties"),
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      GuestKeys keys = g.keys();
      Files.writeString(dir.resolve("ssh_host_ed25519_key.pub"), keys.hostPublicKey() + "\n");
      Files.writeString(dir.resolve("id_ed25519.pub"), keys.userPublicKey() + "\n");
    } catch (IOException e) {
      throw new GuestException("fake driver: cannot record guest in " + dir + ": " + e, e);
    }
    mine.put(id, g);
    GUESTS.put(spec.jobId() + "/" + spec.hostname(), g);
    injected("setup", spec.hostname()); // after recording: a half-built guest is left to destroy
    return handle;
  }

  @Override
  public GuestKeys publicKeys(GuestHandle guest) throws GuestException {
    calls.add("publicKeys " + guest.spec().hostname());
    FakeGuest g = live(guest);
    injected("get_keys", guest.spec().hostname());
    return g.keys();
  }

  @Override
  public void installTrust(GuestHandle guest, GuestTrust trust) throws GuestException {
    calls.add("installTrust " + guest.spec().hostname());
    FakeGuest g = live(guest);
    injected("set_keys", guest.spec().hostname());
    try {
      Files.writeString(g.dir.resolve("hostfile"), trust.hostfile());
      Files.writeString(g.dir.resolve("known_hosts"), trust.knownHosts());
      Files.writeString(g.dir.resolve("authorized_keys"), trust.authorizedKeys());
      Files.writeString(g.dir.resolve("hosts"), trust.hosts());
    } catch (IOException e) {
      throw new GuestException("fake driver: cannot write trust files in " + g.dir + ": " + e, e);
    }
    g.trust = trust;
  }

  @Override
  public void start(GuestHandle guest) throws GuestException {
    calls.add("start " + guest.spec().hostname());
    FakeGuest g = live(guest);
    injected("run", guest.spec().hostname());
    g.started = true;
  }

  @Override
  public RunningCommand exec(GuestHandle guest, ExecRequest request, OutputSink sink)
      throws GuestException {
    calls.add("exec " + guest.spec().hostname() + " " + String.join(" ", request.argv()));
    FakeGuest g = live(guest);
    injected("exec", guest.spec().hostname());
    ProcessBuilder pb = new ProcessBuilder(request.argv());
    pb.environment().putAll(request.env());
    Path hostfile = g.dir.resolve("hostfile");
    pb.environment().put("LAMBDAGRID_HOSTFILE", hostfile.toString());
    pb.environment().put("LAMBDAGRID_NODES", g.trust == null ? "" : g.trust.nodeNames());
    pb.environment().put("LAMBDAGRID_FAKE_OOM", g.dir.resolve(OOM_FILE).toString());
    if (request.workingDirectory() != null) {
      pb.directory(Path.of(request.workingDirectory()).toFile());
    }
    Process process;
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new GuestException("cannot start '" + request.argv().get(0) + "': " + e.getMessage(), e);
    }
    try {
      process.getOutputStream().close();
    } catch (IOException e) {
      // the child's stdin is closed either way
    }
    Thread out = pump(process.getInputStream(), false, sink, guest.id() + "-stdout");
    Thread err = pump(process.getErrorStream(), true, sink, guest.id() + "-stderr");
    return new FakeCommand(process, out, err, config.exitCode());
  }

  @Override
  public void stop(GuestHandle guest) {
    calls.add("stop " + guest.spec().hostname());
    if (config.appliesTo(guest.spec().hostname()) && "stop".equals(config.failAt())) {
      throw new IllegalStateException("fake driver: injected failure at stop");
    }
    FakeGuest g = mine.get(guest.id());
    if (g != null) {
      g.started = false;
    }
  }

  @Override
  public List<String> destroy(GuestHandle guest) {
    calls.add("destroy " + guest.spec().hostname());
    FakeGuest g = mine.get(guest.id());
    if (g != null) {
      g.destroyed = true;
    }
    try {
      deleteTree(root.resolve(guest.id()));
    } catch (IOException e) {
      return List.of("fake guest " + guest.id() + ": " + e);
    }
    if (config.appliesTo(guest.spec().hostname()) && config.destroyLeaves() != null) {
      return List.of(config.destroyLeaves());
    }
    return List.of();
  }

  @Override
  public GuestStatus inspect(GuestHandle guest) {
    calls.add("inspect " + guest.spec().hostname());
    FakeGuest g = mine.get(guest.id());
    boolean built = Files.isDirectory(root.resolve(guest.id()));
    return new GuestStatus(built, g != null && g.started,
        built ? List.of(root.resolve(guest.id()).toString()) : List.of());
  }

  private final java.util.concurrent.atomic.AtomicInteger limitLooks =
      new java.util.concurrent.atomic.AtomicInteger();

  /** How many times {@link #limitEvents} was asked (tests time a kill between two looks). */
  public int limitLooks() {
    return limitLooks.get();
  }

  @Override
  public LimitEvents limitEvents(GuestHandle guest) {
    limitLooks.incrementAndGet();
    FakeGuest g = mine.get(guest.id());
    if (g == null || g.destroyed || g.spec.memoryBytes() == 0
        || !config.appliesTo(g.spec.hostname())) {
      return LimitEvents.NONE;
    }
    long later = 0; // lines the guest's command appended, one per kill
    try {
      Path f = g.dir.resolve(OOM_FILE);
      later = Files.exists(f) ? Files.readAllLines(f).size() : 0;
    } catch (IOException e) {
      later = 0; // destroyed meanwhile
    }
    return new LimitEvents(config.oomKills() + later, g.spec.memoryBytes());
  }

  @Override
  public List<GuestHandle> recover() {
    calls.add("recover");
    if (!Files.isDirectory(root)) {
      return List.of();
    }
    List<GuestHandle> found = new ArrayList<>();
    try (Stream<Path> dirs = Files.list(root)) {
      for (Path dir : dirs.sorted().toList()) {
        Properties p = new Properties();
        try (var in = Files.newBufferedReader(dir.resolve("spec.properties"))) {
          p.load(in);
        } catch (IOException e) {
          continue; // not a guest directory (or half-written): nothing of ours to destroy
        }
        long owner = Long.parseLong(p.getProperty("owner_pid", "-1"));
        if (owner != ProcessHandle.current().pid()
            && ProcessHandle.of(owner).map(ProcessHandle::isAlive).orElse(false)) {
          continue; // another live NodeManager process's guest
        }
        if (ownedByAnotherLiveInstance(dir.getFileName().toString())) {
          continue; // like a real driver: another live NodeManager's guest is not recovered
        }
        String routes = p.getProperty("routes", "");
        GuestSpec spec = new GuestSpec(p.getProperty("job"), p.getProperty("hostname"),
            p.getProperty("address"), Integer.parseInt(p.getProperty("prefix", "24")),
            routes.isEmpty() ? List.of() : List.of(routes.split(",")), p.getProperty("user"));
        found.add(new GuestHandle(dir.getFileName().toString(), spec, dir));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return found;
  }

  // ------------------------------------------------------------------ helpers

  private boolean ownedByAnotherLiveInstance(String id) {
    for (FakeGuestDriver other : INSTANCES) {
      FakeGuest g = other.mine.get(id);
      if (other != this && g != null && !g.destroyed) {
        return true;
      }
    }
    return false;
  }

  private FakeGuest live(GuestHandle guest) throws GuestException {
    FakeGuest g = mine.get(guest.id());
    if (g == null || g.destroyed) {
      throw new GuestException("fake guest " + guest.id() + " does not exist");
    }
    return g;
  }

  /** Applies fail_at / hang_at for {@code phase}. */
  private void injected(String phase, String hostname) throws GuestException {
    if (!config.appliesTo(hostname)) {
      return;
    }
    if (phase.equals(config.hangAt())) {
      calls.add("hang " + phase + " " + hostname);
      try {
        Thread.sleep(Long.MAX_VALUE);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new GuestException("fake driver: interrupted while hanging at " + phase);
      }
    }
    if (phase.equals(config.failAt())) {
      throw new GuestException("fake driver: injected failure at " + phase);
    }
  }

  private static Thread pump(InputStream in, boolean stderr, OutputSink sink, String name) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[8192];
      try (in) {
        int n;
        while ((n = in.read(buf)) >= 0) {
          if (n > 0) {
            sink.output(stderr, java.util.Arrays.copyOf(buf, n));
          }
        }
      } catch (IOException e) {
        // the process is gone
      }
    }, name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  private static String sanitize(String s) {
    return s.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]", "_");
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  /** The EXEC'd child process. */
  private static final class FakeCommand implements RunningCommand {
    private final Process process;
    private final Thread out;
    private final Thread err;
    private final Integer exitCode;

    FakeCommand(Process process, Thread out, Thread err, Integer exitCode) {
      this.process = process;
      this.out = out;
      this.err = err;
      this.exitCode = exitCode;
    }

    @Override
    public OptionalInt waitFor(Duration timeout) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
        return OptionalInt.empty();
      }
      out.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
      err.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
      if (out.isAlive() || err.isAlive()) {
        return OptionalInt.empty();
      }
      return OptionalInt.of(exitCode != null ? exitCode : process.exitValue());
    }

    @Override
    public void kill() {
      if (!process.isAlive()) {
        return;
      }
      process.destroy();
      try {
        if (!process.waitFor(2, TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Phases {@code fail_at} and {@code hang_at} accept. */
  public static final Set<String> PHASES = Set.of("setup", "get_keys", "set_keys", "run", "exec");
}
