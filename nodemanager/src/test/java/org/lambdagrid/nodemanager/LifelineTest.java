package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class LifelineTest {
  @Test
  void streamLifeline_endsAtEofOnly() throws Exception {
    PipedOutputStream writer = new PipedOutputStream();
    Semaphore reads = new Semaphore(0); // a permit each time the lifeline starts a read
    InputStream in = new FilterInputStream(new PipedInputStream(writer)) {
      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        reads.release();
        return super.read(b, off, len);
      }
    };
    CompletableFuture<String> ended = new CompletableFuture<>();
    Lifeline.ofStream(in, "stdin").start(ended::complete);
    writer.write("noise\n".getBytes());
    writer.flush();
    // a second read: the first returned the noise and the lifeline went on reading
    assertThat(reads.tryAcquire(2, 5, TimeUnit.SECONDS)).isTrue();
    assertThat(ended).isNotDone();
    writer.close();
    assertThat(ended.get(5, TimeUnit.SECONDS)).isEqualTo("stdin closed");
  }

  @Test
  void processLifeline_endsWhenTheProcessExits() throws Exception {
    Process sleeper = new ProcessBuilder("sleep", "30").start();
    CompletableFuture<String> ended = new CompletableFuture<>();
    Semaphore looked = new Semaphore(0); // a permit each time a look found the process alive
    Semaphore next = new Semaphore(0); // a permit for each further look
    try (Lifeline l = Lifeline.ofProcess(sleeper.pid(), () -> {
      looked.release();
      next.acquire();
    })) {
      l.start(ended::complete);
      next.release(2);
      assertThat(looked.tryAcquire(3, 5, TimeUnit.SECONDS)).isTrue();
      assertThat(ended).isNotDone();
      sleeper.destroyForcibly().waitFor();
      next.release();
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
    assertThat(l.awaitWatched(Duration.ofSeconds(5))).isTrue(); // it saw the EOF and returned
    assertThat(ended).isNotDone();
  }
}
