package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import org.junit.jupiter.api.Test;

class NodeShapeTest {
  @Test
  void zeroMeansNoLimit() {
    assertThat(NodeShape.NONE.limited()).isFalse();
    assertThat(NodeShape.NONE.describe()).isEmpty();
    assertThat(NodeShape.checked("cpus", 0, "memory_bytes", 0)).isEqualTo(NodeShape.NONE);
  }

  @Test
  void describesWhatIsLimited() {
    assertThat(new NodeShape(1, 256L << 20).describe()).isEqualTo("1 CPU, 256 MiB");
    assertThat(new NodeShape(2, 0).describe()).isEqualTo("2 CPUs");
    assertThat(new NodeShape(0, 2L << 30).describe()).isEqualTo("2 GiB");
    assertThat(new NodeShape(0, 1).limited()).isTrue();
  }

  @Test
  void refusalsNameTheFieldAndTheValue() {
    assertThatThrownBy(() -> NodeShape.checkCpus("spec.cpus", 0))
        .isInstanceOfSatisfying(Errors.RequestException.class,
            e -> assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT))
        .hasMessageStartingWith("spec.cpus: '0' must be at least 1");
    assertThatThrownBy(() -> NodeShape.checked("cpus", -2, "memory_bytes", 0))
        .hasMessageStartingWith("cpus: '-2' must be at least 1");
    assertThatThrownBy(() -> NodeShape.checkCpus("spec.cpus", 5000))
        .hasMessageStartingWith("spec.cpus: '5000' is more CPUs than any node has");
    assertThatThrownBy(() -> NodeShape.checked("cpus", 1, "memory_bytes", 1 << 20))
        .hasMessageStartingWith("memory_bytes: '1048576' is less than the smallest memory"
            + " limit, 32 MiB");
    assertThatThrownBy(() -> NodeShape.checkMemory("spec.memory_bytes", -1))
        .hasMessageStartingWith("spec.memory_bytes: '-1' is less than");
    assertThat(NodeShape.checked("cpus", 2, "memory_bytes", 32L << 20))
        .isEqualTo(new NodeShape(2, 32L << 20));
  }
}
