package org.lambdagrid.nodemanager.driver.namespaces;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * A guest's network as {@code ip -batch} lines: {@link #hostLines} run on the host (the netns
 * and the interface: a veth whose host end {@code lgvID} joins the bridge, or a macvlan made as
 * {@code lgmID} on the parent and moved in), {@link #guestLines} inside the netns ({@code lo},
 * {@code eth0} with the address, on-link routes, the default route if configured). Pure.
 *
 * @param netns the network namespace, {@code lg-ID}
 * @param hostLink the interface's name on the host: the veth's host end, or the macvlan before
 *     it moves into the netns
 */
record NetworkPlan(String netns, String hostLink, List<String> hostLines,
    List<String> guestLines) {
  NetworkPlan {
    hostLines = List.copyOf(hostLines);
    guestLines = List.copyOf(guestLines);
  }

  /** The network namespace of guest {@code id}. */
  static String netns(String id) {
    return "lg-" + id;
  }

  /**
   * The host-side interface of guest {@code id} attached as {@code attachment}: the veth's host
   * end {@code lgvID} (BRIDGE), or the macvlan {@code lgmID} before it moves into the netns.
   */
  static String hostLink(String id, NamespacesDriverConfig.Attachment attachment) {
    return (attachment == NamespacesDriverConfig.Attachment.BRIDGE ? "lgv" : "lgm") + id;
  }

  /** Every name guest {@code id}'s host link may have, whatever the attachment: lgvID, lgmID. */
  static List<String> hostLinks(String id) {
    return Stream.of(NamespacesDriverConfig.Attachment.values())
        .map(a -> hostLink(id, a)).toList();
  }

  /**
   * The plan for guest {@code id}; {@code bridge} is the bridge the veth joins (attachment
   * BRIDGE), ignored for MACVLAN. Both ends of the veth get the bridge's MTU.
   */
  static NetworkPlan of(String id, GuestSpec spec, NamespacesDriverConfig config, String bridge) {
    return of(id, spec, config, bridge, 0);
  }

  /**
   * As above, both ends of the veth with MTU {@code mtu} (0: the kernel's default, 1500): the
   * bridge's, so a guest on a reservation's VXLAN overlay (whose bridge has the overlay's MTU,
   * the underlay's less 50) sends no frame the overlay would drop. A macvlan has its parent's.
   */
  static NetworkPlan of(String id, GuestSpec spec, NamespacesDriverConfig config, String bridge, int mtu) {
    String ns = netns(id);
    List<String> host = new ArrayList<>(List.of("netns add " + ns));
    List<String> inside = new ArrayList<>(List.of("link set lo up"));
    String hostLink = hostLink(id, config.attachment());
    if (config.attachment() == NamespacesDriverConfig.Attachment.BRIDGE) {
      String m = mtu > 0 ? " mtu " + mtu : "";
      host.add("link add " + hostLink + m + " type veth peer name eth0" + m + " netns " + ns);
      host.add("link set " + hostLink + " master " + bridge + " up");
    } else {
      host.add("link add " + hostLink + " link " + config.parent() + " type macvlan mode "
          + config.macvlanMode());
      host.add("link set " + hostLink + " netns " + ns);
      inside.add("link set " + hostLink + " name eth0");
    }
    inside.add("addr add " + spec.address() + "/" + spec.prefixLength() + " dev eth0");
    inside.add("link set eth0 up");
    for (String route : spec.routes()) {
      inside.add("route replace " + route + " dev eth0");
    }
    if (config.defaultGateway() != null) {
      inside.add("route add default via " + config.defaultGateway() + " dev eth0");
    }
    return new NetworkPlan(ns, hostLink, host, inside);
  }

  /** The argv of {@code ip [-n NETNS] -batch FILE}. */
  static List<String> batchArgv(String netns, String file) {
    List<String> argv = new ArrayList<>(List.of(Commands.tool("ip")));
    if (netns != null) {
      argv.addAll(List.of("-n", netns));
    }
    argv.addAll(List.of("-batch", file));
    return argv;
  }
}
