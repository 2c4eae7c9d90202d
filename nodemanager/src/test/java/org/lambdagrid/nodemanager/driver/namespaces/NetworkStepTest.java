package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.Processes;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * The network step's undo against a fake host: it deletes only the names the guest's own plan
 * makes, whatever its record says. Needs no root, and runs no command on the host.
 */
class NetworkStepTest {
  private static final String ID = "0a1b2c3d";
  private static final String OTHER = "0b0b0b0b";

  @TempDir
  Path base;

  private final GuestSpec spec = new GuestSpec("j", "site-0", "10.0.0.11", 24, List.of(), "u");

  /** A host with the interfaces and namespaces a test puts in its sets; records every ip. */
  static final class FakeHost extends NetworkStep.Kernel {
    final Set<String> links = new HashSet<>(Set.of("eth0", "lgv" + ID, "lgv" + OTHER));
    final Set<String> netns = new HashSet<>(Set.of("lg-" + ID, "lg-" + OTHER));
    final List<String> commands = new ArrayList<>();
    /** Processes in a namespace; {@code netns pids} lists those still running. */
    final Map<String, List<Long>> members = new HashMap<>();

    @Override
    boolean linkExists(String link) {
      return links.contains(link);
    }

    @Override
    boolean netnsExists(String name) {
      return netns.contains(name);
    }

    @Override
    boolean inNetns(long pid, String name) {
      return members.getOrDefault(name, List.of()).contains(pid);
    }

    @Override
    HostCommand.Result ip(String... args) {
      List<String> argv = List.of(args);
      commands.add(String.join(" ", argv));
      if (argv.subList(0, 2).equals(List.of("netns", "pids"))) {
        return new HostCommand.Result(argv, 0, members.getOrDefault(argv.get(2), List.of())
            .stream().filter(p -> ProcessHandle.of(p).map(Processes::running).orElse(false))
            .map(p -> p + "\n").collect(Collectors.joining()), "");
      }
      boolean gone = argv.get(1).equals("del")
          && (argv.get(0).equals("link") ? links : netns).remove(argv.get(2));
      return new HostCommand.Result(argv, gone ? 0 : 1, "", gone ? "" : "Cannot find");
    }
  }

  private final FakeHost host = new FakeHost();

  private GuestRecord record(String attachment, String hostLink, String netns)
      throws IOException {
    GuestRecord rec = GuestRecord.create(Files.createDirectories(base.resolve(ID)), ID, spec,
        attachment);
    rec.set(GuestRecord.HOST_LINK, hostLink);
    rec.set(GuestRecord.NETNS, netns);
    rec.save();
    return GuestRecord.load(rec.dir());
  }

  private NetworkStep step() {
    return new NetworkStep(NamespacesDriverConfig.bridge("lgbr0"), host);
  }

  @Test
  void theGuestsOwnLinkAndNamespaceAreRemoved() throws Exception {
    assertThat(step().undo(record("bridge", "lgv" + ID, "lg-" + ID))).isEmpty();
    assertThat(host.commands).containsExactly("link del lgv" + ID, "netns pids lg-" + ID,
        "netns del lg-" + ID);
    assertThat(host.links).containsExactlyInAnyOrder("eth0", "lgv" + OTHER);
    assertThat(host.netns).containsExactly("lg-" + OTHER);
  }

  @Test
  void aNamespaceThatStillHoldsAProcessIsKeptForTheNextDestroy() throws Exception {
    Process sleep = new ProcessBuilder("sleep", "60").start();
    try {
      host.members.put("lg-" + ID, List.of(sleep.pid()));
      assertThat(step().undo(record("bridge", "lgv" + ID, "lg-" + ID))).containsExactly(
          "network namespace lg-" + ID + ": processes " + sleep.pid() + " still in it; kept,"
              + " since its file is what shows they are the guest's: destroy again (`ip netns"
              + " pids lg-" + ID + "` lists them)");
      assertThat(host.commands).containsExactly("link del lgv" + ID, "netns pids lg-" + ID);
      assertThat(host.netns).contains("lg-" + ID);
    } finally {
      sleep.destroyForcibly();
    }
  }

  @Test
  void aMacvlanGuestsOwnLinkIsItsLgmName() throws Exception {
    host.links.remove("lgv" + ID);
    host.links.add("lgm" + ID);
    assertThat(step().undo(record("macvlan", "lgm" + ID, null))).isEmpty();
    assertThat(host.commands).containsExactly("link del lgm" + ID);
  }

  @Test
  void aRecordNamingEth0IsRefusedAndTheGuestsOwnNamesAreStillDeleted() throws Exception {
    GuestRecord rec = record("bridge", "eth0", "lg-" + ID);
    assertThat(step().undo(rec)).containsExactly("guest record "
        + rec.dir().resolve("guest.properties") + ": hostLink 'eth0' is not this guest's host"
        + " link lgv" + ID + " or lgm" + ID + "; left alone, the guest's own deleted");
    assertThat(host.commands).containsExactly("link del lgv" + ID, "netns pids lg-" + ID,
        "netns del lg-" + ID);
    assertThat(host.links).containsExactlyInAnyOrder("eth0", "lgv" + OTHER);
  }

  @Test
  void anotherGuestsLinkAndNamespaceAreRefusedAndOnlyTheGuestsOwnAreDeleted() throws Exception {
    List<String> problems = step().undo(record("bridge", "lgv" + OTHER, "lg-" + OTHER));
    assertThat(problems).hasSize(2);
    assertThat(problems.get(0)).contains("hostLink 'lgv" + OTHER + "'", "host link lgv" + ID);
    assertThat(problems.get(1)).contains("netns 'lg-" + OTHER + "'",
        "network namespace lg-" + ID);
    assertThat(host.commands).containsExactly("link del lgv" + ID, "netns pids lg-" + ID,
        "netns del lg-" + ID);
    assertThat(host.links).contains("lgv" + OTHER);
    assertThat(host.netns).containsExactly("lg-" + OTHER);
  }

  @Test
  void eitherHostLinkOfTheIdIsTheGuestsWhateverTheRecordedAttachment() throws Exception {
    host.links.add("lgm" + ID);
    assertThat(step().undo(record("bridge", "lgm" + ID, null))).isEmpty();
    assertThat(host.commands).containsExactly("link del lgv" + ID, "link del lgm" + ID);
    GuestRecord none = record("bridge", "lgv" + ID, null);
    none.set(GuestRecord.ATTACHMENT, null);
    host.links.add("lgv" + ID);
    assertThat(step().undo(none)).as("no attachment recorded").isEmpty();
    assertThat(host.links).doesNotContain("lgv" + ID);
  }

  @Test
  void namesWithANulByteAreRefusedWithoutAnException() throws Exception {
    List<String> problems = step().undo(record("bridge", "eth0\0", "lg-" + OTHER + "\0"));
    assertThat(problems).hasSize(2);
    assertThat(problems.get(0)).contains("hostLink 'eth0\\x00'").doesNotContain("\0");
    assertThat(problems.get(1)).contains("netns 'lg-" + OTHER + "\\x00'")
        .doesNotContain("\0");
    assertThat(host.links).contains("eth0", "lgv" + OTHER);
    assertThat(host.netns).contains("lg-" + OTHER);
    assertThat(NetworkStep.linkExists("eth0\0")).isFalse();
    assertThat(NetworkStep.linkExists("../../../")).isFalse();
    assertThat(NetworkStep.linkExists("..")).isFalse();
  }

  @Test
  void invisibleCharactersAreShownEscaped() {
    assertThat(GuestRecord.shown("lgv\u202e1\u2028\t")).isEqualTo("lgv\\u202e1\\u2028\\x09");
  }

  @Test
  void inspectionReportsARefusedNameAsALeftoverWithoutAnException() throws Exception {
    GuestRecord rec = record("bridge", "eth0\0", "lg-" + OTHER);
    List<String> left = GuestInspection.of(new GuestHandle(ID, spec, rec.dir())).leftovers();
    assertThat(left).contains("guest record " + rec.dir().resolve("guest.properties")
        + ": hostLink 'eth0\\x00' is not this guest's host link lgv" + ID + " or lgm" + ID
        + "; destroy will refuse it");
    assertThat(left).anyMatch(l -> l.contains("netns 'lg-" + OTHER + "' is not this guest's"));
  }

  @Test
  void aRefusedNameKeepsTheStateDirectoryForTheOperator() throws Exception {
    GuestRecord rec = record("bridge", "eth0", "lg-" + ID);
    assertThat(filesAndNetwork().undo(rec)).singleElement().asString().contains("hostLink 'eth0'");
    assertThat(rec.dir().resolve(GuestRecord.FILE)).exists();
    assertThat(host.links).contains("eth0").doesNotContain("lgv" + ID);
    assertThat(host.netns).doesNotContain("lg-" + ID);
  }

  @Test
  void aCleanRecordsStateDirectoryIsRemoved() throws Exception {
    GuestRecord rec = record("bridge", "lgv" + ID, "lg-" + ID);
    assertThat(filesAndNetwork().undo(rec)).isEmpty();
    assertThat(rec.dir()).doesNotExist();
    assertThat(host.links).doesNotContain("lgv" + ID);
    assertThat(host.netns).doesNotContain("lg-" + ID);
  }

  private GuestSteps filesAndNetwork() {
    NamespacesDriverConfig config = NamespacesDriverConfig.bridge("lgbr0");
    return new GuestSteps(List.of(new FilesStep(config), new NetworkStep(config, host)));
  }

  @Test
  void aRecordWhoseIdIsNotEightHexDigitsIsNotRead() throws Exception {
    for (String id : List.of("0A1B2C3D", "0a1b2c3d0", "ens3")) {
      Path dir = Files.createDirectories(base.resolve(id));
      GuestRecord.create(dir, id, spec, "bridge").save();
      assertThatThrownBy(() -> GuestRecord.load(dir)).isInstanceOf(IOException.class)
          .hasMessage(dir.resolve("guest.properties") + ": id '" + id + "' is not 8 hex digits;"
              + " not a guest record of this driver, left alone");
    }
  }

  @Test
  void aRecordWhoseIdIsNotItsDirectorysNameIsNotRead() throws Exception {
    Path dir = Files.createDirectories(base.resolve(ID));
    GuestRecord.create(dir, OTHER, spec, "bridge").save();
    assertThatThrownBy(() -> GuestRecord.load(dir)).isInstanceOf(IOException.class)
        .hasMessage(dir.resolve("guest.properties") + ": id '" + OTHER + "' is not its"
            + " directory's name '" + ID + "'; not this guest's record, left alone");
  }
}
