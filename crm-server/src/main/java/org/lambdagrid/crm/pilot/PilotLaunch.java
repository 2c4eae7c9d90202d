package org.lambdagrid.crm.pilot;

import java.time.Instant;
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
 * @param windowEnd when the job's reservation ends, or null when it is open-ended; a batch
 *     system starter makes it the pilot's time limit
 * @param batchReservation the batch system's advance reservation the pilot must run in
 *     ({@link BatchReservations}; Slurm: {@code sbatch --reservation}), or null for none
 */
public record PilotLaunch(String jobId, int nodeIndex, String hostname, String user,
    String credential, Endpoint crmPilotEndpoint, Instant windowEnd, String batchReservation) {

  /** A launch outside any batch system reservation. */
  public PilotLaunch(String jobId, int nodeIndex, String hostname, String user, String credential,
      Endpoint crmPilotEndpoint, Instant windowEnd) {
    this(jobId, nodeIndex, hostname, user, credential, crmPilotEndpoint, windowEnd, null);
  }

  /** A launch with an open-ended window. */
  public PilotLaunch(String jobId, int nodeIndex, String hostname, String user, String credential,
      Endpoint crmPilotEndpoint) {
    this(jobId, nodeIndex, hostname, user, credential, crmPilotEndpoint, null, null);
  }

  /** Keeps the credential out of logs. */
  @Override
  public String toString() {
    return "PilotLaunch[job=" + jobId + ", node=" + nodeIndex + ", hostname=" + hostname
        + ", user=" + user + ", crm=" + crmPilotEndpoint
        + (windowEnd == null ? "" : ", until=" + windowEnd)
        + (batchReservation == null ? "" : ", in=" + batchReservation) + "]";
  }
}
