package org.lambdagrid.nodemanager.driver.namespaces;

import java.util.List;

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
        NamespacesDriverConfig.Attachment.BRIDGE, "lgnobr" + tag, null, null, null, null, null,
        null, List.of(), null, null);
  }
}
