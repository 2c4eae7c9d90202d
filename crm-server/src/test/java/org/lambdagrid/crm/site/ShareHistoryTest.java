package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.WatchShareResponse;

/** A share's updates: stamped, kept for late watchers within the output cap, delivered in order. */
class ShareHistoryTest {
  private final ShareHistory history = new ShareHistory("j-1", "inc-1", Runnable::run);

  /** Records what a watcher hears, as text. */
  private static final class Heard implements ShareWatcher {
    final List<String> all = new ArrayList<>();

    @Override
    public void onUpdate(WatchShareResponse u) {
      all.add(u.getSeq() + " " + (u.hasOutput() ? "output " + u.getOutput().getData().size()
          : u.getEvent().getMessage()));
    }

    @Override
    public void onReleased() {
      all.add("released");
    }

    @Override
    public void onSuspended(String why) {
      all.add("suspended: " + why);
    }
  }

  private static WatchShareResponse event(String message) {
    return WatchShareResponse.newBuilder().setEvent(Event.newBuilder().setMessage(message))
        .build();
  }

  private static WatchShareResponse output(int bytes) {
    return WatchShareResponse.newBuilder().setOutput(OutputChunk.newBuilder()
        .setData(ByteString.copyFrom(new byte[bytes]))).build();
  }

  @Test
  void updatesAreStampedAndALateWatcherGetsThemFirst() {
    Heard early = new Heard();
    history.watch(early);
    history.emit(event("one"));
    history.emit(event("two"));
    Heard late = new Heard();
    history.watch(late);
    history.emit(event("three"));
    assertThat(early.all).containsExactly("1 one", "2 two", "3 three");
    assertThat(late.all).isEqualTo(early.all);
    assertThat(history.watched()).isTrue();
  }

  @Test
  void outputBeyondTheCapReachesLiveWatchersOnly() {
    Heard live = new Heard();
    history.watch(live);
    int half = (int) (ShareHistory.OUTPUT_CAP / 2);
    history.emit(output(half));
    history.emit(output(half));
    history.emit(output(1));
    history.emit(event("after"));
    Heard late = new Heard();
    history.watch(late);
    assertThat(live.all).containsExactly("1 output " + half, "2 output " + half, "3 output 1",
        "4 after");
    assertThat(late.all).containsExactly("1 output " + half, "2 output " + half, "4 after");
  }

  @Test
  void releaseEndsEveryWatcherAndALaterOneGetsTheHistoryThenTheEnd() {
    Heard w = new Heard();
    Runnable unwatch = history.watch(w);
    history.emit(event("one"));
    history.released();
    history.emit(event("late"));
    assertThat(w.all).containsExactly("1 one", "released");
    Heard after = new Heard();
    history.watch(after);
    assertThat(after.all).containsExactly("1 one", "2 late", "released");
    unwatch.run(); // harmless after the end
  }

  @Test
  void suspendingTellsTheWatchersWhyAndDropsThem() {
    Heard w = new Heard();
    history.watch(w);
    history.suspended("the CRM is stopping");
    history.emit(event("not heard"));
    assertThat(w.all).containsExactly("suspended: the CRM is stopping");
  }

  @Test
  void anUnwatchedHistoryIsNotWatchedAndARemovedWatcherHearsNothing() {
    assertThat(history.watched()).isFalse();
    Heard w = new Heard();
    history.watch(w).run();
    history.emit(event("one"));
    assertThat(w.all).isEmpty();
  }
}
