package org.lambdagrid.common.net;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import org.lambdagrid.common.HostCommand.Result;

/**
 * A {@link CommandRunner} that simulates the few ip/tc commands the GRC's testbed network and a
 * routed site's overlay builder run: it
 * keeps the set of links (a veth pair is deleted with either end), records every command, and
 * fails the commands a test chooses.
 */
public final class FakeKernel implements CommandRunner {
  public final List<List<String>> commands = new ArrayList<>();
  public final TreeSet<String> links = new TreeSet<>();
  public final Map<String, String> peers = new HashMap<>();
  /** Named namespaces that do not exist: every {@code ip -n NAME ...} fails as ip does. */
  public final Set<String> missingNamespaces = new HashSet<>();
  private Predicate<List<String>> failing = argv -> false;

  public synchronized void failWhen(Predicate<List<String>> p) {
    failing = p;
  }

  public synchronized List<List<String>> commandsMatching(String word) {
    return commands.stream().filter(c -> c.contains(word)).toList();
  }

  public synchronized List<String> mutations() {
    return commands.stream().filter(c -> !c.contains("show") && !c.contains("-V")).map(c -> String.join(" ", c)).toList();
  }

  @Override
  public synchronized Result run(List<String> argv, Duration timeout) {
    commands.add(List.copyOf(argv));
    if (failing.test(argv)) {
      return new Result(argv, 2, "", "RTNETLINK answers: Operation not permitted");
    }
    if (argv.size() > 3 && argv.get(0).equals("ip") && argv.get(1).equals("-n")
        && missingNamespaces.contains(argv.get(2))) {
      return new Result(argv, 255, "", "Cannot open network namespace \"" + argv.get(2)
          + "\": No such file or directory");
    }
    if (argv.size() > 3 && argv.get(0).equals("ip") && argv.get(1).equals("-n")) {
      // One kernel for every namespace: "ip -n NS ..." acts as "ip ..."; moving a device to
      // another namespace keeps it.
      List<String> rest = new ArrayList<>(argv.subList(3, argv.size()));
      rest.add(0, "ip");
      argv = rest;
    }
    String cmd = String.join(" ", argv);
    if (argv.size() == 2 && argv.get(1).equals("-V")) {
      return ok(argv);
    }
    if (cmd.startsWith("ip -o link show dev ")) {
      String dev = argv.get(5);
      return links.contains(dev) ? new Result(argv, 0, "1: " + dev + ": <BROADCAST>", "")
          : new Result(argv, 1, "", "Device \"" + dev + "\" does not exist.");
    }
    if (cmd.startsWith("ip link add name ")) {
      String dev = argv.get(4);
      if (links.contains(dev)) {
        return new Result(argv, 2, "", "RTNETLINK answers: File exists");
      }
      links.add(dev);
      if (argv.contains("peer")) {
        String peer = argv.get(argv.size() - 1);
        links.add(peer);
        peers.put(dev, peer);
        peers.put(peer, dev);
      }
      return ok(argv);
    }
    if (cmd.startsWith("ip link del dev ")) {
      String dev = argv.get(4);
      if (!links.remove(dev)) {
        return new Result(argv, 1, "", "Cannot find device \"" + dev + "\"");
      }
      String peer = peers.remove(dev);
      if (peer != null) {
        links.remove(peer);
        peers.remove(peer);
      }
      return ok(argv);
    }
    // ip link set dev X ..., tc ... dev X ...: the device must exist.
    int i = argv.indexOf("dev");
    if (i >= 0 && !links.contains(argv.get(i + 1))) {
      return new Result(argv, 1, "", "Cannot find device \"" + argv.get(i + 1) + "\"");
    }
    return ok(argv);
  }

  private static Result ok(List<String> argv) {
    return new Result(argv, 0, "", "");
  }
}
