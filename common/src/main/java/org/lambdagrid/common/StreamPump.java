package org.lambdagrid.common;

import java.util.List;

/**
 * Feeds a server stream from a source at the pace its client reads: items are taken from the
 * source only while the sink is ready (gRPC's {@code isReady}), so a slow reader makes the
 * server hold no more than one batch for it, plus gRPC's own transport window. {@link #drain}
 * is called at the start, whenever the sink becomes ready again, and by the source's wake-up
 * when new items arrive; calls are serialised (a call during a drain makes that drain loop once
 * more). Plain Java: the gRPC adapter supplies the sink ({@link GrpcCalls#pumped}).
 *
 * <p>Thread-safe.
 */
public final class StreamPump<T> {
  /** Where the items come from; each reader has its own cursor inside the source. */
  public interface Source<T> {
    /**
     * Up to about {@code max} next items; an empty list when there is nothing yet (then
     * {@code wake} must be called once more may have come); null when there is nothing more.
     */
    List<T> next(int max, Runnable wake);

    /** The reader went away: forget {@code wake}. */
    void cancel(Runnable wake);
  }

  /** The stream. */
  public interface Sink<T> {
    boolean isReady();

    void send(T item);

    void complete();

    void fail(RuntimeException e);
  }

  private final Source<T> source;
  private final Sink<T> sink;
  private final int batch;
  private final Runnable wake = this::drain;
  private boolean draining; // guarded by this
  private boolean again; // guarded by this
  private volatile boolean finished;

  /** @param batch items taken from the source at a time (the most held for this stream) */
  public StreamPump(Source<T> source, Sink<T> sink, int batch) {
    this.source = source;
    this.sink = sink;
    this.batch = batch;
  }

  /** Sends what the source has while the sink is ready; ends the stream at the source's end. */
  public void drain() {
    synchronized (this) {
      if (draining) {
        again = true;
        return;
      }
      draining = true;
    }
    while (true) {
      try {
        while (!finished && sink.isReady()) {
          List<T> items = source.next(batch, wake);
          if (items == null) {
            finished = true;
            sink.complete();
            break;
          }
          if (items.isEmpty()) {
            break; // the wake-up is registered
          }
          items.forEach(sink::send);
        }
      } catch (RuntimeException e) {
        if (!finished) {
          finished = true;
          source.cancel(wake);
          sink.fail(e);
        }
      }
      synchronized (this) {
        if (!again) {
          draining = false;
          return;
        }
        again = false;
      }
    }
  }

  /** The client went away: stop, and forget the wake-up. Idempotent. */
  public void stop() {
    finished = true;
    source.cancel(wake);
  }

  public boolean finished() {
    return finished;
  }
}
