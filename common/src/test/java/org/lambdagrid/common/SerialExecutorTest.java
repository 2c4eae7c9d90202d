package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.concurrent.CompletableFuture;
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
      blocking(started, release).run();
    });
    s.execute(() -> ran.add("queued"));
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    pool.shutdown();
    release.countDown();
    assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    assertThat(ran).containsExactly("first");
  }

  /** A task that records whether it ran or was rejected. */
  private static SerialExecutor.Rejectable recorded(List<String> log, String name,
      CompletableFuture<RejectedExecutionException> rejected) {
    return SerialExecutor.task(() -> log.add(name), e -> {
      log.add(name + " rejected");
      rejected.complete(e);
    });
  }

  private static Runnable blocking(CountDownLatch started, CountDownLatch release) {
    return () -> {
      started.countDown();
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
  }

  @Test
  void aQueuedTaskIsRejectedOnceThePoolIsShutDownUnderTheRunningDrain() throws Exception {
    ExecutorService pool = Executors.newSingleThreadExecutor();
    SerialExecutor s = new SerialExecutor(pool);
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    List<String> ran = new CopyOnWriteArrayList<>();
    CompletableFuture<RejectedExecutionException> rejected = new CompletableFuture<>();
    s.execute(blocking(started, release));
    s.execute(recorded(ran, "queued", rejected));
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    pool.shutdown();
    release.countDown();
    // bounded only so that a regression fails instead of hanging
    assertThat(rejected.get(10, TimeUnit.SECONDS)).hasMessageContaining("shut down");
    assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    assertThat(ran).containsExactly("queued rejected");
  }

  @Test
  void aTaskSubmittedAfterShutdownIsRefusedEvenWhileADrainStillRuns() throws Exception {
    ExecutorService pool = Executors.newSingleThreadExecutor();
    SerialExecutor s = new SerialExecutor(pool);
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    s.execute(blocking(started, release));
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    pool.shutdown();
    try {
      List<String> ran = new CopyOnWriteArrayList<>();
      assertThatThrownBy(() -> s.execute(recorded(ran, "late", new CompletableFuture<>())))
          .isInstanceOf(RejectedExecutionException.class);
      assertThat(ran).as("refused at once, so not told again").isEmpty();
    } finally {
      release.countDown();
    }
    assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void tasksWhoseDrainShutdownNowDroppedAreRejectedByRejectQueued() throws Exception {
    ExecutorService pool = Executors.newSingleThreadExecutor();
    SerialExecutor s = new SerialExecutor(pool);
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    pool.execute(blocking(started, release)); // the pool's only thread: the drain waits behind
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    List<String> ran = new CopyOnWriteArrayList<>();
    CompletableFuture<RejectedExecutionException> first = new CompletableFuture<>();
    CompletableFuture<RejectedExecutionException> second = new CompletableFuture<>();
    s.execute(recorded(ran, "first", first));
    s.execute(recorded(ran, "second", second));
    List<Runnable> notRun = pool.shutdownNow();
    assertThat(notRun).hasSize(1); // the drain
    SerialExecutor.rejectQueued(notRun);
    assertThat(first).isCompletedWithValueMatching(e -> e.getMessage().contains("shut down"));
    assertThat(second).isCompleted();
    assertThat(ran).containsExactly("first rejected", "second rejected");
    assertThatThrownBy(() -> s.execute(() -> ran.add("after")))
        .isInstanceOf(RejectedExecutionException.class);
    assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    assertThat(ran).containsExactly("first rejected", "second rejected");
  }
}
