package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/** The network step's {@code ip -batch} lines; needs no root. */
class NetworkPlanTest {
  private final GuestSpec spec = new GuestSpec("j", "site-0", "10.0.0.11", 24,
      List.of("10.1.0.0/24", "10.2.0.0/16"), "alice");

  @Test
  void aVethJoinsTheBridgeAndEth0IsTheOnlyInterfaceInside() {
    NetworkPlan plan = NetworkPlan.of("0a1b2c3d", spec, NamespacesDriverConfig.bridge("lgbr0"),
        "lgbr7");
    assertThat(plan.netns()).isEqualTo("lg-0a1b2c3d");
    assertThat(plan.hostLink()).isEqualTo("lgv0a1b2c3d");
    assertThat(plan.hostLines()).containsExactly(
        "netns add lg-0a1b2c3d",
        "link add lgv0a1b2c3d type veth peer name eth0 netns lg-0a1b2c3d",
        "link set lgv0a1b2c3d master lgbr7 up");
    assertThat(plan.guestLines()).containsExactly(
        "link set lo up",
        "addr add 10.0.0.11/24 dev eth0",
        "link set eth0 up",
        "route replace 10.1.0.0/24 dev eth0",
        "route replace 10.2.0.0/16 dev eth0");
  }

  @Test
  void bothEndsOfTheVethGetTheBridgesMtu() {
    NetworkPlan plan = NetworkPlan.of("0a1b2c3d", spec, NamespacesDriverConfig.bridge("lgbr0"), "lgnabc123b0",
        1450);
    assertThat(plan.hostLines()).containsExactly(
        "netns add lg-0a1b2c3d",
        "link add lgv0a1b2c3d mtu 1450 type veth peer name eth0 mtu 1450 netns lg-0a1b2c3d",
        "link set lgv0a1b2c3d master lgnabc123b0 up");
  }

  @Test
  void theMtuOfAMissingOrOddlyNamedInterfaceIsUnknown() {
    assertThat(NetworkStep.mtuOf("lo")).isEqualTo(
        Integer.parseInt(readOrZero("/sys/class/net/lo/mtu")));
    assertThat(NetworkStep.mtuOf("lgnoSuchDev")).isZero();
    assertThat(NetworkStep.mtuOf("..")).isZero();
    assertThat(NetworkStep.mtuOf("a/b")).isZero();
    assertThat(NetworkStep.mtuOf(null)).isZero();
  }

  private static String readOrZero(String path) {
    try {
      return java.nio.file.Files.readString(java.nio.file.Path.of(path)).trim();
    } catch (java.io.IOException e) {
      return "0";
    }
  }

  @Test
  void aMacvlanIsMadeOnTheParentMovedInAndRenamed() {
    NamespacesDriverConfig config = NamespacesDriverConfig.macvlan("eth1")
        .withDefaultGateway("10.0.0.1");
    NetworkPlan plan = NetworkPlan.of("0a1b2c3d", spec, config, null);
    assertThat(plan.hostLink()).isEqualTo("lgm0a1b2c3d");
    assertThat(plan.hostLines()).containsExactly(
        "netns add lg-0a1b2c3d",
        "link add lgm0a1b2c3d link eth1 type macvlan mode bridge",
        "link set lgm0a1b2c3d netns lg-0a1b2c3d");
    assertThat(plan.guestLines()).containsExactly(
        "link set lo up",
        "link set lgm0a1b2c3d name eth0",
        "addr add 10.0.0.11/24 dev eth0",
        "link set eth0 up",
        "route replace 10.1.0.0/24 dev eth0",
        "route replace 10.2.0.0/16 dev eth0",
        "route add default via 10.0.0.1 dev eth0");
  }

  @Test
  void interfaceNamesFitTheKernelsFifteenCharacters() {
    NetworkPlan plan = NetworkPlan.of("ffffffff", spec, NamespacesDriverConfig.bridge("b"), "b");
    assertThat(plan.hostLink()).hasSizeLessThanOrEqualTo(15);
  }

  @Test
  void theBatchRunsOnTheHostOrInsideTheNetns() {
    String ip = Commands.tool("ip");
    assertThat(ip).startsWith("/");
    assertThat(NetworkPlan.batchArgv(null, "/s/net-host.batch"))
        .containsExactly(ip, "-batch", "/s/net-host.batch");
    assertThat(NetworkPlan.batchArgv("lg-0a1b2c3d", "/s/net-guest.batch"))
        .containsExactly(ip, "-n", "lg-0a1b2c3d", "-batch", "/s/net-guest.batch");
  }
}
