package org.lambdagrid.grc.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.lambdagrid.proto.v1.JobSpec;

/**
 * A job's WatchShare calls and its ending: none starts once the job is ending, and closing the
 * streams waits for one under way, so a terminal job opens no stream any more.
 */
class JobRecordWatchCallsTest {
  private static final Duration WAIT = Duration.ofSeconds(20);
  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");

  private static JobRecord fresh() {
    return new JobRecord("j-1", JobSpec.newBuilder().setUser("alice").build(), T0, T0,
        T0.plusSeconds(600), Map.of(), 1024);
  }

  @Test
  void noCallStartsOnceTheJobIsEnding() {
    JobRecord j = fresh();
    assertThat(j.beginWatchCall()).isTrue();
    j.watchCallDone();
    assertThat(j.beginEnding()).isTrue();
    assertThat(j.beginWatchCall()).isFalse();
  }

  @Test
  void closingTheStreamsWaitsForACallUnderWay_whoseStreamIsThenClosedAtOnce() {
    JobRecord j = fresh();
    assertThat(j.beginWatchCall()).isTrue(); // a retry decided to call before the ending
    assertThat(j.beginEnding()).isTrue();
    AtomicReference<Thread> closer = new AtomicReference<>();
    CompletableFuture<Void> closed = CompletableFuture.runAsync(() -> {
      closer.set(Thread.currentThread());
      j.closeShareWatches(WAIT);
    });
    // Its only timed wait is the one for the call under way.
    await().atMost(WAIT).until(() -> closer.get() != null
        && closer.get().getState() == Thread.State.TIMED_WAITING);
    assertThat(closed).as("the ending waits for the call under way").isNotDone();

    AtomicInteger closes = new AtomicInteger();
    assertThat(j.addShareWatch(closes::incrementAndGet)).as("the late stream is not kept")
        .isFalse();
    assertThat(closes).as("and is closed at once").hasValue(1);
    j.watchCallDone();
    assertThat(closed).succeedsWithin(WAIT);
    assertThat(j.beginWatchCall()).isFalse();
  }

  @Test
  @org.junit.jupiter.api.Timeout(30) // an unbounded wait fails here instead of hanging the build
  void theWaitIsBounded() {
    JobRecord j = fresh();
    assertThat(j.beginWatchCall()).isTrue(); // a call that never returns
    j.beginEnding();
    AtomicInteger closes = new AtomicInteger();
    long before = System.nanoTime();
    j.closeShareWatches(Duration.ofMillis(50));
    assertThat(System.nanoTime() - before).as("it waited for the call under way")
        .isGreaterThanOrEqualTo(Duration.ofMillis(50).toNanos());
    assertThat(j.addShareWatch(closes::incrementAndGet)).isFalse();
    assertThat(closes).hasValue(1);
  }
}
