package org.lambdagrid.grc.job;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.Phase;

/** {@link JobRecord#times}: kept as events arrive, and rebuilt from a restored history. */
class JobRecordTimesTest {
  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");

  private static JobRecord fresh() {
    return new JobRecord("j-1", JobSpec.newBuilder().setUser("alice").build(), T0, T0,
        T0.plusSeconds(600), Map.of(), 1024);
  }

  @Test
  void startedWhenItLeavesPending_endedAtItsTerminalEvent_nodeEventsDoNotCount() {
    JobRecord j = fresh();
    j.appendPending("reserved", T0);
    assertThat(j.times()).isEqualTo(new JobRecord.Times(null, null));
    j.appendNodeEvent(Event.newBuilder().setNodeState(NodeState.NODE_CONNECTED).build(),
        T0.plusMillis(50));
    assertThat(j.times().started()).isNull();
    j.advance(JobState.JOB_SETTING_UP, Phase.PHASE_SETUP, "building", T0.plusMillis(100));
    j.advance(JobState.JOB_EXCHANGING, Phase.PHASE_KEYS, "keys", T0.plusMillis(300));
    assertThat(j.times()).isEqualTo(new JobRecord.Times(T0.plusMillis(100), null));
    j.finish(JobState.JOB_FAILED, Phase.PHASE_KEYS, "no keys", null, T0.plusMillis(700));
    assertThat(j.times()).isEqualTo(new JobRecord.Times(T0.plusMillis(100),
        T0.plusMillis(700)));
  }

  @Test
  void aJobCancelledWhilePendingNeverStarted() {
    JobRecord j = fresh();
    j.appendPending("reserved", T0);
    j.finish(JobState.JOB_CANCELLED, Phase.PHASE_UNSPECIFIED, "cancelled", null,
        T0.plusSeconds(1));
    assertThat(j.times()).isEqualTo(new JobRecord.Times(null, T0.plusSeconds(1)));
  }

  @Test
  void restored_fromItsHistory_andATerminalJobWithoutItsTerminalEventEndedByItsLastEvent() {
    Job proto = fresh().toProto().toBuilder().setState(JobState.JOB_SUCCEEDED).build();
    List<Event> history = List.of(event(T0, JobState.JOB_PENDING),
        event(T0.plusMillis(100), JobState.JOB_SETTING_UP),
        event(T0.plusMillis(900), JobState.JOB_RUNNING));
    JobRecord r = JobRecord.restore(proto, history, List.of(), new OutputBuffer(1024));
    assertThat(r.times()).isEqualTo(new JobRecord.Times(T0.plusMillis(100),
        T0.plusMillis(900)));

    List<Event> whole = new java.util.ArrayList<>(history);
    whole.add(event(T0.plusMillis(1500), JobState.JOB_SUCCEEDED));
    assertThat(JobRecord.restore(proto, whole, List.of(), new OutputBuffer(1024)).times())
        .isEqualTo(new JobRecord.Times(T0.plusMillis(100), T0.plusMillis(1500)));
  }

  private static Event event(Instant t, JobState s) {
    return Event.newBuilder().setTime(ProtoTime.toProto(t)).setJobState(s).build();
  }
}
