package org.lambdagrid.nodemanager.driver.namespaces;

import java.util.List;

/**
 * The guest contract with eth0 a macvlan (mode bridge) on a parent interface. The parent is one
 * end of a test-made veth pair, so no traffic can leave the machine.
 */
class NamespacesDriverMacvlanTest extends AbstractNamespacesDriverRootTest {
  private final String parent = "lgtpa" + tag;
  private final String peer = "lgtpb" + tag;

  @Override
  NamespacesDriverConfig makeNetwork() throws Exception {
    Commands.run("ip", "link", "add", parent, "type", "veth", "peer", "name", peer);
    Commands.run("ip", "link", "set", peer, "up");
    Commands.run("ip", "link", "set", parent, "up");
    return NamespacesDriverConfig.macvlan(parent);
  }

  @Override
  void removeNetwork() {
    Commands.attempt("ip", "link", "del", parent);
  }

  @Override
  String hostAddressOnSegment() {
    return null; // a macvlan parent's host cannot talk to its macvlan children anyway
  }

  @Override
  String subnet() {
    return "10.232." + net + ".";
  }

  @Override
  NamespacesDriverConfig brokenConfig() {
    return new NamespacesDriverConfig(stateBase.resolveSibling("broken"),
        NamespacesDriverConfig.Attachment.MACVLAN, null, "lgnopa" + tag, null, null, null,
        null, List.of(), null, null);
  }
}
