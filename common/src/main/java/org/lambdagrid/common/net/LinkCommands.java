package org.lambdagrid.common.net;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.HostCommand;

/**
 * The {@code ip}/{@code tc}/{@code bridge} command lines shared by everything that builds
 * reservation devices (the GRC's testbed network, a routed site's overlay in its CRM), and the
 * idempotent removal of one device. Stateless.
 */
public final class LinkCommands {
  /** Bytes VXLAN over IPv4 adds to a frame: outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8. */
  public static final int VXLAN_OVERHEAD = 50;

  private LinkCommands() {}

  /** {@code ip [-n netns] args...}; an empty {@code netns} is this process's namespace. */
  public static List<String> ip(String netns, String... args) {
    List<String> argv = new ArrayList<>(List.of("ip"));
    if (named(netns)) {
      argv.add("-n");
      argv.add(netns);
    }
    argv.addAll(List.of(args));
    return argv;
  }

  /** A bridge without addresses (IPv6 address generation off), with {@code mtu} when positive. */
  public static List<List<String>> bridge(String device, int mtu) {
    List<List<String>> c = new ArrayList<>();
    c.add(List.of("ip", "link", "add", "name", device, "type", "bridge"));
    c.add(List.of("ip", "link", "set", "dev", device, "addrgenmode", "none"));
    if (mtu > 0) {
      c.add(List.of("ip", "link", "set", "dev", device, "mtu", String.valueOf(mtu)));
    }
    return c;
  }

  /**
   * An {@code htb} root qdisc on {@code device}'s egress whose only class (the default) is
   * limited to {@code rateBps}.
   */
  public static List<List<String>> htb(String device, long rateBps) {
    return List.of(
        List.of("tc", "qdisc", "replace", "dev", device, "root", "handle", "1:", "htb", "default", "1"),
        List.of("tc", "class", "replace", "dev", device, "parent", "1:", "classid", "1:1", "htb",
            "rate", rateBps + "bit", "ceil", rateBps + "bit", "quantum", String.valueOf(quantum(rateBps))));
  }

  /**
   * One end of a point-to-point VXLAN tunnel: created in {@code netns} (the underlay's; empty:
   * this one) with local {@code local}, remote {@code remote}, UDP port {@code port}, no
   * learning; then (with a netns) moved to the namespace of pid 1, where the bridges are (the
   * device keeps its UDP socket in the underlay namespace); no addresses, MTU {@code mtu},
   * enslaved to {@code bridge} as an isolated port (a bridge never forwards tunnel to tunnel,
   * so a full mesh has no loop), and shaped to {@code rateBps} on its egress (0: not shaped).
   * It stays down: {@link #up} it after everything is built.
   */
  public static List<List<String>> vxlan(String netns, String device, int vni, String local, String remote,
      int port, int mtu, String bridge, long rateBps) {
    List<List<String>> c = new ArrayList<>();
    c.add(ip(netns, "link", "add", "name", device, "type", "vxlan", "id", String.valueOf(vni), "local", local,
        "remote", remote, "dstport", String.valueOf(port), "nolearning"));
    if (named(netns)) {
      c.add(ip(netns, "link", "set", "dev", device, "netns", "1"));
    }
    c.add(List.of("ip", "link", "set", "dev", device, "addrgenmode", "none"));
    c.add(List.of("ip", "link", "set", "dev", device, "mtu", String.valueOf(mtu)));
    c.add(List.of("ip", "link", "set", "dev", device, "master", bridge));
    c.add(List.of("bridge", "link", "set", "dev", device, "isolated", "on"));
    if (rateBps > 0) {
      c.addAll(htb(device, rateBps));
    }
    return c;
  }

  public static List<String> up(String device) {
    return List.of("ip", "link", "set", "dev", device, "up");
  }

  /** htb quantum in bytes: what the default r2q of 10 gives, within [one frame, 200000] (above, the kernel warns). */
  public static long quantum(long rateBps) {
    return Math.max(1514, Math.min(200_000, rateBps / 8 / 10));
  }

  /** What {@code ip link show} tells of a device ({@link #lookUp}). */
  public enum Presence { PRESENT, ABSENT, UNKNOWN }

  /**
   * A device looked up: its {@link Presence}, and the {@code ip -o link show} result (which says
   * why when {@link Presence#UNKNOWN}).
   */
  public record Lookup(Presence presence, HostCommand.Result show) {}

  /**
   * Whether {@code dev} is in namespace {@code netns} (empty: this one): PRESENT when
   * {@code ip -o link show} finds it; ABSENT when ip says it does not exist, or when
   * {@code netns} is named and does not exist ({@link #netnsExists}): a device in a namespace that
   * is gone is gone with it, whatever ip says; otherwise UNKNOWN (ip failed for another reason).
   * Runs only {@code ip -o link show}. A {@code netns} that is not one file name is refused
   * (IllegalArgumentException, see {@link #netnsExists}).
   */
  public static Lookup lookUp(CommandRunner runner, Duration timeout, String netns, String dev) {
    if (named(netns)) {
      checkedName(netns); // before ip, whose error for a path would read as "gone"
    }
    HostCommand.Result r = runner.run(ip(netns, "-o", "link", "show", "dev", dev), timeout);
    if (r.ok()) {
      return new Lookup(Presence.PRESENT, r);
    }
    if (r.stderr().contains("does not exist")
        || (named(netns) && !netnsExists(netns))) {
      return new Lookup(Presence.ABSENT, r);
    }
    return new Lookup(Presence.UNKNOWN, r);
  }

  /**
   * Removes {@code dev} (in namespace {@code netns}; empty: this one) if present; null when it is
   * gone (also when {@code netns} is named and does not exist: see {@link #lookUp}), else why not
   * (the failed command and its stderr). Idempotent. When ip cannot tell whether the device is
   * there, it tries the delete, whose error then says why.
   */
  public static String ensureGone(CommandRunner runner, Duration timeout, String netns, String dev) {
    if (lookUp(runner, timeout, netns, dev).presence() == Presence.ABSENT) {
      return null;
    }
    HostCommand.Result del = runner.run(ip(netns, "link", "del", "dev", dev), timeout);
    if (del.ok() || lookUp(runner, timeout, netns, dev).presence() == Presence.ABSENT) {
      return null;
    }
    return "device " + dev + (named(netns) ? " in netns " + netns : "") + ": "
        + del.describe();
  }

  /**
   * Whether the named network namespace exists ({@code /run/netns/NAME}). {@code netns} must be
   * one file name (IllegalArgumentException otherwise): a path could make a namespace that
   * exists read as gone, and {@link #lookUp} would then call its devices gone.
   */
  public static boolean netnsExists(String netns) {
    return Files.exists(netnsPath(netns));
  }

  /** Where {@code ip netns add} pins the namespace NAME (iproute2's NETNS_RUN_DIR); as {@link #netnsExists}. */
  public static Path netnsPath(String netns) {
    return Path.of("/run/netns", checkedName(netns));
  }

  /** Whether {@code netns} names a namespace (null or empty: this one). */
  private static boolean named(String netns) {
    return netns != null && !netns.isEmpty();
  }

  private static String checkedName(String netns) {
    if (netns == null || netns.isEmpty() || netns.contains("/") || netns.equals(".")
        || netns.equals("..") || netns.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("netns: '" + netns + "' is not a namespace name");
    }
    return netns;
  }
}
