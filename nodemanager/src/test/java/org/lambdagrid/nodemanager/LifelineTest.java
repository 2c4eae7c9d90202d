package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class LifelineTest {
  @Test
  void streamLifeline_endsAtEofOnly() throws Exception {
    PipedOutputStream writer = new PipedOutputStream();
    CompletableFuture<String> ended = new CompletableFuture<>();
    Lifeline.ofStream(new PipedInputStream(writer), "stdin").start(ended::complete);
    writer.write("noise\n".getBytes());
    writer.flush();
    Thread.sleep(200);
    assertThat(ended).isNotDone();
    writer.close();
    assertThat(ended.get(5, TimeUnit.SECONDS)).isEqualTo("stdin closed");
  }

  @Test
  void processLifeline_endsWhenTheProcessExits() throws Exception {
    Process sleeper = new ProcessBuilder("sleep", "30").start();
    CompletableFuture<String> ended = new CompletableFuture<>();
    try (Lifeline l = Lifeline.ofProcess(sleeper.pid(), Duration.ofMillis(100))) {
      l.start(ended::complete);
      Thread.sleep(300);
      assertThat(ended).isNotDone();
      sleeper.destroyForcibly().waitFor();
      assertThat(ended.get(5, TimeUnit.SECONDS)).isEqualTo("process " + sleeper.pid() + " exited");
    }
  }

  @Test
  void processLifeline_refusesAPidThatIsNotThere() throws Exception {
    Process p = new ProcessBuilder("true").start();
    p.waitFor();
    assertThatThrownBy(() -> Lifeline.ofProcess(p.pid(), Duration.ofMillis(100)))
        .hasMessage("--watch-pid: there is no process " + p.pid());
  }

  @Test
  void closedLifeline_neverCalls() throws Exception {
    PipedOutputStream writer = new PipedOutputStream();
    CompletableFuture<String> ended = new CompletableFuture<>();
    Lifeline l = Lifeline.ofStream(new PipedInputStream(writer), "stdin").start(ended::complete);
    l.close();
    writer.close();
    Thread.sleep(300);
    assertThat(ended).isNotDone();
  }
}
