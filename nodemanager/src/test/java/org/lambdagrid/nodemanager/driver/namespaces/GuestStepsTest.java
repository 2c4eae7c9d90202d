package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/** How the build steps run: forward, then backward from the record alone; needs no root. */
class GuestStepsTest {
  @TempDir
  Path base;
  private Path dir;

  private final List<String> log = new ArrayList<>();
  private final GuestSpec spec = new GuestSpec("j", "site-0", "10.0.0.11", 24, List.of(), "u");

  /** Records "NAME" under key NAME in plan, fails in build if told to, undoes what is recorded. */
  private final class Step implements GuestStep {
    private final String name;
    private final boolean fails;
    private final List<String> leaves;
    private final boolean needsLaterGone;

    Step(String name, boolean fails, List<String> leaves, boolean needsLaterGone) {
      this.name = name;
      this.fails = fails;
      this.leaves = leaves;
      this.needsLaterGone = needsLaterGone;
    }

    @Override
    public void plan(NewGuest guest) {
      guest.record().set(name, name);
    }

    @Override
    public void build(NewGuest guest) throws GuestException, IOException {
      GuestRecord saved = GuestRecord.load(guest.record().dir());
      log.add("build " + name + (saved.get(name) != null ? " (recorded)" : ""));
      if (fails) {
        throw new GuestException(name + " failed");
      }
    }

    @Override
    public List<String> undo(GuestRecord rec) {
      log.add("undo " + name + (rec.get(name) != null ? " (recorded)" : ""));
      return leaves;
    }

    @Override
    public boolean undoNeedsLaterStepsGone() {
      return needsLaterGone;
    }
  }

  private Step step(String name) {
    return new Step(name, false, List.of(), false);
  }

  private NewGuest newGuest() throws IOException {
    dir = Files.createDirectory(base.resolve("0a1b2c3d"));
    GuestRecord rec = GuestRecord.create(dir, "0a1b2c3d", spec, "bridge");
    rec.save();
    return new NewGuest(rec, spec, null, null);
  }

  @Test
  void stepsBuildInOrderEachRecordedFirstAndUndoInReverse() throws Exception {
    GuestSteps steps = new GuestSteps(List.of(step("a"), step("b"), step("c")));
    NewGuest guest = newGuest();
    assertThat(guest.record().get("a")).isNull();
    steps.build(guest);
    assertThat(steps.undo(GuestRecord.load(dir))).isEmpty();
    assertThat(log).containsExactly("build a (recorded)", "build b (recorded)",
        "build c (recorded)", "undo c (recorded)", "undo b (recorded)", "undo a (recorded)");
  }

  @Test
  void aFailedStepStopsTheBuildAndEveryUndoRunsFromTheSavedRecord() throws Exception {
    GuestSteps steps = new GuestSteps(List.of(step("a"), new Step("b", true, List.of(), false),
        step("c")));
    NewGuest guest = newGuest();
    assertThatThrownBy(() -> steps.build(guest)).hasMessage("b failed");
    // As after a crash: only what was saved.
    assertThat(steps.undo(GuestRecord.load(dir))).isEmpty();
    assertThat(log).containsExactly("build a (recorded)", "build b (recorded)", "undo c",
        "undo b (recorded)", "undo a (recorded)");
  }

  @Test
  void anUndoThatNeedsTheLaterStepsGoneWaitsForTheNextDestroy() throws Exception {
    GuestSteps steps = new GuestSteps(List.of(new Step("files", false, List.of(), true),
        new Step("net", false, List.of("interface x"), false),
        new Step("procs", false, List.of("process 1 survived SIGKILL"), false)));
    assertThat(steps.undo(GuestRecord.load(newGuest().record().dir())))
        .containsExactly("process 1 survived SIGKILL", "interface x");
    assertThat(log).containsExactly("undo procs", "undo net");
  }

  @Test
  void anUndoThatThrowsIsReportedTheOthersRunAndTheDirectoryStays() throws Exception {
    final class Throwing implements GuestStep {
      @Override
      public void build(NewGuest guest) {}

      @Override
      public List<String> undo(GuestRecord rec) {
        log.add("undo throwing");
        throw new IllegalArgumentException("x.pid 'y' is not a pid");
      }
    }

    NewGuest guest = newGuest();
    GuestSteps steps = new GuestSteps(List.of(new FilesStep(NamespacesDriverConfig.bridge("b")),
        step("a"), new Throwing(), step("c")));
    assertThat(steps.undo(guest.record())).containsExactly("guest record "
        + dir.resolve("guest.properties") + ": Throwing undo: x.pid 'y' is not a pid");
    assertThat(log).containsExactly("undo c", "undo throwing", "undo a");
    assertThat(dir).exists();
  }

  @Test
  void aNonNumericInitPidIsReportedByDestroyAndStopDoesNotThrow() throws Exception {
    GuestRecord rec = newGuest().record();
    rec.set("init.pid", "1x");
    rec.set("init.start", "5");
    rec.save();
    NamespacesDriver driver = new NamespacesDriver(NamespacesDriverConfig.bridge("lgbr0"));
    GuestHandle handle = new GuestHandle("0a1b2c3d", spec, dir);
    driver.stop(handle);
    assertThat(driver.destroy(handle)).containsExactly("guest record "
        + dir.resolve("guest.properties") + ": init.pid '1x' is not a pid; not killed by pid,"
        + " only what is in the guest's network namespace: correct or delete init.pid, then"
        + " destroy again");
    assertThat(dir.resolve("guest.properties")).exists();
  }

  @Test
  void aCgroupOutsideTheCgroupMountsIsRefusedAndKeepsTheStateDirectory() throws Exception {
    GuestRecord rec = newGuest().record();
    // Shaped as a guest cgroup, but in a directory anyone could own: its cgroup.procs is a file.
    Path fake = Files.createDirectories(base.resolve("home/lambdagrid/lg-0a1b2c3d"));
    Files.writeString(fake.resolve("cgroup.procs"), "");
    rec.set(GuestRecord.CGROUP_DIR + 0, fake.toString());
    rec.save();
    assertThat(GuestSteps.of(NamespacesDriverConfig.bridge("lgbr0")).undo(rec))
        .containsExactly("guest record " + dir.resolve("guest.properties") + ": cgroup.dir.0 '"
            + fake + "' is not a guest cgroup of this driver (lambdagrid/lg-0a1b2c3d under a"
            + " cgroup mount); left alone");
    assertThat(fake).exists();
    assertThat(dir.resolve("guest.properties")).exists();
  }

  @Test
  void theNamespacesGuestIsFilesCgroupsKeysNetworkProcesses() throws Exception {
    GuestSteps steps = GuestSteps.of(NamespacesDriverConfig.bridge("lgbr0"));
    assertThat(steps.steps()).extracting(s -> s.getClass().getSimpleName()).containsExactly(
        "FilesStep", "CgroupStep", "KeysStep", "NetworkStep", "ProcessesStep");
    GuestRecord rec = newGuest().record();
    Files.writeString(dir.resolve("upper"), "x");
    // Nothing recorded beyond the first record: every undo finds nothing, the directory goes.
    assertThat(GuestSteps.of(NamespacesDriverConfig.bridge("lgbr0")).undo(rec)).isEmpty();
    assertThat(dir).doesNotExist();
    assertThat(base).exists();
  }

  @Test
  void guestsMdGivesTheBuildOrderOfTheCode() throws Exception {
    String build = Files.readAllLines(Path.of("../docs/guests.md")).stream()
        .filter(l -> l.startsWith("| `build(spec)` |")).findFirst().orElseThrow();
    List<Integer> at = List.of("files (", "cgroups (", "ed25519 keys", "network (",
        "processes (").stream().map(build::indexOf).toList();
    assertThat(at).doesNotContain(-1).isSorted();
    String map = Files.readString(Path.of("../docs/guests.md"));
    map = map.substring(map.indexOf("## Code map"));
    assertThat(List.of("`FilesStep`", "`CgroupStep`", "`KeysStep`", "`NetworkStep`",
        "`ProcessesStep`").stream().map(map::indexOf).toList()).doesNotContain(-1).isSorted();
  }
}
