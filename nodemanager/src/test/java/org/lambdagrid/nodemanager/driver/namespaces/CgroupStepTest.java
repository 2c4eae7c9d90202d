package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.LimitEvents;

/**
 * The cgroup step against a fake cgroup tree in a temporary directory (an ordinary directory
 * whose "cgroups" get their control files at mkdir, as cgroupfs does); and the parsing of the
 * kernel's texts. Needs no root; the real thing is in the root tests.
 */
class CgroupStepTest {
  @TempDir
  Path tmp;
  private Path state;
  private Path cg;

  /** This machine's layout: v1 cpuset and memory, v2 mounted beside them with no controller. */
  private String mountinfo() {
    return "31 23 0:28 / " + cg + " rw,relatime - tmpfs tmpfs rw,mode=755\n"
        + "32 31 0:29 / " + cg + "/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        + "34 31 0:31 / " + cg + "/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
        + "35 31 0:32 / " + cg + "/memory rw,relatime - cgroup cgroup rw,memory\n"
        + "40 31 0:37 / " + cg + "/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        + "41 31 0:38 / " + cg + "/unified rw,relatime - cgroup2 cgroup2 rw\n";
  }

  private static final String SELF_V1 = "9:name=systemd:/\n4:memory:/jobs/j1\n3:cpuset:/\n"
      + "1:cpu:/\n0::/\n";

  /**
   * A cgroupfs stand-in: a made directory gets the control files cgroupfs would show (empty, or
   * as {@link #initial}), writes replace a file's content, rmdir takes the files with it and
   * refuses while a process is listed in cgroup.procs.
   */
  static class FakeCgroupFs extends CgroupFs {
    final List<String> files;
    final Map<String, String> initial;
    final List<String> writes = new ArrayList<>();

    FakeCgroupFs(List<String> files, Map<String, String> initial) {
      this.files = files;
      this.initial = initial;
    }

    @Override
    void mkdir(Path dir) throws IOException {
      super.mkdir(dir);
      for (String f : files) {
        Files.writeString(dir.resolve(f), initial.getOrDefault(f, ""));
      }
    }

    @Override
    void write(Path file, String value) throws IOException {
      if (!Files.exists(file)) {
        throw new NoSuchFileException(file.toString());
      }
      writes.add(tmpRelative(file) + "=" + value);
      Files.writeString(file, value, StandardOpenOption.TRUNCATE_EXISTING);
    }

    @Override
    void rmdir(Path dir) throws IOException {
      if (!readOrEmpty(dir.resolve("cgroup.procs")).isBlank()) {
        throw new IOException(dir + ": Device or resource busy");
      }
      try (Stream<Path> s = Files.list(dir)) {
        for (Path p : s.filter(Files::isRegularFile).toList()) {
          Files.delete(p);
        }
      }
      Files.delete(dir);
    }

    private static String tmpRelative(Path file) {
      return file.getParent().getFileName() + "/" + file.getFileName();
    }
  }

  private static final List<String> V1_FILES = List.of("cgroup.procs", "cpuset.cpus",
      "cpuset.mems", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
      "memory.oom_control");
  private static final List<String> V2_FILES = List.of("cgroup.procs", "cgroup.controllers",
      "cgroup.subtree_control", "cpuset.cpus", "memory.max", "memory.swap.max", "memory.events");

  private FakeCgroupFs fs;

  @BeforeEach
  void setUp() throws IOException {
    cg = tmp.resolve("sys-fs-cgroup");
    state = Files.createDirectories(tmp.resolve("state"));
    Files.createDirectories(cg.resolve("cpuset"));
    Files.writeString(cg.resolve("cpuset/cpuset.cpus"), "0-3\n");
    Files.writeString(cg.resolve("cpuset/cpuset.mems"), "0\n");
    Files.createDirectories(cg.resolve("memory/jobs/j1"));
    Files.createDirectories(cg.resolve("unified"));
    Files.writeString(cg.resolve("unified/cgroup.controllers"), "hugetlb\n");
    fs = new FakeCgroupFs(V1_FILES, Map.of("memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"));
  }

  private CgroupStep step(String self, String cpusAllowed) {
    return new CgroupStep(new CgroupHost(this::mountinfo, () -> self, () -> cpusAllowed), fs);
  }

  private GuestRecord record(String id, GuestSpec spec) throws IOException {
    Path dir = Files.createDirectories(state.resolve(id));
    GuestRecord rec = GuestRecord.create(dir, id, spec, "bridge");
    rec.save();
    return rec;
  }

  private static GuestSpec spec(int cpus, long memory) {
    return new GuestSpec("j", "alpha-0", "10.0.0.11", 24, List.of(), "u", "", cpus, memory);
  }

  private GuestRecord built(CgroupStep step, String id, GuestSpec spec) throws Exception {
    GuestRecord rec = record(id, spec);
    step.build(new NewGuest(rec, spec, null, "br"));
    return GuestRecord.load(rec.dir());
  }

  @Test
  void aGuestWithoutAShapeGetsNoCgroup() throws Exception {
    GuestRecord rec = built(step(SELF_V1, "0-3"), "0000000a", spec(0, 0));
    assertThat(rec.cgroupDirs()).isEmpty();
    assertThat(CgroupStep.joined(rec, List.of("true"))).containsExactly("true");
    assertThat(cg.resolve("cpuset/lambdagrid")).doesNotExist();
    assertThat(step(SELF_V1, "0-3").undo(rec)).isEmpty();
  }

  @Test
  void v1CpusetAndMemoryUnderTheNodeManagersOwnCgroups() throws Exception {
    CgroupStep step = step(SELF_V1, "0-3");
    GuestRecord rec = built(step, "0000000b", spec(2, 256L << 20));

    Path cpuset = cg.resolve("cpuset/lambdagrid/lg-0000000b");
    Path memory = cg.resolve("memory/jobs/j1/lambdagrid/lg-0000000b");
    assertThat(rec.cgroupDirs()).containsExactly(cpuset, memory);
    assertThat(rec.get(GuestRecord.CGROUP_VERSION)).isEqualTo("1");
    assertThat(rec.get(GuestRecord.CGROUP_MEMORY)).isEqualTo(memory.toString());
    assertThat(rec.get(GuestRecord.CGROUP_CPUS)).isEqualTo("0-1");
    // A v1 cpuset starts empty: the parent gets its parent's CPUs and nodes first.
    assertThat(Files.readString(cg.resolve("cpuset/lambdagrid/cpuset.cpus"))).isEqualTo("0-3");
    assertThat(Files.readString(cg.resolve("cpuset/lambdagrid/cpuset.mems"))).isEqualTo("0");
    assertThat(Files.readString(cpuset.resolve("cpuset.cpus"))).isEqualTo("0-1");
    assertThat(Files.readString(cpuset.resolve("cpuset.mems"))).isEqualTo("0");
    assertThat(Files.readString(memory.resolve("memory.limit_in_bytes")))
        .isEqualTo(Long.toString(256L << 20));
    assertThat(Files.readString(memory.resolve("memory.memsw.limit_in_bytes")))
        .isEqualTo(Long.toString(256L << 20));
    assertThat(fs.writes).containsSubsequence("lg-0000000b/memory.limit_in_bytes=268435456",
        "lg-0000000b/memory.memsw.limit_in_bytes=268435456");

    assertThat(CgroupStep.joined(rec, List.of("nsenter", "x"))).containsExactly("/bin/sh", "-c",
        "for f do [ \"$f\" = -- ] && break; echo 0 > \"$f\" || exit 125; shift; done; shift;"
            + " exec \"$@\"", "lg-cgroup-join", cpuset.resolve("cgroup.procs").toString(),
        memory.resolve("cgroup.procs").toString(), "--", "nsenter", "x");
    assertThat(CgroupStep.leftovers(rec, fs)).containsExactly("cgroup " + cpuset,
        "cgroup " + memory);

    assertThat(step.undo(rec)).isEmpty();
    assertThat(cpuset).doesNotExist();
    assertThat(memory).doesNotExist();
    assertThat(cg.resolve("cpuset/lambdagrid")).as("the last guest's parent goes too")
        .doesNotExist();
    assertThat(cg.resolve("memory/jobs/j1/lambdagrid")).doesNotExist();
    assertThat(cg.resolve("memory/jobs/j1")).exists();
    assertThat(step.undo(rec)).as("again").isEmpty();
    assertThat(CgroupStep.leftovers(rec, fs)).isEmpty();
  }

  @Test
  void guestsOnOneHostGetDistinctCpusWhileThereAreEnoughThenShare() throws Exception {
    CgroupStep step = step(SELF_V1, "0-3");
    GuestRecord a = built(step, "000000a1", spec(2, 0));
    GuestRecord b = built(step, "000000a2", spec(1, 0));
    GuestRecord c = built(step, "000000a3", spec(2, 0));
    assertThat(a.get(GuestRecord.CGROUP_CPUS)).isEqualTo("0-1");
    assertThat(b.get(GuestRecord.CGROUP_CPUS)).isEqualTo("2");
    assertThat(c.get(GuestRecord.CGROUP_CPUS)).as("3 is free, then the least used")
        .isEqualTo("0,3");
    assertThat(a.cgroupDirs()).as("no memory limit: no memory cgroup")
        .containsExactly(cg.resolve("cpuset/lambdagrid/lg-000000a1"));
    assertThat(step.undo(a)).isEmpty();
    assertThat(cg.resolve("cpuset/lambdagrid")).as("other guests' cgroups are in it").exists();
    GuestRecord d = built(step, "000000a4", spec(1, 0));
    assertThat(d.get(GuestRecord.CGROUP_CPUS)).isEqualTo("1");
    for (GuestRecord r : List.of(b, c, d)) {
      assertThat(step.undo(r)).isEmpty();
    }
    assertThat(cg.resolve("cpuset/lambdagrid")).doesNotExist();
  }

  @Test
  void chooseTakesTheLeastUsedCpusThenTheLowest() {
    assertThat(CgroupStep.choose(2, List.of(0, 1, 2, 3), Map.of())).containsExactly(0, 1);
    assertThat(CgroupStep.choose(2, List.of(0, 1, 2, 3), Map.of(0, 1, 1, 1, 2, 1)))
        .containsExactly(0, 3);
    assertThat(CgroupStep.choose(1, List.of(4, 6), Map.of(4, 2, 6, 1))).containsExactly(6);
  }

  @Test
  void moreCpusThanTheNodeOffersIsRefusedNamingTheNodesCpus() throws Exception {
    GuestRecord rec = record("0000000c", spec(3, 0));
    assertThatThrownBy(() -> step(SELF_V1, "0-1").build(new NewGuest(rec, spec(3, 0), null,
        "br"))).isInstanceOf(GuestException.class)
        .hasMessage("cpus: '3' is more CPUs than node alpha-0 has (2: CPUs 0-1)");
    assertThat(cg.resolve("cpuset/lambdagrid")).doesNotExist();
  }

  @Test
  void moreCpusThanTheNodeOffersIsRefusedBeforeAnyStepBuilds() throws Exception {
    GuestRecord rec = record("0000000d", spec(3, 0));
    List<String> built = new ArrayList<>();
    GuestStep files = new GuestStep() {
      @Override
      public void build(NewGuest guest) {
        built.add("files"); // as FilesStep: would make the user's ~/.ssh
      }

      @Override
      public List<String> undo(GuestRecord r) {
        return List.of();
      }
    };
    GuestSteps steps = new GuestSteps(List.of(files, step(SELF_V1, "0-1")));
    assertThatThrownBy(() -> steps.build(new NewGuest(rec, spec(3, 0), null, "br")))
        .isInstanceOf(GuestException.class)
        .hasMessage("cpus: '3' is more CPUs than node alpha-0 has (2: CPUs 0-1)");
    assertThat(built).isEmpty();
  }

  @Test
  void aHostWithoutTheControllerSaysWhatIsMissing() throws Exception {
    String noMemory = "9:name=systemd:/\n3:cpuset:/\n0::/\n";
    CgroupStep step = new CgroupStep(new CgroupHost(
        () -> mountinfo().lines().filter(l -> !l.contains("memory")).reduce("", (x, y) -> x + y
            + "\n"), () -> noMemory, () -> "0-3"), fs);
    GuestRecord rec = record("0000000d", spec(0, 64L << 20));
    assertThatThrownBy(() -> step.build(new NewGuest(rec, spec(0, 64L << 20), null, "br")))
        .isInstanceOf(GuestException.class)
        .hasMessage("this node cannot limit the guest's memory: no cgroup controller memory for"
            + " it (cgroup v2 at " + cg.resolve("unified") + " offers hugetlb; no cgroup v1"
            + " hierarchy of memory holds this process)");
  }

  @Test
  void v2IsTheDefaultWhereItOffersTheControllers() throws Exception {
    Path root = cg.resolve("v2");
    Files.createDirectories(root.resolve("system.slice/nm.service"));
    Files.writeString(root.resolve("cgroup.controllers"), "cpuset cpu io memory pids\n");
    Files.writeString(root.resolve("cgroup.subtree_control"), "memory pids\n");
    Files.writeString(root.resolve("system.slice/cgroup.subtree_control"), "memory\n");
    String mi = "50 1 0:40 / " + root + " rw - cgroup2 cgroup2 rw\n"
        + "51 1 0:41 / " + cg.resolve("memory") + " rw - cgroup cgroup rw,memory\n";
    fs = new FakeCgroupFs(V2_FILES, Map.of("memory.events", "low 0\nhigh 0\nmax 3\noom 1\n"
        + "oom_kill 1\n"));
    CgroupStep step = new CgroupStep(new CgroupHost(() -> mi,
        () -> "0::/system.slice/nm.service\n", () -> "0-3"), fs);
    GuestRecord rec = built(step, "0000000e", spec(1, 512L << 20));

    Path guest = root.resolve("system.slice/lambdagrid/lg-0000000e");
    assertThat(rec.cgroupDirs()).as("beside the NodeManager's own (it holds processes)")
        .containsExactly(guest);
    assertThat(rec.get(GuestRecord.CGROUP_VERSION)).isEqualTo("2");
    assertThat(fs.writes).contains("v2/cgroup.subtree_control=+cpuset",
        "system.slice/cgroup.subtree_control=+cpuset",
        "lambdagrid/cgroup.subtree_control=+cpuset",
        "lambdagrid/cgroup.subtree_control=+memory")
        .doesNotContain("v2/cgroup.subtree_control=+memory");
    assertThat(Files.readString(guest.resolve("cpuset.cpus"))).isEqualTo("0");
    assertThat(Files.readString(guest.resolve("memory.max"))).isEqualTo("536870912");
    assertThat(Files.readString(guest.resolve("memory.swap.max"))).isEqualTo("0");
    assertThat(CgroupStep.limitEvents(rec, fs)).isEqualTo(new LimitEvents(1, 512L << 20));
    assertThat(CgroupStep.limitEvents(rec, fs).describe()).isEqualTo("the job exceeded its"
        + " memory limit (512 MiB): the kernel's OOM killer killed a process");
    assertThat(step.undo(rec)).isEmpty();
    assertThat(root.resolve("system.slice/lambdagrid")).doesNotExist();
  }

  @Test
  void aV2ParentThatHoldsProcessesFailsSayingWhereToRunTheNodeManager() throws Exception {
    Path root = cg.resolve("v2");
    Files.createDirectories(root.resolve("box/nm"));
    Files.writeString(root.resolve("cgroup.controllers"), "cpuset memory\n");
    Files.writeString(root.resolve("cgroup.subtree_control"), "cpuset memory\n");
    Files.writeString(root.resolve("box/cgroup.subtree_control"), "\n");
    Files.writeString(root.resolve("box/cgroup.procs"), "1\n"); // e.g. a container's init
    String mi = "50 1 0:40 / " + root + " rw - cgroup2 cgroup2 rw\n";
    Path busy = root.resolve("box/cgroup.subtree_control");
    fs = new FakeCgroupFs(V2_FILES, Map.of()) {
      @Override
      void write(Path file, String value) throws IOException {
        if (file.equals(busy)) {
          throw new IOException(file + ": Device or resource busy"); // as the kernel refuses
        }
        super.write(file, value);
      }
    };
    CgroupStep step = new CgroupStep(new CgroupHost(() -> mi, () -> "0::/box/nm\n",
        () -> "0-3"), fs);
    assertThatThrownBy(() -> built(step, "0000000f", spec(1, 64L << 20)))
        .hasMessageContaining("cannot enable the cpuset controller for the children of "
            + root.resolve("box"))
        .hasMessageContaining("run the NodeManager in a cgroup whose parent holds no processes")
        .hasMessageNotContaining("Delegate=yes"); // it would not help: the guests go beside
  }

  @Test
  void theOomKillsAreReadFromV1sOomControl() throws Exception {
    GuestRecord rec = built(step(SELF_V1, "0-3"), "0000000f", spec(0, 64L << 20));
    assertThat(CgroupStep.limitEvents(rec, fs)).isEqualTo(LimitEvents.NONE);
    Path memory = cg.resolve("memory/jobs/j1/lambdagrid/lg-0000000f");
    Files.writeString(memory.resolve("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    assertThat(CgroupStep.limitEvents(rec, fs)).isEqualTo(new LimitEvents(2, 64L << 20));
    assertThat(CgroupStep.limitEvents(rec, fs).describe()).isEqualTo("the job exceeded its"
        + " memory limit (64 MiB): the kernel's OOM killer killed 2 processes");
    assertThat(step(SELF_V1, "0-3").undo(rec)).isEmpty();
    assertThat(CgroupStep.limitEvents(rec, fs)).as("gone").isEqualTo(LimitEvents.NONE);
  }

  @Test
  void aRecordedCgroupThatIsNoPathIsReportedAndTheGuestsOthersAreStillRemoved() throws Exception {
    GuestRecord rec = built(step(SELF_V1, "0-3"), "00000012", spec(1, 64L << 20));
    List<Path> dirs = rec.cgroupDirs();
    assertThat(dirs).hasSize(2);
    rec.set(GuestRecord.CGROUP_DIR + 0, dirs.get(0) + "\0");
    assertThat(step(SELF_V1, "0-3").undo(rec)).containsExactly("guest record "
        + rec.dir().resolve("guest.properties") + ": cgroup.dir.0 '" + dirs.get(0)
        + "\\x00' is not a guest cgroup of this driver (lambdagrid/lg-00000012 under a cgroup"
        + " mount); left alone");
    assertThat(dirs.get(0)).exists();
    assertThat(dirs.get(1)).doesNotExist();
  }

  @Test
  void undoLeavesWhatIsNotAGuestCgroupAloneAndSaysWhatIsBusy() throws Exception {
    GuestRecord rec = record("00000010", spec(1, 0));
    Path foreign = cg.resolve("cpuset/user.slice");
    Files.createDirectories(foreign);
    rec.set(GuestRecord.CGROUP_DIR + 0, foreign.toString());
    rec.set(GuestRecord.CGROUP_DIR + 1, cg.resolve("cpuset/lambdagrid/../x/lg-00000010")
        .toString());
    assertThat(step(SELF_V1, "0-3").undo(rec)).hasSize(2)
        .allMatch(p -> p.contains("not a guest cgroup of this driver"));
    assertThat(foreign).exists();

    GuestRecord busy = built(step(SELF_V1, "0-3"), "00000011", spec(1, 0));
    Path dir = busy.cgroupDirs().get(0);
    // A pid that is no process: killing does nothing, so the cgroup stays busy.
    Files.writeString(dir.resolve("cgroup.procs"), "4194304\n");
    CgroupStep step = new CgroupStep(new CgroupHost(this::mountinfo, () -> SELF_V1,
        () -> "0-3"), fs, java.time.Duration.ofMillis(300));
    long t0 = System.nanoTime();
    List<String> left = step.undo(busy);
    assertThat(left).singleElement().asString().startsWith("cgroup " + dir + ": ")
        .contains("Device or resource busy").contains("processes still in it: [4194304]");
    assertThat((System.nanoTime() - t0) / 1_000_000).as("tried for the kill wait")
        .isGreaterThanOrEqualTo(300);
    Files.writeString(dir.resolve("cgroup.procs"), "");
    assertThat(step.undo(busy)).isEmpty();
  }

  @Test
  void theKernelsTextsParse() {
    List<CgroupHost.Mount> mounts = CgroupHost.mounts(mountinfo()
        + "60 1 0:50 /docker/x /sys/fs/cgroup\\040odd rw - cgroup cgroup rw,cpu,cpuacct\n");
    assertThat(mounts).extracting(CgroupHost.Mount::version).containsExactly(
        CgroupHost.Version.V1, CgroupHost.Version.V1, CgroupHost.Version.V1,
        CgroupHost.Version.V1, CgroupHost.Version.V2, CgroupHost.Version.V1);
    assertThat(mounts.get(1).controllers()).containsExactly("cpuset");
    assertThat(mounts.get(5).controllers()).containsExactly("cpu", "cpuacct");
    assertThat(mounts.get(5).root()).isEqualTo("/docker/x");
    assertThat(mounts.get(5).point()).isEqualTo(Path.of("/sys/fs/cgroup odd"));
    assertThat(CgroupHost.ownCgroups(SELF_V1)).containsEntry("memory", "/jobs/j1")
        .containsEntry("", "/").containsEntry("cpuset", "/");
    assertThat(CgroupHost.parseCpuList("0-3,8,10-11\n")).containsExactly(0, 1, 2, 3, 8, 10, 11);
    assertThat(CgroupHost.parseCpuList("")).isEmpty();
    assertThat(CgroupHost.parseCpuList("x")).isEmpty();
    assertThat(CgroupHost.formatCpuList(List.of(3, 0, 1, 8, 10, 11))).isEqualTo("0-1,3,8,10-11");
    assertThat(CgroupHost.statusField("Name:\tjava\nCpus_allowed_list:\t0-1\n",
        "Cpus_allowed_list")).isEqualTo("0-1");
    List<Path> cgroupMounts = List.of(Path.of("/sys/fs/cgroup/cpuset"));
    assertThat(CgroupStep.ours(Path.of("/sys/fs/cgroup/cpuset/lambdagrid/lg-0a"), "0a",
        cgroupMounts)).isTrue();
    assertThat(CgroupStep.ours(Path.of("/sys/fs/cgroup/cpuset/lg-0a"), "0a", cgroupMounts))
        .isFalse();
    assertThat(CgroupStep.ours(Path.of("lambdagrid/lg-0a"), "0a", cgroupMounts)).isFalse();
    assertThat(CgroupStep.ours(Path.of("/sys/fs/cgroup/cpuset/lambdagrid/lg-0b"), "0a",
        cgroupMounts)).isFalse();
    assertThat(CgroupStep.ours(Path.of("/home/u/lambdagrid/lg-0a"), "0a", cgroupMounts))
        .as("not below a cgroup mount").isFalse();
  }

  @Test
  void aContainersCgroupMountIsReadRelativeToItsRoot() throws Exception {
    String mi = "34 31 0:31 /docker/c1 " + cg.resolve("cpuset") + " rw - cgroup cgroup rw,cpuset\n";
    CgroupHost host = new CgroupHost(() -> mi, () -> "3:cpuset:/docker/c1/inner\n", () -> "0-3");
    CgroupHost.Layout l = host.layout(Set.of("cpuset"), "limit the guest's CPUs");
    assertThat(l.version()).isEqualTo(CgroupHost.Version.V1);
    assertThat(l.places()).singleElement().extracting(CgroupHost.Place::base)
        .isEqualTo(cg.resolve("cpuset/inner"));
    CgroupHost outside = new CgroupHost(() -> mi, () -> "3:cpuset:/elsewhere\n", () -> "0-3");
    assertThatThrownBy(() -> outside.layout(Set.of("cpuset"), "limit the guest's CPUs"))
        .hasMessageContaining("no cgroup controller cpuset");
  }
}
