package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.lambdagrid.nodemanager.driver.LimitEvents;
import org.lambdagrid.nodemanager.driver.RunningCommand;

/**
 * Guests given CPUs and memory ({@link CgroupStep}) on this host's real cgroups, on a test-made
 * bridge: every process of the guest (init, sshd, the job, an ssh session) is in the guest's
 * cgroups; the job sees only its CPUs; two one-CPU guests get different CPUs; a memory hog is
 * killed and counted; more CPUs than the host has is refused; destroy leaves no cgroup. Needs root
 * and cgroups with cpuset and memory; skips itself with the reason otherwise.
 */
@Tag("root")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NamespacesDriverCgroupTest {
  static final String USER = AbstractNamespacesDriverRootTest.USER;
  static final Path HOME = AbstractNamespacesDriverRootTest.HOME;

  private final String tag = HexFormat.of().formatHex(new byte[] {
      (byte) ThreadLocalRandom.current().nextInt(), (byte) ThreadLocalRandom.current().nextInt()});
  private final int net = 16 + ThreadLocalRandom.current().nextInt(200);
  private final String bridge = "lgtcg" + tag;
  private Path stateBase;
  private NamespacesDriver driver;
  private final List<GuestHandle> built = new ArrayList<>();
  private List<Path> cgroupsBefore;

  @BeforeAll
  void setUp() throws Exception {
    assumeTrue(HostCommand.isRoot(), "skipped: the namespaces driver tests need root");
    for (String tool : List.of("ip", "unshare", "nsenter", "setpriv", "ssh", "useradd")) {
      assumeTrue(Commands.executableExists(tool), "skipped: no '" + tool + "' on PATH");
    }
    assumeTrue(Files.isExecutable(Path.of("/usr/sbin/sshd")), "skipped: no /usr/sbin/sshd");
    try {
      CgroupHost.system().layout(Set.of("cpuset", "memory"), "limit CPUs and memory");
    } catch (GuestException e) {
      assumeTrue(false, "skipped: " + e.getMessage());
    }
    assumeTrue(CgroupHost.system().cpus().size() >= 2, "skipped: needs 2 CPUs");
    cgroupsBefore = guestCgroups();
    AbstractNamespacesDriverRootTest.ensureUser();
    Commands.run("ip", "link", "add", bridge, "type", "bridge");
    Commands.run("ip", "link", "set", bridge, "up");
    stateBase = Path.of("/run/lambdagrid/test-" + tag + "/guests");
    driver = new NamespacesDriver(NamespacesDriverConfig.bridge(bridge).withStateDir(stateBase));
    List<String> problems = driver.checkHost();
    if (!problems.isEmpty()) {
      Commands.attempt("ip", "link", "del", bridge);
    }
    assumeTrue(problems.isEmpty(), () -> "skipped: host cannot run the driver: " + problems);
  }

  @AfterAll
  void tearDown() throws Exception {
    if (driver != null) {
      for (GuestHandle g : built) {
        driver.destroy(g);
      }
    }
    Commands.attempt("ip", "link", "del", bridge);
    if (stateBase != null) {
      SafeFiles.deleteTree(stateBase.getParent());
    }
    if (cgroupsBefore != null) {
      assertThat(guestCgroups()).as("lambdagrid cgroups left").isEqualTo(cgroupsBefore);
    }
  }

  private GuestSpec spec(String hostname, int host, int cpus, long memory) {
    return new GuestSpec("job-" + tag, hostname, "10.232." + net + "." + host, 24, List.of(),
        USER, "", cpus, memory);
  }

  /** A built, keyed and started guest. */
  private GuestHandle guest(GuestSpec spec) throws Exception {
    GuestHandle g = driver.build(spec);
    built.add(g);
    GuestKeys keys = driver.publicKeys(g);
    String addr = spec.address();
    driver.installTrust(g, new GuestTrust(addr + " slots=1\n", spec.hostname() + "," + addr + " "
        + keys.hostPublicKey() + "\n", keys.userPublicKey() + "\n", addr + " " + spec.hostname()
        + "\n"));
    driver.start(g);
    return g;
  }

  record Out(int exit, String stdout, String stderr) {}

  private Out run(GuestHandle g, String... argv) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    RunningCommand c = driver.exec(g, new ExecRequest(List.of(argv), Map.of(), HOME.toString(),
        USER), (stderr, data) -> (stderr ? err : out).writeBytes(data));
    OptionalInt code = c.waitFor(Duration.ofSeconds(60));
    if (code.isEmpty()) {
      c.kill();
    }
    assertThat(code).as("command %s finished", List.of(argv)).isPresent();
    return new Out(code.getAsInt(), out.toString(StandardCharsets.UTF_8),
        err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void everyProcessOfTheGuestIsInItsCgroupsAndSeesOnlyItsCpus() throws Exception {
    GuestHandle g = guest(spec("site-c", 11, 1, 128L << 20));
    GuestRecord rec = GuestRecord.load(g.stateDir());
    List<Path> dirs = rec.cgroupDirs();
    assertThat(dirs).isNotEmpty().allSatisfy(d -> {
      assertThat(d).isDirectory();
      assertThat(d.getFileName().toString()).isEqualTo("lg-" + g.id());
    });
    assertThat(rec.get(GuestRecord.CGROUP_CPUS)).matches("\\d+");
    String cgroupPath = "/lambdagrid/lg-" + g.id();

    Out job = run(g, "sh", "-c", "nproc; cat /proc/self/cgroup; grep Cpus_allowed_list"
        + " /proc/self/status");
    assertThat(job.exit()).as(job.stderr()).isZero();
    assertThat(job.stdout().lines().findFirst()).hasValue("1");
    assertThat(job.stdout()).contains(cgroupPath)
        .contains("Cpus_allowed_list:\t" + rec.get(GuestRecord.CGROUP_CPUS));
    for (String key : List.of(GuestRecord.INIT, GuestRecord.SSHD)) {
      long pid = rec.proc(key).pid();
      assertThat(Files.readString(Path.of("/proc", Long.toString(pid), "cgroup")))
          .as(key + " process").contains(cgroupPath);
    }
    // An ssh session (how MPI starts ranks on other nodes) is sshd's child: in them too.
    Out ssh = run(g, "ssh", "site-c", "nproc; cat /proc/self/cgroup");
    assertThat(ssh.exit()).as(ssh.stderr()).isZero();
    assertThat(ssh.stdout().lines().findFirst()).hasValue("1");
    assertThat(ssh.stdout()).contains(cgroupPath);
    for (Path d : dirs) {
      String procs = Files.readString(d.resolve("cgroup.procs"));
      assertThat(procs).contains(Long.toString(rec.proc(GuestRecord.INIT).pid()));
    }
    Path memory = Path.of(rec.get(GuestRecord.CGROUP_MEMORY));
    String limitFile = "2".equals(rec.get(GuestRecord.CGROUP_VERSION)) ? "memory.max"
        : "memory.limit_in_bytes";
    assertThat(Files.readString(memory.resolve(limitFile)).strip())
        .isEqualTo(Long.toString(128L << 20));
    assertThat(driver.inspect(g).leftovers()).anyMatch(l -> l.startsWith("cgroup "));

    driver.stop(g);
    assertThat(driver.destroy(g)).isEmpty();
    assertThat(dirs).allSatisfy(d -> assertThat(d).doesNotExist());
    assertThat(driver.inspect(g).leftovers()).isEmpty();
    assertThat(driver.destroy(g)).as("again").isEmpty();
  }

  @Test
  void twoOneCpuGuestsGetDifferentCpus() throws Exception {
    GuestHandle a = guest(spec("site-d", 12, 1, 0));
    GuestHandle b = guest(spec("site-e", 13, 1, 0));
    String ca = GuestRecord.load(a.stateDir()).get(GuestRecord.CGROUP_CPUS);
    String cb = GuestRecord.load(b.stateDir()).get(GuestRecord.CGROUP_CPUS);
    assertThat(ca).isNotEqualTo(cb);
    assertThat(run(b, "nproc").stdout().strip()).isEqualTo("1");
    assertThat(GuestRecord.load(a.stateDir()).get(GuestRecord.CGROUP_MEMORY)).as("no memory"
        + " limit: no memory cgroup").isNull();
    for (GuestHandle g : List.of(a, b)) {
      driver.stop(g);
      assertThat(driver.destroy(g)).isEmpty();
    }
  }

  @Test
  void aMemoryHogIsKilledAndCounted() throws Exception {
    GuestHandle g = guest(spec("site-f", 14, 0, 64L << 20));
    assertThat(driver.limitEvents(g)).isEqualTo(LimitEvents.NONE);
    // tail keeps the last "line" in memory: zeros without end, until the kernel kills it.
    Out hog = run(g, "sh", "-c", "head -c 1G /dev/zero | tail >/dev/null");
    assertThat(hog.exit()).as(hog.stderr()).isEqualTo(137);
    LimitEvents ev = driver.limitEvents(g);
    assertThat(ev.oomKills()).isPositive();
    assertThat(ev.describe()).startsWith("the job exceeded its memory limit (64 MiB): the kernel's"
        + " OOM killer killed ");
    assertThat(run(g, "echo", "still here").stdout()).as("the guest lives on")
        .isEqualTo("still here\n");
    driver.stop(g);
    assertThat(driver.destroy(g)).isEmpty();
    assertThat(driver.limitEvents(g)).isEqualTo(LimitEvents.NONE);
  }

  @Test
  void moreCpusThanTheHostHasIsRefusedAndNothingIsLeft() throws Exception {
    int have = CgroupHost.system().cpus().size();
    List<String> netns = AbstractNamespacesDriverRootTest.netnsList();
    assertThatThrownBy(() -> driver.build(spec("site-g", 15, have + 1, 0)))
        .isInstanceOf(GuestException.class)
        .hasMessageContaining("cpus: '" + (have + 1) + "' is more CPUs than node site-g has ("
            + have + ": CPUs " + CgroupHost.formatCpuList(CgroupHost.system().cpus()) + ")")
        .hasMessageContaining("; undone");
    assertThat(AbstractNamespacesDriverRootTest.netnsList()).isEqualTo(netns);
    assertThat(guestCgroups()).isEqualTo(cgroupsBefore);
    try (var left = Files.list(stateBase)) {
      assertThat(left.toList()).isEmpty();
    }
  }

  /**
   * Every cgroup of this host named like a guest's ({@code lambdagrid}, {@code lg-*}), in every
   * hierarchy under /sys/fs/cgroup; what a leak check must find empty after a run.
   */
  static List<Path> guestCgroups() throws IOException {
    List<Path> found = new ArrayList<>();
    Path root = Path.of("/sys/fs/cgroup");
    if (!Files.isDirectory(root)) {
      return found;
    }
    Files.walkFileTree(root, Set.of(), 16, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
        String name = dir.getFileName() == null ? "" : dir.getFileName().toString();
        if (name.equals(CgroupHost.PARENT) || name.startsWith("lg-")) {
          found.add(dir);
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException exc) {
        return FileVisitResult.CONTINUE; // removed meanwhile
      }
    });
    found.sort(null);
    return found;
  }
}
