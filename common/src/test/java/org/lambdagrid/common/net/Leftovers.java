package org.lambdagrid.common.net;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Root network tests: the links, qdiscs and namespaces on this host whose names start with a
 * prefix, and a "guest" (a namespace with one veth into a bridge) to send traffic from.
 */
public final class Leftovers {
  private Leftovers() {}

  /** Everything named {@code prefix}... now, one line each ("link X", "qdisc ...", "netns X"). */
  public static List<String> named(String prefix) {
    List<String> left = new ArrayList<>();
    for (String l : lines("ip", "-o", "link", "show")) {
      String[] f = l.split(": ", 3);
      if (f.length > 1 && f[1].startsWith(prefix)) {
        left.add("link " + f[1]);
      }
    }
    for (String l : lines("tc", "qdisc", "show")) {
      if (l.contains(" dev " + prefix)) {
        left.add("qdisc " + l.strip());
      }
    }
    for (String l : lines("ip", "netns", "list")) {
      if (l.startsWith(prefix)) {
        left.add("netns " + l.strip());
      }
    }
    return left;
  }

  /** The output of a listing command, which must succeed (else nothing would be seen as left). */
  private static String[] lines(String... argv) {
    org.lambdagrid.common.HostCommand.Result r =
        CommandRunner.system().run(List.of(argv), Duration.ofSeconds(20));
    if (!r.ok()) {
      throw new AssertionError(r.describe());
    }
    return r.stdout().split("\n");
  }

  /**
   * A guest: namespace {@code ns} whose {@code eth0} (address {@code addr}/24, up) is the peer of
   * {@code hostEnd}, enslaved to {@code bridge} here (no addresses). The caller removes both.
   */
  public static void guest(String ns, String hostEnd, String bridge, String addr) {
    CommandRunner sh = CommandRunner.system();
    List<List<String>> steps = List.of(
        List.of("ip", "netns", "add", ns),
        List.of("ip", "link", "add", "name", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns),
        List.of("ip", "link", "set", "dev", hostEnd, "addrgenmode", "none"),
        List.of("ip", "link", "set", "dev", hostEnd, "master", bridge),
        List.of("ip", "link", "set", "dev", hostEnd, "up"),
        List.of("ip", "-n", ns, "addr", "add", addr + "/24", "dev", "eth0"),
        List.of("ip", "-n", ns, "link", "set", "dev", "eth0", "up"),
        List.of("ip", "-n", ns, "link", "set", "dev", "lo", "up"));
    for (List<String> argv : steps) {
      org.lambdagrid.common.HostCommand.Result r = sh.run(argv, Duration.ofSeconds(20));
      if (!r.ok()) {
        throw new AssertionError(r.describe());
      }
    }
  }
}
