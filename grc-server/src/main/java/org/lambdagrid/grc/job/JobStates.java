package org.lambdagrid.grc.job;

import static org.lambdagrid.proto.v1.JobState.JOB_CANCELLED;
import static org.lambdagrid.proto.v1.JobState.JOB_EXCHANGING;
import static org.lambdagrid.proto.v1.JobState.JOB_FAILED;
import static org.lambdagrid.proto.v1.JobState.JOB_PENDING;
import static org.lambdagrid.proto.v1.JobState.JOB_RUNNING;
import static org.lambdagrid.proto.v1.JobState.JOB_SETTING_UP;
import static org.lambdagrid.proto.v1.JobState.JOB_STARTING;
import static org.lambdagrid.proto.v1.JobState.JOB_SUCCEEDED;

import org.lambdagrid.common.StateMachine;
import org.lambdagrid.proto.v1.JobState;

/**
 * The job lifecycle at the GRC.
 *
 * <pre>
 * PENDING -> SETTING_UP -> EXCHANGING -> STARTING -> RUNNING -> SUCCEEDED
 *    |            |             |            |          |-----> FAILED
 *    +------------+-------------+------------+----------+-----> FAILED | CANCELLED
 * </pre>
 */
public final class JobStates {
  public static final StateMachine<JobState> MACHINE = StateMachine.builder(JobState.class)
      .allow(JOB_PENDING, JOB_SETTING_UP, JOB_FAILED, JOB_CANCELLED)
      .allow(JOB_SETTING_UP, JOB_EXCHANGING, JOB_FAILED, JOB_CANCELLED)
      .allow(JOB_EXCHANGING, JOB_STARTING, JOB_FAILED, JOB_CANCELLED)
      .allow(JOB_STARTING, JOB_RUNNING, JOB_FAILED, JOB_CANCELLED)
      .allow(JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED)
      .terminal(JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED)
      .build();

  private JobStates() {}

  /** The states in which a lost node fails the job. */
  public static boolean isActive(JobState s) {
    return s == JOB_SETTING_UP || s == JOB_EXCHANGING || s == JOB_STARTING || s == JOB_RUNNING;
  }
}
