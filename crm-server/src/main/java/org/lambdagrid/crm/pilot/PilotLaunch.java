package org.lambdagrid.crm.pilot;

import org.lambdagrid.common.Endpoint;

/**
 * Everything a {@link PilotStarter} needs to start the pilot of one node.
 *
 * @param jobId the job the node belongs to
 * @param nodeIndex 0-based index of the node within the site's share
 * @param hostname the guest's hostname, {@code <site>-<index>} (informational for starters)
 * @param user the job's user; the launcher runs as this user
 * @param credential one-time secret the pilot presents in its hello; never logged
 * @param crmPilotEndpoint host:port of the CRM's PilotService, which the pilot dials
 */
public record PilotLaunch(String jobId, int nodeIndex, String hostname, String user,
    String credential, Endpoint crmPilotEndpoint) {

  /** Keeps the credential out of logs. */
  @Override
  public String toString() {
    return "PilotLaunch[job=" + jobId + ", node=" + nodeIndex + ", hostname=" + hostname
        + ", user=" + user + ", crm=" + crmPilotEndpoint + "]";
  }
}
