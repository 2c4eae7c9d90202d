package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.nodemanager.driver.GuestException;

/**
 * Build step 3, the guest's network ({@link NetworkPlan}): one {@code ip -batch} on the host,
 * one {@code ip -n NETNS -batch} inside. Both names are recorded first, so a failed or
 * interrupted batch is undone like a finished one. Undo: {@code ip link del} of the host-side
 * name, {@code ip netns del} (the guest side of the link goes with the namespace).
 */
final class NetworkStep implements GuestStep {
  /** The batch files, kept in the state directory for inspection. */
  static final String HOST_BATCH = "net-host.batch";
  static final String GUEST_BATCH = "net-guest.batch";

  private final NamespacesDriverConfig config;

  NetworkStep(NamespacesDriverConfig config) {
    this.config = config;
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
    String link = rec.get(GuestRecord.HOST_LINK);
    if (link != null && linkExists(link)) {
      HostCommand.Result r = Commands.attempt(Commands.tool("ip"), "link", "del", link);
      if (!r.ok() && linkExists(link)) {
        problems.add("interface " + link + ": " + r.describe());
      }
    }
    String ns = rec.get(GuestRecord.NETNS);
    try {
      if (ns != null && netnsExists(ns)) {
        HostCommand.Result r = Commands.attempt(Commands.tool("ip"), "netns", "del", ns);
        if (!r.ok() && netnsExists(ns)) {
          problems.add("network namespace " + ns + ": " + r.describe());
        }
      }
    } catch (IllegalArgumentException e) { // a damaged record
      problems.add("network namespace: the guest record names '" + ns + "', which is not a"
          + " namespace name; left alone");
    }
    return problems;
  }

  /**
   * Whether the namespace a guest record names exists; false for a name that is not a namespace
   * name (a damaged record: {@link #undo} reports it).
   */
  static boolean recordedNetnsExists(String netns) {
    try {
      return netns != null && netnsExists(netns);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  static boolean netnsExists(String netns) {
    return org.lambdagrid.common.net.LinkCommands.netnsExists(netns);
  }

  static Path netnsPath(String netns) {
    return org.lambdagrid.common.net.LinkCommands.netnsPath(netns);
  }

  /**
   * The MTU of interface {@code dev} (sysfs), or 0 when it cannot be read (then the veth keeps the
   * default and attaching it fails with ip's own message if the bridge is missing).
   */
  static int mtuOf(String dev) {
    if (dev == null || dev.isEmpty() || dev.equals(".") || dev.equals("..") || dev.contains("/")) {
      return 0;
    }
    try {
      int mtu = Integer.parseInt(Files.readString(Path.of("/sys/class/net", dev, "mtu")).trim());
      return mtu >= 68 ? mtu : 0;
    } catch (IOException | NumberFormatException e) {
      return 0;
    }
  }

  static boolean linkExists(String link) {
    return Files.exists(Path.of("/sys/class/net", link));
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
