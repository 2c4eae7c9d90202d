package org.lambdagrid.grc.site;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.lambdagrid.common.Errors;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.TrustBundle;

/** Aggregation of all sites' nodes and keys into the one bundle every node installs. */
public final class TrustBundles {
  private TrustBundles() {}

  /** Hostfile order: sites by name, then node index. The first entry runs the command. */
  public static List<NodeEntry> order(Map<String, List<NodeEntry>> bySite) {
    List<NodeEntry> all = new ArrayList<>();
    new TreeMap<>(bySite).values().forEach(all::addAll);
    all.sort(Comparator.comparing(NodeEntry::getSite).thenComparingInt(NodeEntry::getIndex));
    return all;
  }

  /** Open MPI hostfile: "ADDRESS slots=N" per node. */
  public static String hostfile(List<NodeEntry> nodes) {
    StringBuilder sb = new StringBuilder();
    for (NodeEntry n : nodes) {
      sb.append(n.getAddress()).append(" slots=").append(Math.max(1, n.getSlots())).append('\n');
    }
    return sb.toString();
  }

  /**
   * Builds the bundle from the ordered nodes and every node's keys. The keys travel once, in
   * known_hosts and authorized_keys: {@code TrustBundle.keys} is left empty (no receiver reads
   * it, and it was 40% of a bundle that every site receives whole; issue 20).
   *
   * @throws Errors.RequestException ABORTED naming a node whose keys are missing or empty
   */
  public static TrustBundle build(List<NodeEntry> nodes, List<NodeKeys> keys) {
    Map<String, NodeKeys> byHost = new TreeMap<>();
    keys.forEach(k -> byHost.put(k.getHostname(), k));
    TrustBundle.Builder b = TrustBundle.newBuilder().addAllNodes(nodes)
        .setHostfile(hostfile(nodes));
    StringBuilder known = new StringBuilder();
    StringBuilder auth = new StringBuilder();
    StringBuilder hosts = new StringBuilder();
    for (NodeEntry n : nodes) {
      NodeKeys k = byHost.get(n.getHostname());
      if (k == null || k.getHostPublicKey().isBlank() || k.getUserPublicKey().isBlank()) {
        throw Errors.aborted("node " + n.getHostname() + " reported no "
            + (k == null ? "keys" : k.getHostPublicKey().isBlank() ? "host key" : "user key")
            + " in phase KEYS");
      }
      known.append(n.getHostname()).append(',').append(n.getAddress()).append(' ')
          .append(oneLine(k.getHostPublicKey())).append('\n');
      auth.append(oneLine(k.getUserPublicKey())).append('\n');
      hosts.append(n.getAddress()).append(' ').append(n.getHostname()).append('\n');
    }
    return b.setKnownHosts(known.toString()).setAuthorizedKeys(auth.toString())
        .setHosts(hosts.toString()).build();
  }

  private static String oneLine(String key) {
    return key.strip().replace('\n', ' ');
  }
}
