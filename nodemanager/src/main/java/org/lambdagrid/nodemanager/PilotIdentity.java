package org.lambdagrid.nodemanager;

/**
 * Who this pilot is, as it tells its CRM in the hello.
 *
 * @param jobId the job the CRM started this pilot for
 * @param nodeIndex 0-based index of the node within the site's share
 * @param credential one-time secret the CRM issued for this pilot; never logged
 * @param launchedBy the user who started this pilot through sudo (its launcher's user), or
 *     null when not started through sudo. When set, the guest and the command are for this user
 *     only, so a user cannot point a root NodeManager at a CRM of their own and run commands as
 *     someone else.
 */
public record PilotIdentity(String jobId, int nodeIndex, String credential, String launchedBy) {
  public PilotIdentity(String jobId, int nodeIndex, String credential) {
    this(jobId, nodeIndex, credential, null);
  }

  public PilotIdentity {
    if (jobId == null || jobId.isBlank()) {
      throw new IllegalArgumentException("job: must not be empty");
    }
    if (nodeIndex < 0) {
      throw new IllegalArgumentException("node: " + nodeIndex + " is negative");
    }
    credential = credential == null ? "" : credential;
  }

  @Override
  public String toString() {
    return "PilotIdentity[job=" + jobId + ", node=" + nodeIndex + ", credential="
        + (credential.isEmpty() ? "none" : "***") + "]";
  }
}
