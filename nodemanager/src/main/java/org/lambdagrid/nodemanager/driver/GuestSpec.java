package org.lambdagrid.nodemanager.driver;

import java.util.List;

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
 */
public record GuestSpec(
    String jobId, String hostname, String address, int prefixLength, List<String> routes,
    String user, String bridge) {
  public GuestSpec {
    routes = List.copyOf(routes);
    bridge = bridge == null ? "" : bridge;
  }

  /** On the driver's configured bridge. */
  public GuestSpec(String jobId, String hostname, String address, int prefixLength,
      List<String> routes, String user) {
    this(jobId, hostname, address, prefixLength, routes, user, "");
  }
}
