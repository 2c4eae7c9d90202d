package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.net.LinkCommands;
import org.lambdagrid.nodemanager.driver.GuestException;

/**
 * The build step after the keys ({@link GuestSteps#of}), the guest's network ({@link NetworkPlan}):
 * one {@code ip -batch} on the host, one {@code ip -n NETNS -batch} inside. Both names are recorded
 * first, so a failed or interrupted batch is undone like a finished one. Undo: {@code ip link del}
 * of the host-side name, {@code ip netns del} (the guest side of the link goes with the namespace);
 * only of the names the guest's id makes ({@link #refusal}). A netns that still holds a process is
 * kept: its file is how the processes step tells the guest's processes, so deleting it would leave
 * them running for good.
 */
final class NetworkStep implements GuestStep {
  /** The batch files, kept in the state directory for inspection. */
  static final String HOST_BATCH = "net-host.batch";
  static final String GUEST_BATCH = "net-guest.batch";

  private final NamespacesDriverConfig config;
  private final Kernel kernel;

  NetworkStep(NamespacesDriverConfig config) {
    this(config, Kernel.KERNEL);
  }

  NetworkStep(NamespacesDriverConfig config, Kernel kernel) {
    this.config = config;
    this.kernel = kernel;
  }

  private NetworkPlan networkOf(NewGuest g, int mtu) {
    return NetworkPlan.of(g.record().id(), g.spec(), config, g.bridge(), mtu);
  }

  @Override
  public void plan(NewGuest guest) {
    NetworkPlan plan = networkOf(guest, 0);
    guest.record().set(GuestRecord.NETNS, plan.netns());
    guest.record().set(GuestRecord.HOST_LINK, plan.hostLink());
  }

  @Override
  public void build(NewGuest guest) throws GuestException {
    int mtu = config.attachment() == NamespacesDriverConfig.Attachment.BRIDGE ? mtuOf(guest.bridge()) : 0;
    NetworkPlan plan = networkOf(guest, mtu);
    Path dir = guest.record().dir();
    ipBatch(dir.resolve(HOST_BATCH), plan.hostLines(), null);
    ipBatch(dir.resolve(GUEST_BATCH), plan.guestLines(), plan.netns());
  }

  @Override
  public List<String> undo(GuestRecord rec) {
    List<String> problems = new ArrayList<>();
    if (rec.get(GuestRecord.HOST_LINK) != null) {
      String refused = refusal(rec, GuestRecord.HOST_LINK);
      if (refused != null) {
        problems.add(refused + "; left alone, the guest's own deleted");
      }
      for (String link : NetworkPlan.hostLinks(rec.id())) {
        if (kernel.linkExists(link)) {
          HostCommand.Result r = kernel.ip("link", "del", link);
          if (!r.ok() && kernel.linkExists(link)) {
            problems.add("interface " + link + ": " + r.describe());
          }
        }
      }
    }
    if (rec.get(GuestRecord.NETNS) != null) {
      String refused = refusal(rec, GuestRecord.NETNS);
      if (refused != null) {
        problems.add(refused + "; left alone, the guest's own deleted");
      }
      String ns = NetworkPlan.netns(rec.id());
      boolean exists = kernel.netnsExists(ns);
      String left = exists ? processesIn(ns) : "";
      if (!left.isEmpty()) {
        problems.add("network namespace " + ns + ": " + left + "; kept, since its file is what"
            + " shows they are the guest's: destroy again (`ip netns pids " + ns + "` lists them)");
      } else if (exists) {
        HostCommand.Result r = kernel.ip("netns", "del", ns);
        if (!r.ok() && kernel.netnsExists(ns)) {
          problems.add("network namespace " + ns + ": " + r.describe());
        }
      }
    }
    return problems;
  }

  /**
   * What is still in netns {@code ns} ({@code ip netns pids}), as "processes P... still in it",
   * or why that cannot be listed; empty when nothing is.
   */
  private String processesIn(String ns) {
    HostCommand.Result r = kernel.ip("netns", "pids", ns);
    if (!r.ok()) {
      return "cannot list the processes in it: " + r.describe();
    }
    List<String> pids = r.stdout().lines().map(String::trim).filter(s -> !s.isEmpty()).toList();
    return pids.isEmpty() ? "" : "processes " + String.join(" ", pids) + " still in it";
  }

  /**
   * Why the name {@code rec} gives {@code key} ({@link GuestRecord#NETNS} or
   * {@link GuestRecord#HOST_LINK}) is not this guest's, or null when there is none or it is one
   * the guest's id makes ({@code lg-ID}; {@code lgvID} or {@code lgmID}, whatever the
   * attachment). Any other (a damaged or edited record: {@code eth0}, another guest's, a name
   * with a NUL) is never deleted; undo deletes the guest's own names instead, reports this, and
   * so keeps the state directory for the operator (docs/operators.md).
   */
  static String refusal(GuestRecord rec, String key) {
    String value = rec.get(key);
    boolean netns = key.equals(GuestRecord.NETNS);
    List<String> own = netns ? List.of(NetworkPlan.netns(rec.id()))
        : NetworkPlan.hostLinks(rec.id());
    if (value == null || own.contains(value)) {
      return null;
    }
    return "guest record " + rec.dir().resolve(GuestRecord.FILE) + ": " + key + " '"
        + GuestRecord.shown(value) + "' is not this guest's "
        + (netns ? "network namespace " : "host link ") + String.join(" or ", own);
  }

  /** What {@link #refusal} says of the record's host link and namespace, in that order. */
  static List<String> refusals(GuestRecord rec) {
    return Stream.of(GuestRecord.HOST_LINK, GuestRecord.NETNS)
        .map(key -> refusal(rec, key)).filter(Objects::nonNull).toList();
  }

  /** The guest's network namespace ({@code lg-ID}) if the record names one and it exists. */
  static String ownNetns(GuestRecord rec) {
    String ns = NetworkPlan.netns(rec.id());
    return rec.get(GuestRecord.NETNS) != null && LinkCommands.netnsExists(ns) ? ns : null;
  }

  /** As {@link #ownNetns}, the guest's host link ({@code lgvID} or {@code lgmID}). */
  static String ownLink(GuestRecord rec) {
    return rec.get(GuestRecord.HOST_LINK) == null ? null : NetworkPlan.hostLinks(rec.id())
        .stream().filter(NetworkStep::linkExists).findFirst().orElse(null);
  }

  /**
   * The MTU of interface {@code dev} (sysfs), or 0 when it cannot be read (then the veth keeps the
   * default and attaching it fails with ip's own message if the bridge is missing).
   */
  static int mtuOf(String dev) {
    if (!plainName(dev)) {
      return 0;
    }
    try {
      int mtu = Integer.parseInt(Files.readString(Path.of("/sys/class/net", dev, "mtu")).trim());
      return mtu >= 68 ? mtu : 0;
    } catch (IOException | NumberFormatException e) {
      return 0;
    }
  }

  /** Whether interface {@code link} exists; false for a name no interface can have. */
  static boolean linkExists(String link) {
    return plainName(link) && Files.exists(Path.of("/sys/class/net", link));
  }

  /** Whether {@code name} is a plain interface name, safe as one path element of sysfs. */
  private static boolean plainName(String name) {
    return name != null && NamespacesDriverConfig.IFNAME.matcher(name).matches()
        && !name.equals(".") && !name.equals("..");
  }

  /**
   * What undo asks of the host and does to it; {@link #KERNEL} the real one. Tests extend it to
   * simulate the host's interfaces and namespaces and record the commands.
   */
  static class Kernel {
    static final Kernel KERNEL = new Kernel();

    boolean linkExists(String link) {
      return NetworkStep.linkExists(link);
    }

    boolean netnsExists(String netns) {
      return LinkCommands.netnsExists(netns);
    }

    /** Whether process {@code pid} is in network namespace {@code netns} now. */
    boolean inNetns(long pid, String netns) {
      return ProcFs.inNetns(pid, LinkCommands.netnsPath(netns));
    }

    /** {@code ip ARGS...} ({@link Commands#attempt}). */
    HostCommand.Result ip(String... args) {
      List<String> argv = new ArrayList<>(List.of(Commands.tool("ip")));
      argv.addAll(List.of(args));
      return Commands.attempt(Commands.DEFAULT_TIMEOUT, argv);
    }
  }

  /**
   * Runs {@code lines} as one {@code ip [-n NETNS] -batch FILE}: one process instead of one per
   * command. The file stays in the guest's state directory for inspection. ip stops at the first
   * failing line and names it ("Command failed FILE:3").
   */
  private static void ipBatch(Path file, List<String> lines, String netns)
      throws GuestException {
    try {
      Files.writeString(file, String.join("\n", lines) + "\n");
    } catch (IOException e) {
      throw new GuestException("cannot write " + file + ": " + e.getMessage(), e);
    }
    Commands.run(NetworkPlan.batchArgv(netns, file.toString()).toArray(String[]::new));
  }
}
