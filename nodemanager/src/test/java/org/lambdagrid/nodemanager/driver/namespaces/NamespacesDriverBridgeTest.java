package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.lambdagrid.nodemanager.driver.GuestHandle;

/** The guest contract with eth0 attached by veth to a test-made bridge. */
class NamespacesDriverBridgeTest extends AbstractNamespacesDriverRootTest {
  private final String bridge = "lgtbr" + tag;

  @Override
  NamespacesDriverConfig makeNetwork() throws Exception {
    Commands.run("ip", "link", "add", bridge, "type", "bridge");
    Commands.run("ip", "link", "set", bridge, "up");
    // The host on the segment, so the listener test has a positive control.
    Commands.run("ip", "addr", "add", subnet() + "1/24", "dev", bridge);
    return NamespacesDriverConfig.bridge(bridge);
  }

  @Override
  void removeNetwork() {
    Commands.attempt("ip", "link", "del", bridge);
  }

  @Override
  String hostAddressOnSegment() {
    return subnet() + "1";
  }

  @Override
  NamespacesDriverConfig brokenConfig() {
    return new NamespacesDriverConfig(stateBase.resolveSibling("broken"),
        NamespacesDriverConfig.Attachment.BRIDGE, "lgnobr" + tag, null, null, null, null,
        null, List.of(), null, null);
  }

  @Test
  void recoverCleansUpAfterTheNodeManagerIsKilled() throws Exception {
    Path crashState = stateBase.resolveSibling("crash");
    Process nm = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java")
        .toString(), "-cp", System.getProperty("java.class.path"),
        CrashingNodeManager.class.getName(), crashState.toString(), bridge, "site-k",
        subnet() + "16/24", USER).redirectErrorStream(true).start();
    String id = null;
    StringBuilder said = new StringBuilder();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(nm.getInputStream(),
        StandardCharsets.UTF_8))) {
      for (String line; (line = out.readLine()) != null; ) {
        said.append(line).append('\n');
        if (line.startsWith("GUEST ")) {
          id = line.substring(6);
          break;
        }
      }
      assertThat(id).as("the child NodeManager built a guest; it said:\n%s", said).isNotNull();
      nm.destroyForcibly(); // SIGKILL: no shutdown hook, no cleanup
      assertThat(nm.waitFor(20, TimeUnit.SECONDS)).isTrue();
    } finally {
      nm.destroyForcibly();
    }
    assertThat(netnsList()).contains("lg-" + id);
    // The next NodeManager start: a new driver on the same state directory.
    NamespacesDriver restarted = new NamespacesDriver(
        NamespacesDriverConfig.bridge(bridge).withStateDir(crashState));
    List<GuestHandle> found = restarted.recover();
    assertThat(found).extracting(GuestHandle::id).containsExactly(id);
    assertThat(restarted.inspect(found.get(0)).sshdRunning()).isTrue();
    assertThat(restarted.destroy(found.get(0))).isEmpty();
    assertThat(restarted.inspect(found.get(0)).leftovers()).isEmpty();
    assertThat(netnsList()).doesNotContain("lg-" + id);
    assertThat(linkNames()).doesNotContain("lgv" + id);
    assertThat(restarted.recover()).isEmpty();
    SafeFiles.deleteTree(crashState);
  }
}
