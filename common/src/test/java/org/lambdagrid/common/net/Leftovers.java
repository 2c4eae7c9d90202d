package org.lambdagrid.common.net;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Root tests: the links, qdiscs and namespaces on this host whose names start with a prefix. */
public final class Leftovers {
  private Leftovers() {}

  /** Everything named {@code prefix}... now, one line each ("link X", "qdisc ...", "netns X"). */
  public static List<String> named(String prefix) {
    CommandRunner sh = CommandRunner.system();
    Duration t = Duration.ofSeconds(20);
    List<String> left = new ArrayList<>();
    for (String l : sh.run(List.of("ip", "-o", "link", "show"), t).stdout().split("\n")) {
      String[] f = l.split(": ", 3);
      if (f.length > 1 && f[1].startsWith(prefix)) {
        left.add("link " + f[1]);
      }
    }
    for (String l : sh.run(List.of("tc", "qdisc", "show"), t).stdout().split("\n")) {
      if (l.contains(" dev " + prefix)) {
        left.add("qdisc " + l.strip());
      }
    }
    for (String l : sh.run(List.of("ip", "netns", "list"), t).stdout().split("\n")) {
      if (l.startsWith(prefix)) {
        left.add("netns " + l.strip());
      }
    }
    return left;
  }
}
