package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestTrust;

/** The command lines that enter a guest (EXEC, RUN, the holder); needs no root. */
class ExecCommandTest {
  private final GuestUser alice = new GuestUser("alice", 1001, 1002, Path.of("/home/alice"),
      "/bin/bash");
  private final GuestHandle guest = new GuestHandle("0a1b2c3d", new GuestSpec("j", "site-0",
      "10.0.0.11", 24, List.of(), "alice"), Path.of("/run/lg/0a1b2c3d"));

  private static List<String> setpriv(int uid, int gid) {
    return List.of(Commands.tool("setpriv"), "--reuid=" + uid, "--regid=" + gid,
        "--init-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--");
  }

  @Test
  void theJobEntersTheGuestAndDropsToTheUserWithACleanEnvironment() {
    ExecRequest request = new ExecRequest(List.of("mpirun", "-np", "2", "hostname"),
        Map.of("EXTRA", "x y"), "/home/alice/run", "alice");
    List<String> expected = new ArrayList<>(List.of(Commands.tool("nsenter"), "--target", "4242",
        "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd"));
    expected.addAll(setpriv(1001, 1002));
    expected.addAll(List.of(Commands.tool("env"), "-i", "HOME=/home/alice", "USER=alice",
        "LOGNAME=alice", "SHELL=/bin/bash", "PATH=/opt/mpi/bin:/usr/bin", "LANG=C.UTF-8",
        "EXTRA=x y", "LAMBDAGRID_HOSTFILE=/home/alice/.ssh/hostfile",
        "LAMBDAGRID_NODES=site-0 site-1", "/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\"",
        "/home/alice/run", "mpirun", "-np", "2", "hostname"));
    assertThat(ExecCommand.argv(4242, alice, "/opt/mpi/bin:/usr/bin",
        "10.0.0.11 slots=1\n10.0.0.12 slots=1\n", "10.0.0.11 site-0\n10.0.0.12 site-1\n",
        request)).containsExactlyElementsOf(expected);
    assertThat(List.of(Commands.tool("nsenter"), Commands.tool("setpriv"), Commands.tool("env")))
        .as("root runs tools by absolute path").allMatch(t -> t.startsWith("/"));
  }

  @Test
  void theDriversVariablesWinOverTheRequestsAndAnEmptyShellIsSh() {
    Map<String, String> env = new LinkedHashMap<>();
    env.put("LAMBDAGRID_HOSTFILE", "/tmp/evil");
    env.put("PATH", "/tmp");
    GuestUser noShell = new GuestUser("alice", 1001, 1002, Path.of("/home/alice"), "");
    Map<String, String> out = ExecCommand.environment(noShell, "/usr/bin", "", "",
        new ExecRequest(List.of("true"), env, "/", "alice"));
    assertThat(out).containsEntry("SHELL", "/bin/sh").containsEntry("PATH", "/tmp")
        .containsEntry("LAMBDAGRID_HOSTFILE", "/home/alice/.ssh/hostfile")
        .containsEntry("LAMBDAGRID_NODES", "");
  }

  @Test
  void requestsThatCannotRunAreRefusedBeforeAnythingStarts() {
    assertThatThrownBy(() -> ExecCommand.check(guest, new ExecRequest(List.of(), Map.of(), "/",
        "alice"))).hasMessageContaining("argv is empty");
    assertThatThrownBy(() -> ExecCommand.check(guest, new ExecRequest(List.of("id"), Map.of(),
        "/", "bob"))).hasMessageContaining("EXEC as 'bob' but guest 0a1b2c3d was built for"
        + " 'alice'");
    assertThatThrownBy(() -> ExecCommand.check(guest, new ExecRequest(List.of("id"), Map.of(),
        "tmp", "alice"))).hasMessageContaining("working directory 'tmp' is not an absolute");
    assertThatThrownBy(() -> ExecCommand.check(guest, new ExecRequest(List.of("id"),
        Map.of("A=B", "x"), "/", "alice")))
        .hasMessageContaining("environment variable name 'A=B' is not valid");
  }

  @Test
  void nodesAreTheHostnamesInHostfileOrder() {
    String hostfile = "10.0.0.12 slots=1\n10.0.0.11 slots=2\n10.9.0.1 slots=1\n";
    String hosts = "10.0.0.11 tokyo-0\n10.0.0.12 tokyo-1\n";
    assertThat(new GuestTrust(hostfile, "", "", hosts).nodeNames())
        .isEqualTo("tokyo-1 tokyo-0 10.9.0.1");
    assertThat(new GuestTrust("", "", "", "").nodeNames()).isEmpty();
  }

  @Test
  void sshdIsStartedInsideTheGuestWithTheGuestsConfig() {
    assertThat(SshdStarter.argv(4242, "/usr/sbin/sshd")).containsExactly(
        Commands.tool("nsenter"), "--target", "4242", "--mount", "--uts", "--ipc", "--net",
        "--pid", "--root", "--wd", "/usr/sbin/sshd", "-D", "-e", "-f",
        "/etc/lambdagrid/sshd_config");
  }

  @Test
  void theHolderRunsGuestInitInFreshNamespacesInTheNetns() {
    Path dir = Path.of("/run/lg/0a1b2c3d");
    assertThat(ProcessesStep.holderArgv(dir, "lg-0a1b2c3d", "site-0", alice, "/usr/sbin/sshd"))
        .containsExactly(Commands.tool("nsenter"), "--net=/run/netns/lg-0a1b2c3d", "--",
            Commands.tool("unshare"), "--mount", "--uts", "--ipc", "--pid", "--fork",
            "--kill-child", "--propagation", "private", "/bin/sh", "/run/lg/0a1b2c3d/guest-init.sh",
            "/run/lg/0a1b2c3d", "site-0", "/home/alice", "1001",
            "/usr/sbin/sshd", "-D", "-e", "-f", "/etc/lambdagrid/sshd_config");
  }

  @Test
  void theUsersMkdirOfSshRunsAsTheUser() {
    List<String> expected = new ArrayList<>(setpriv(1001, 1002));
    expected.addAll(List.of("/usr/bin/mkdir", "-m", "0700", "--", "/home/alice/.ssh"));
    assertThat(alice.asUser("/usr/bin/mkdir", "-m", "0700", "--", alice.sshDir().toString()))
        .containsExactlyElementsOf(expected);
  }
}
