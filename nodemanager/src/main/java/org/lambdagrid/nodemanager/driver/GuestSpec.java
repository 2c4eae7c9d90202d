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
 */
public record GuestSpec(
    String jobId, String hostname, String address, int prefixLength, List<String> routes,
    String user) {
  public GuestSpec {
    routes = List.copyOf(routes);
  }
}
