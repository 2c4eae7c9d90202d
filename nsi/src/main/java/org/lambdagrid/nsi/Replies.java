package org.lambdagrid.nsi;

import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The requests waiting for the provider's confirmation, by the correlation id the requester
 * sent. A callback completes a request only when it is one of the callbacks that request can
 * get (reserveCommit: reserveCommitConfirmed or reserveCommitFailed, any request: error or
 * messageDeliveryTimeout) and names the request's connection (once the acknowledgment gave
 * it; an error without a connection id is accepted). Anything else is dropped and the request
 * keeps waiting. Thread-safe.
 */
final class Replies {
  /** A confirmation ({@code failure} null) or a failure, and the connection it named. */
  record Reply(String callback, String connectionId, String failure) {}

  /** Callbacks every request may get. */
  static final Set<String> ANY = Set.of("error", "messageDeliveryTimeout");

  private static final class Waiting {
    final Set<String> callbacks;
    volatile String connectionId;
    final CompletableFuture<Reply> reply = new CompletableFuture<>();

    Waiting(Set<String> callbacks, String connectionId) {
      this.callbacks = callbacks;
      this.connectionId = connectionId;
    }
  }

  private final Map<String, Waiting> pending = new ConcurrentHashMap<>();

  /**
   * Registers a request before it is sent. {@code connectionId} null: not known yet (reserve),
   * see {@link #knownAs}.
   */
  CompletableFuture<Reply> expect(String correlation, Set<String> callbacks,
      String connectionId) {
    Waiting w = new Waiting(Set.copyOf(callbacks), connectionId);
    pending.put(correlation, w);
    return w.reply;
  }

  /** The provider's acknowledgment named the request's connection. */
  void knownAs(String correlation, String connectionId) {
    Waiting w = pending.get(correlation);
    if (w != null) {
      w.connectionId = connectionId;
    }
  }

  /** Returns whether the callback completed a waiting request. */
  boolean complete(String correlation, Reply r) {
    Waiting w = correlation == null ? null : pending.get(correlation);
    if (w == null) {
      return false;
    }
    if (!w.callbacks.contains(r.callback()) && !ANY.contains(r.callback())) {
      return false;
    }
    String expected = w.connectionId;
    boolean anyConnection = r.connectionId() == null && ANY.contains(r.callback());
    if (expected != null && !anyConnection && !Objects.equals(expected, r.connectionId())) {
      return false;
    }
    return w.reply.complete(r);
  }

  void remove(String correlation) {
    pending.remove(correlation);
  }

  void failAll(Throwable t) {
    pending.values().forEach(w -> w.reply.completeExceptionally(t));
  }
}
