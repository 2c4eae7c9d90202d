package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.lambdagrid.common.testing.Zombies;

class ProcessesTest {
  @Test
  void theStateIsReadAfterTheLastParenthesisSoANameCannotFakeIt() {
    assertThat(Processes.isZombieStat("42 (sh) Z 1 42 42 0")).isTrue();
    assertThat(Processes.isZombieStat("42 (sh) S 1 42 42 0")).isFalse();
    assertThat(Processes.isZombieStat("42 (a) Z (b) S 1 42")).isFalse();
    assertThat(Processes.isZombieStat("42 (x) Z) R 1 42")).isFalse();
    assertThat(Processes.isZombieStat("garbage")).isFalse();
  }

  @Test
  void aZombieIsNotRunningThoughTheJdkStillSeesItAlive() throws Exception {
    assertThat(Processes.running(ProcessHandle.current())).isTrue();
    Process parent = Zombies.parent();
    try {
      ProcessHandle zombie = Zombies.childOf(parent.toHandle());
      assertThat(zombie.isAlive()).isTrue();
      assertThat(Processes.running(zombie)).isFalse();
      assertThat(Processes.running(parent.toHandle())).isTrue();
    } finally {
      parent.destroyForcibly().waitFor();
    }
    assertThat(Processes.running(parent.toHandle())).isFalse();
  }
}
