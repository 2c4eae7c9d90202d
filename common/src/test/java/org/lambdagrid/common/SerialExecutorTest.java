package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class SerialExecutorTest {
  /** Runs tasks on the caller's thread, or refuses them while {@code refusing}. */
  static final class Refusing implements Executor {
    volatile boolean refusing;

    @Override
    public void execute(Runnable r) {
      if (refusing) {
        throw new RejectedExecutionException("refused");
      }
      r.run();
    }
  }

  @Test
  void aRefusedTaskIsDroppedAndTheExecutorIsNotWedged() {
    Refusing pool = new Refusing();
    SerialExecutor s = new SerialExecutor(pool);
    List<String> ran = new CopyOnWriteArrayList<>();
    pool.refusing = true;
    assertThatThrownBy(() -> s.execute(() -> ran.add("refused")))
        .isInstanceOf(RejectedExecutionException.class);
    pool.refusing = false;
    s.execute(() -> ran.add("next"));
    assertThat(ran).containsExactly("next");
  }

  @Test
  void aRunningDrainStopsOnceThePoolIsShutDown() throws Exception {
    ExecutorService pool = Executors.newSingleThreadExecutor();
    SerialExecutor s = new SerialExecutor(pool);
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    List<String> ran = new CopyOnWriteArrayList<>();
    s.execute(() -> {
      ran.add("first");
      started.countDown();
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    s.execute(() -> ran.add("queued"));
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    pool.shutdown();
    release.countDown();
    assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    assertThat(ran).containsExactly("first");
  }
}
