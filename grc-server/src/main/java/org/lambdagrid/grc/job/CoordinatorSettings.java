package org.lambdagrid.grc.job;

import java.time.Duration;

/**
 * The coordinator's timing and limits, plain values (the daemon builds them from its YAML).
 *
 * @param setupTimeout PHASE_LAUNCH + PHASE_SETUP on every site (pilots start through the batch
 *     system, so this one is the longest)
 * @param keysTimeout PHASE_KEYS
 * @param trustTimeout PHASE_SET_KEYS
 * @param runTimeout PHASE_RUN (sshd up everywhere)
 * @param execTimeout the ExecCommand call (starting the command, not running it)
 * @param rpcTimeout one call of the two-phase commit (Prepare, Commit, Abort, Release), OpenShare
 *     and ReleaseShare; also the deadline of each 2PC phase
 * @param callMargin added to a phase timeout for the call's deadline, so the CRM's own phase
 *     deadline (which names the node) fires first
 * @param defaultDuration a job's window when the spec leaves it unset
 * @param outputBufferBytes output kept per job; the oldest is dropped beyond it
 * @param crmGrace how long a RUNNING job waits for a site's CRM whose WatchShare stream broke
 *     to come back (restarted from its state, with the job's share) before it fails
 */
public record CoordinatorSettings(Duration setupTimeout, Duration keysTimeout,
    Duration trustTimeout, Duration runTimeout, Duration execTimeout, Duration rpcTimeout,
    Duration callMargin, Duration defaultDuration, long outputBufferBytes, Duration crmGrace) {

  public static final Duration DEFAULT_CRM_GRACE = Duration.ofSeconds(60);

  /** With the default {@code crmGrace} (60 s). */
  public CoordinatorSettings(Duration setupTimeout, Duration keysTimeout, Duration trustTimeout,
      Duration runTimeout, Duration execTimeout, Duration rpcTimeout, Duration callMargin,
      Duration defaultDuration, long outputBufferBytes) {
    this(setupTimeout, keysTimeout, trustTimeout, runTimeout, execTimeout, rpcTimeout,
        callMargin, defaultDuration, outputBufferBytes, DEFAULT_CRM_GRACE);
  }

  public static CoordinatorSettings defaults() {
    return new CoordinatorSettings(Duration.ofSeconds(120), Duration.ofSeconds(30),
        Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ofSeconds(30),
        Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofHours(1), 16L << 20,
        DEFAULT_CRM_GRACE);
  }

  public CoordinatorSettings withCrmGrace(Duration grace) {
    return new CoordinatorSettings(setupTimeout, keysTimeout, trustTimeout, runTimeout,
        execTimeout, rpcTimeout, callMargin, defaultDuration, outputBufferBytes, grace);
  }
}
