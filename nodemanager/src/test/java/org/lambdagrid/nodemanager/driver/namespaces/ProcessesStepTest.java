package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * The processes step kills only processes of the guest's own namespaces, whatever its record
 * says. Needs no guest; kills nothing but a {@code sleep} it starts.
 */
class ProcessesStepTest {
  private static final String ID = "0a1b2c3d";

  @TempDir
  Path base;
  private Process sleep;

  @AfterEach
  void killSleep() {
    if (sleep != null) {
      sleep.destroyForcibly();
    }
  }

  private GuestRecord record() throws Exception {
    GuestRecord rec = GuestRecord.create(Files.createDirectories(base.resolve(ID)), ID,
        new GuestSpec("j", "site-0", "10.0.0.11", 24, List.of(), "u"), "bridge");
    rec.save();
    return rec;
  }

  @Test
  void anInitInTheNodeManagersOwnPidNamespaceIsRefusedAndHasNoMembers() throws Exception {
    GuestRecord rec = record();
    GuestRecord.Proc self = ProcFs.procOf(ProcessHandle.current().pid());
    assertThat(ProcFs.pidNamespaceMembers(self)).isEmpty();
    assertThat(ProcessesStep.refusal(rec, GuestRecord.INIT, self)).isEqualTo("guest record "
        + rec.dir().resolve("guest.properties") + ": init.pid " + self.pid()
        + " is in the NodeManager's own PID namespace; refused, not killed");
  }

  @Test
  void aRecordedHolderOutsideTheGuestsNetnsIsReportedAndNotKilled() throws Exception {
    sleep = new ProcessBuilder("sleep", "60").start();
    GuestRecord rec = record();
    GuestRecord.Proc holder = ProcFs.procOf(sleep.pid());
    Path netnsFile = Files.createFile(base.resolve("lg-" + ID)); // exists, binds no netns
    assertThat(ProcessesStep.refusal(rec, GuestRecord.HOLDER, holder,
        ProcFs.pidNamespace(holder.pid()), netnsFile)).isEqualTo(
        "guest record " + rec.dir().resolve("guest.properties") + ": holder.pid " + sleep.pid()
            + " is not in this guest's network namespace lg-" + ID + "; refused, not killed");
  }

  @Test
  void anExitingInitIsNotRefusedButOneThatCannotBeInspectedIs() throws Exception {
    GuestRecord rec = record();
    GuestRecord.Proc self = ProcFs.procOf(ProcessHandle.current().pid());
    Path netnsFile = Files.createFile(base.resolve("lg-" + ID));
    assertThat(ProcessesStep.refusal(rec, GuestRecord.INIT, self, ProcFs.PidNs.EXITING,
        netnsFile)).as("the kernel is ending it").isNull();
    assertThat(ProcessesStep.refusal(rec, GuestRecord.INIT, self, ProcFs.PidNs.DENIED,
        netnsFile)).isEqualTo("guest record " + rec.dir().resolve("guest.properties")
            + ": init.pid " + self.pid() + " cannot be inspected: /proc/" + self.pid()
            + "/ns cannot be read here (an LSM or a sandbox?); not killed (if it is the guest's"
            + " init, kill -9 " + self.pid() + " by hand)");
    assertThat(ProcessesStep.refusal(rec, GuestRecord.INIT, self, ProcFs.PidNs.OWN, netnsFile))
        .endsWith("init.pid " + self.pid() + " is in the NodeManager's own PID namespace;"
            + " refused, not killed");
  }

  @Test
  void aRecordedProcessWhoseGuestNetnsIsGoneIsReportedAsUnprovenAndNotKilled() throws Exception {
    sleep = new ProcessBuilder("sleep", "60").start();
    GuestRecord rec = record();
    rec.setProc(GuestRecord.HOLDER, ProcFs.procOf(sleep.pid()));
    rec.save();
    Path netnsFile = Path.of("/run/netns/lg-" + ID);
    assertThat(netnsFile).doesNotExist();
    assertThat(new ProcessesStep(NamespacesDriverConfig.bridge("lgbr0"))
        .undo(GuestRecord.load(rec.dir()))).containsExactly("guest record "
            + rec.dir().resolve("guest.properties") + ": holder.pid " + sleep.pid()
            + " cannot be shown to be this guest's: its network namespace " + netnsFile
            + " is gone; not killed (if it is the guest's holder, kill -9 " + sleep.pid()
            + " by hand)");
    assertThat(sleep.isAlive()).isTrue();
  }

  @Test
  void aDamagedInitPidIsReportedAndTheGuestsNetnsIsStillSweptAndThenDeleted() throws Exception {
    sleep = new ProcessBuilder("sleep", "60").start();
    NetworkStepTest.FakeHost host = new NetworkStepTest.FakeHost();
    host.members.put("lg-" + ID, List.of(sleep.pid()));
    GuestRecord rec = record();
    rec.set("init.pid", "1x");
    rec.set("init.start", "5");
    rec.set(GuestRecord.NETNS, "lg-" + ID);
    rec.save();
    NamespacesDriverConfig config = NamespacesDriverConfig.bridge("lgbr0");
    GuestSteps steps = new GuestSteps(List.of(new FilesStep(config),
        new NetworkStep(config, host), new ProcessesStep(config, host)));
    assertThat(steps.undo(GuestRecord.load(rec.dir()))).containsExactly("guest record "
        + rec.dir().resolve("guest.properties") + ": init.pid '1x' is not a pid; not killed by"
        + " pid, only what is in the guest's network namespace: correct or delete init.pid, then"
        + " destroy again");
    assertThat(sleep.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)).as("swept").isTrue();
    assertThat(host.commands).containsExactly("netns pids lg-" + ID, "netns pids lg-" + ID,
        "netns del lg-" + ID);
  }

  @Test
  void onlyTheGuestsOwnNetnsIsAskedForItsProcessesWhateverTheRecordNames() throws Exception {
    NetworkStepTest.FakeHost host = new NetworkStepTest.FakeHost();
    GuestRecord rec = record();
    rec.set(GuestRecord.NETNS, "lg-0b0b0b0b"); // another guest's, which the fake host has
    assertThat(new ProcessesStep(NamespacesDriverConfig.bridge("lgbr0"), host).undo(rec))
        .isEmpty();
    assertThat(host.commands).containsExactly("netns pids lg-" + ID);
  }

  @Test
  void aProcessIsInTheNetnsItsOwnNsFileBinds() {
    long self = ProcessHandle.current().pid();
    assertThat(ProcFs.inNetns(self, Path.of("/proc/self/ns/net"))).isTrue();
    assertThat(ProcFs.inNetns(self, Path.of("/run/netns/lg-" + ID))).isFalse();
    assertThat(ProcFs.inNetns(self, Path.of("/proc/self/ns/pid"))).as("another nsfs file")
        .isFalse();
  }
}
