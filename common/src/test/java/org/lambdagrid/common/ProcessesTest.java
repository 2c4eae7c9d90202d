package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

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
    // sleep inherits the exited 'true' as its child and never reaps it: a zombie for 30 s.
    Process parent = new ProcessBuilder("sh", "-c", "true & exec sleep 30").start();
    try {
      ProcessHandle zombie = zombieChildOf(parent.toHandle());
      assertThat(zombie.isAlive()).isTrue();
      assertThat(Processes.running(zombie)).isFalse();
      assertThat(Processes.running(parent.toHandle())).isTrue();
    } finally {
      parent.destroyForcibly().waitFor();
    }
    assertThat(Processes.running(parent.toHandle())).isFalse();
  }

  private static ProcessHandle zombieChildOf(ProcessHandle parent) throws Exception {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (System.nanoTime() < deadline) {
      for (ProcessHandle h : parent.children().toList()) {
        try {
          if (Files.readString(Path.of("/proc/" + h.pid() + "/stat")).contains(") Z ")) {
            return h;
          }
        } catch (java.io.IOException gone) {
          // not yet or no longer there; look again
        }
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no zombie child of " + parent.pid() + " within 10 s");
  }
}
