package org.lambdagrid.common.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.testing.FreePorts.PortRange;

class FreePortsTest {
  @TempDir Path dir;

  private static ServerSocket listenOn(int port) throws Exception {
    ServerSocket s = new ServerSocket();
    s.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), port));
    return s;
  }

  @Test
  void readsTheKernelsEphemeralRange() throws Exception {
    Path file = Files.writeString(dir.resolve("range"), "32768\t60999\n");
    assertThat(FreePorts.ephemeralRange(file)).isEqualTo(new PortRange(32768, 60999));
    Files.writeString(file, "1024 65535\n");
    assertThat(FreePorts.ephemeralRange(file)).isEqualTo(new PortRange(1024, 65535));
  }

  @Test
  void aMissingOrMalformedRangeFileMeansLinuxsDefault() throws Exception {
    assertThat(FreePorts.ephemeralRange(dir.resolve("missing"))).isEqualTo(new PortRange(32768, 60999));
    assertThat(FreePorts.ephemeralRange(dir)).as("a directory").isEqualTo(FreePorts.DEFAULT_EPHEMERAL);
    Path file = dir.resolve("range");
    for (String bad : List.of("", "32768\n", "low high\n", "40000 30000\n", "0 100\n",
        "1024 70000\n", "1 2 3\n", "32768\t60999x\n")) {
      Files.writeString(file, bad);
      assertThat(FreePorts.ephemeralRange(file)).as("'%s'", bad).isEqualTo(FreePorts.DEFAULT_EPHEMERAL);
    }
  }

  @Test
  void candidatesLieAbove20000OnEitherSideOfTheRange() {
    assertThat(FreePorts.outside(new PortRange(32768, 60999)))
        .containsExactly(new PortRange(20000, 32767), new PortRange(61000, 65535));
    assertThat(FreePorts.outside(new PortRange(10000, 30000))).containsExactly(new PortRange(30001, 65535));
    assertThat(FreePorts.outside(new PortRange(40000, 65535))).containsExactly(new PortRange(20000, 39999));
    assertThat(FreePorts.outside(new PortRange(1024, 65535))).isEmpty();
    Random seeded = new Random(7);
    var draws = FreePorts.random(new PortRange(20002, 65534), seeded);
    Set<Integer> seen = new HashSet<>();
    for (int i = 0; i < 200; i++) {
      seen.add(draws.getAsInt());
    }
    assertThat(seen).containsExactlyInAnyOrder(20000, 20001, 65535);
  }

  @Test
  void picksDistinctBindablePortsOutsideThisMachinesEphemeralRange() throws Exception {
    PortRange ephemeral = FreePorts.ephemeralRange(FreePorts.RANGE_FILE);
    org.junit.jupiter.api.Assumptions.assumeFalse(FreePorts.outside(ephemeral).isEmpty(),
        "this host's ephemeral range " + ephemeral + " leaves no port outside it");
    Set<Integer> picked = new HashSet<>();
    for (int i = 0; i < 20; i++) {
      int port = FreePorts.pick();
      assertThat(port).isBetween(20000, 65535);
      assertThat(ephemeral.contains(port)).as("%d in the ephemeral range %s", port, ephemeral).isFalse();
      assertThat(picked.add(port)).as("%d picked twice", port).isTrue();
      try (ServerSocket s = listenOn(port)) {
        assertThat(s.getLocalPort()).isEqualTo(port);
      }
    }
  }

  @Test
  void skipsAPortSomeoneListensOn() throws Exception {
    int busy = FreePorts.pick();
    int free = FreePorts.pick();
    try (ServerSocket held = listenOn(busy)) {
      Iterator<Integer> candidates = List.of(busy, free).iterator();
      assertThat(new FreePorts(FreePorts.DEFAULT_EPHEMERAL, candidates::next).next()).isEqualTo(free);
    }
  }

  @Test
  void neverReturnsAPortTwice() {
    int port = FreePorts.pick();
    FreePorts ports = new FreePorts(FreePorts.DEFAULT_EPHEMERAL, () -> port);
    assertThat(ports.next()).isEqualTo(port);
    assertThatThrownBy(ports::next).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(port + " was returned before in this JVM");
  }

  @Test
  void givesUpAfterBoundedTriesNamingTheRangeAndTheLastRefusal() throws Exception {
    int busy = FreePorts.pick();
    try (ServerSocket held = listenOn(busy)) {
      FreePorts ports = new FreePorts(new PortRange(32768, 60999), () -> busy);
      assertThatThrownBy(ports::next).isInstanceOf(IllegalStateException.class)
          .hasMessageStartingWith("no free port on 127.0.0.1 outside the ephemeral range 32768-60999"
              + " after 50 tries; the last: 127.0.0.1:" + busy + ": ")
          .hasMessageContaining("in use");
    }
    FreePorts inside = new FreePorts(new PortRange(32768, 60999), () -> 40000);
    assertThatThrownBy(inside::next).hasMessageEndingWith(
        "the last: 40000 is not in 20000-65535 outside the ephemeral range");
  }

  @Test
  void saysSoWhenNoPortLiesOutsideTheRange() {
    PortRange all = new PortRange(1024, 65535);
    FreePorts ports = new FreePorts(all, FreePorts.random(all, new Random()));
    assertThatThrownBy(ports::next).isInstanceOf(IllegalStateException.class)
        .hasMessageStartingWith("no port in 20000-65535 lies outside the ephemeral range 1024-65535");
  }

  @Test
  void withNoPortOutsideTheRangeTheKernelAssignsThemStillDistinctAndFree() throws Exception {
    FreePorts fallback = new FreePorts(null, FreePorts::kernelAssigned);
    int a = fallback.next();
    int b = fallback.next();
    assertThat(a).isNotEqualTo(b);
    try (ServerSocket s = listenOn(a); ServerSocket t = listenOn(b)) {
      assertThat(s.getLocalPort()).isEqualTo(a);
      assertThat(t.getLocalPort()).isEqualTo(b);
    }
  }
}
