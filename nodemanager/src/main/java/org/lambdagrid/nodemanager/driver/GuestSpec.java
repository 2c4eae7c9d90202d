package org.lambdagrid.nodemanager.driver;

import java.util.List;
import org.lambdagrid.common.NodeShape;

/**
 * What SETUP asks for.
 *
 * @param jobId the job this guest belongs to
 * @param hostname the guest's hostname, unique in the job ("site-0")
 * @param address the guest's IPv4 address
 * @param prefixLength prefix of the site's sub-range (on-link)
 * @param routes CIDR blocks of the job's other sub-ranges, added as on-link routes
 * @param user login name of the user the job runs as
 * @param bridge the bridge to attach the guest's interface to (the reservation's, from SETUP),
 *     or empty for the driver's configured one
 * @param cpus how many of the node's CPUs the guest runs on (and sees); 0 = all of them
 * @param memoryBytes how much memory the guest's processes together may use; 0 = no limit
 */
public record GuestSpec(
    String jobId, String hostname, String address, int prefixLength, List<String> routes,
    String user, String bridge, int cpus, long memoryBytes) {
  public GuestSpec {
    routes = List.copyOf(routes);
    bridge = bridge == null ? "" : bridge;
  }

  /** The whole node: no CPU or memory limit. */
  public GuestSpec(String jobId, String hostname, String address, int prefixLength,
      List<String> routes, String user, String bridge) {
    this(jobId, hostname, address, prefixLength, routes, user, bridge, 0, 0);
  }

  /** On the driver's configured bridge, the whole node. */
  public GuestSpec(String jobId, String hostname, String address, int prefixLength,
      List<String> routes, String user) {
    this(jobId, hostname, address, prefixLength, routes, user, "");
  }

  /** The same guest with {@code shape}'s CPUs and memory. */
  public GuestSpec withShape(NodeShape shape) {
    return new GuestSpec(jobId, hostname, address, prefixLength, routes, user, bridge,
        shape.cpus(), shape.memoryBytes());
  }

  /** Its CPUs and memory. */
  public NodeShape shape() {
    return new NodeShape(cpus, memoryBytes);
  }
}
