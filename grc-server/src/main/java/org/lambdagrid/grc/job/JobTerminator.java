package org.lambdagrid.grc.job;

import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.Phase;

/** Ends a job once ({@link JobCoordinator#terminate}); for the runner and the share feeds. */
@FunctionalInterface
interface JobTerminator {
  void terminate(JobRecord job, JobState state, Phase phase, String why, Integer exitCode);
}
