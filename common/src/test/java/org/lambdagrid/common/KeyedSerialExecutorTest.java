package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class KeyedSerialExecutorTest {
  private final ExecutorService pool = Executors.newFixedThreadPool(2);

  @AfterEach
  void stop() {
    pool.shutdownNow();
  }

  @Test
  void anotherKeyRunsWhileOneKeyIsBlockedAndEachKeyKeepsItsOrder() throws Exception {
    KeyedSerialExecutor<String> k = new KeyedSerialExecutor<>(pool);
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch aStarted = new CountDownLatch(1);
    CountDownLatch bDone = new CountDownLatch(1);
    List<String> ran = new CopyOnWriteArrayList<>();
    k.execute("a", () -> {
      ran.add("a1");
      aStarted.countDown();
      await(release);
    });
    k.execute("a", () -> ran.add("a2"));
    assertThat(aStarted.await(10, TimeUnit.SECONDS)).isTrue();
    k.execute("b", () -> ran.add("b1"));
    k.execute("b", () -> {
      ran.add("b2");
      bDone.countDown();
    });
    assertThat(bDone.await(10, TimeUnit.SECONDS)).as("b ran while a1 blocks").isTrue();
    assertThat(ran).containsExactly("a1", "b1", "b2");
    CountDownLatch aDone = new CountDownLatch(1);
    k.execute("a", aDone::countDown);
    release.countDown();
    assertThat(aDone.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(ran).containsExactly("a1", "b1", "b2", "a2");
  }

  @Test
  void aThrowingTaskDoesNotStopItsKeyAndIdleKeysAreForgotten() throws Exception {
    KeyedSerialExecutor<String> k = new KeyedSerialExecutor<>(pool);
    CountDownLatch done = new CountDownLatch(1);
    k.execute("a", () -> {
      throw new IllegalStateException("boom");
    });
    k.execute("a", done::countDown);
    assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
    CountDownLatch again = new CountDownLatch(1);
    k.execute("a", again::countDown); // a lane for "a" is made again when needed
    assertThat(again.await(10, TimeUnit.SECONDS)).isTrue();
    pool.shutdown();
    assertThat(pool.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    assertThat(k.activeKeys()).isZero();
  }

  private static void await(CountDownLatch l) {
    try {
      l.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  void aLaneThePoolRefusesIsDroppedAndTheKeyCanRunAgain() {
    SerialExecutorTest.Refusing refusing = new SerialExecutorTest.Refusing();
    KeyedSerialExecutor<String> k = new KeyedSerialExecutor<>(refusing);
    List<String> ran = new CopyOnWriteArrayList<>();
    refusing.refusing = true;
    assertThatThrownBy(() -> k.execute("a", () -> ran.add("a1")))
        .isInstanceOf(RejectedExecutionException.class);
    assertThat(k.activeKeys()).as("no lane left behind").isZero();
    refusing.refusing = false;
    k.execute("a", () -> ran.add("a2"));
    assertThat(ran).containsExactly("a2");
    assertThat(k.activeKeys()).isZero();
  }

  @Test
  void aSubmittedTaskQueuedWhenThePoolShutsDownFailsItsFutureAndLeavesNoLane() throws Exception {
    ExecutorService one = Executors.newSingleThreadExecutor();
    KeyedSerialExecutor<String> k = new KeyedSerialExecutor<>(one);
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<String> running = k.submit("a", () -> {
      started.countDown();
      await(release);
      return "a1";
    });
    CompletableFuture<String> queued = k.submit("a", () -> "a2");
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    one.shutdown();
    release.countDown();
    assertThat(running.get(10, TimeUnit.SECONDS)).isEqualTo("a1");
    // bounded only so that a regression fails instead of hanging
    assertThatThrownBy(() -> queued.get(10, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(RejectedExecutionException.class);
    assertThat(one.awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    assertThat(k.activeKeys()).as("no lane left behind").isZero();
    assertThat(k.submit("a", () -> "late")).isCompletedExceptionally();
  }

  @Test
  void submitGivesTheResultOrWhatTheWorkThrew() throws Exception {
    KeyedSerialExecutor<String> k = new KeyedSerialExecutor<>(pool);
    assertThat(k.submit("a", () -> "ok").get(10, TimeUnit.SECONDS)).isEqualTo("ok");
    CompletableFuture<String> boom = k.submit("a", () -> {
      throw new IllegalStateException("boom");
    });
    assertThatThrownBy(() -> boom.get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(IllegalStateException.class).hasMessageContaining("boom");
  }

  @Test
  void afterShutdownNowRejectQueuedFailsTheQueuedFutures() throws Exception {
    ExecutorService one = Executors.newSingleThreadExecutor();
    KeyedSerialExecutor<String> k = new KeyedSerialExecutor<>(one);
    CountDownLatch started = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    one.execute(() -> {
      started.countDown();
      await(release);
    });
    assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<String> a = k.submit("a", () -> "a");
    CompletableFuture<String> b = k.submit("b", () -> "b");
    SerialExecutor.rejectQueued(one.shutdownNow());
    for (CompletableFuture<String> f : List.of(a, b)) {
      assertThatThrownBy(f::join).hasCauseInstanceOf(RejectedExecutionException.class);
    }
    assertThat(k.activeKeys()).isZero();
  }
}
