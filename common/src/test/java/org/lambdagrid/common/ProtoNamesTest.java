package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.ReservationState;

class ProtoNamesTest {
  @Test
  void theFirstPrefixGoesTheRestStays() {
    assertThat(ProtoNames.shortName(JobState.JOB_SETTING_UP)).isEqualTo("SETTING_UP");
    assertThat(ProtoNames.shortName(Phase.PHASE_SET_KEYS)).isEqualTo("SET_KEYS");
    assertThat(ProtoNames.shortName(NodeState.NODE_SET_UP)).isEqualTo("SET_UP");
    assertThat(ProtoNames.shortName(ReservationState.RESERVATION_ACTIVE)).isEqualTo("ACTIVE");
    assertThat(ProtoNames.shortName(OutputChunk.Stream.STDOUT)).isEqualTo("STDOUT");
  }
}
