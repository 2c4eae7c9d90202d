package org.lambdagrid.crm.pilot;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.lambdagrid.common.Errors;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connected pilot's stream, seen from the CRM. The first message must be a hello, which the
 * {@link PilotRegistry} accepts or refuses (PERMISSION_DENIED). After that, {@link #send} sends a
 * command with a fresh request id and returns a future completed by the pilot's reply; pushed
 * notifications, output and exit statuses go to the node's {@link PilotListener}.
 *
 * <p>When the stream ends, for whatever reason, every pending future fails with
 * {@link PilotLostException} naming the node, and the listener hears
 * {@link PilotListener#onDisconnected} once.
 *
 * <p>Thread-safe: {@link #send} may be called from any thread; writes to the stream are
 * serialised here. gRPC delivers the inbound calls one at a time.
 */
public final class PilotSession implements StreamObserver<ConnectRequest> {
  private static final Logger log = LoggerFactory.getLogger(PilotSession.class);

  private final StreamObserver<ConnectResponse> out;
  private final PilotRegistry registry;
  private final Object writeLock = new Object();
  private final AtomicLong nextRequestId = new AtomicLong(1);
  private final Map<Long, CompletableFuture<CommandReply>> pending = new ConcurrentHashMap<>();
  private final AtomicBoolean closed = new AtomicBoolean();
  private volatile PilotListener listener;
  private volatile String name = "unidentified pilot";

  public PilotSession(StreamObserver<ConnectResponse> out, PilotRegistry registry) {
    this.out = out;
    this.registry = registry;
  }

  /** The node's hostname once accepted, for messages. */
  public String name() {
    return name;
  }

  /** Called by the registry while accepting the hello. */
  public void setName(String name) {
    this.name = name;
  }

  public boolean isOpen() {
    return !closed.get();
  }

  /**
   * Sends one command. The request id is assigned here (any id in the builder is replaced).
   *
   * @return completed with the reply when it has no error; failed with
   *     {@link CommandFailedException} (the pilot's error text) or {@link PilotLostException}
   */
  public CompletableFuture<CommandReply> send(ConnectResponse.Builder command) {
    CompletableFuture<CommandReply> reply = new CompletableFuture<>();
    if (closed.get()) {
      reply.completeExceptionally(lost());
      return reply;
    }
    long id = nextRequestId.getAndIncrement();
    ConnectResponse message = command.setRequestId(id).build();
    pending.put(id, reply);
    if (closed.get()) {
      // close() may have drained before our put; make sure nobody waits forever.
      failPending();
      return reply;
    }
    try {
      synchronized (writeLock) {
        out.onNext(message);
      }
      log.debug("sent {} #{} to {}", message.getCommandCase(), id, name);
    } catch (RuntimeException e) {
      pending.remove(id);
      reply.completeExceptionally(new PilotLostException(
          "node " + name + " could not be sent " + message.getCommandCase() + ": " + e.getMessage()));
    }
    return reply;
  }

  /**
   * Sends a message the pilot does not answer (request_id 0), e.g. the welcome. Never throws;
   * returns whether it was written.
   */
  public boolean sendOneWay(ConnectResponse message) {
    if (closed.get()) {
      return false;
    }
    try {
      synchronized (writeLock) {
        out.onNext(message.toBuilder().setRequestId(0).build());
      }
      return true;
    } catch (RuntimeException e) {
      log.debug("could not send {} to {}: {}", message.getCommandCase(), name, e.toString());
      return false;
    }
  }

  @Override
  public void onNext(ConnectRequest request) {
    if (closed.get()) {
      return; // refused, or closed by the CRM: late messages have nobody to go to
    }
    PilotListener l = listener;
    if (l == null) {
      accept(request);
      return;
    }
    switch (request.getKindCase()) {
      case REPLY -> {
        CommandReply r = request.getReply();
        CompletableFuture<CommandReply> f = pending.remove(r.getRequestId());
        if (f == null) {
          log.warn("{} answered unknown request #{}; ignored", name, r.getRequestId());
        } else if (!r.getError().isEmpty()) {
          f.completeExceptionally(new CommandFailedException(r.getError()));
        } else {
          f.complete(r);
        }
      }
      case NOTIFICATION -> l.onNotification(request.getNotification());
      case OUTPUT -> l.onOutput(request.getOutput());
      case EXIT -> l.onExit(request.getExit());
      case HELLO -> log.warn("{} sent a second hello; ignored", name);
      default -> log.warn("{} sent an empty message; ignored", name);
    }
  }

  private void accept(ConnectRequest request) {
    if (!request.hasHello()) {
      refuse(Status.PERMISSION_DENIED.withDescription(
          "the first message on a pilot stream must be a hello, not " + request.getKindCase()));
      return;
    }
    try {
      listener = registry.accept(request.getHello(), this);
    } catch (RuntimeException e) {
      Status status = Errors.toStatus(e).getStatus();
      log.warn("refused pilot for job {} node {} from {}: {}", request.getHello().getJobId(),
          request.getHello().getNodeIndex(), request.getHello().getHost(),
          status.getDescription());
      refuse(status);
    }
  }

  private void refuse(Status status) {
    if (closed.compareAndSet(false, true)) {
      synchronized (writeLock) {
        out.onError(status.asRuntimeException());
      }
    }
  }

  @Override
  public void onError(Throwable t) {
    Status s = Status.fromThrowable(t);
    ended("pilot disconnected: " + s.getCode()
        + (s.getDescription() == null ? "" : ": " + s.getDescription()));
  }

  @Override
  public void onCompleted() {
    if (ended("pilot closed its stream")) {
      completeOutbound();
    }
  }

  /**
   * Ends the stream from the CRM's side (after SHUTDOWN, or on release). Idempotent. Pending
   * commands fail; the listener hears {@link PilotListener#onDisconnected}.
   */
  public void close(String why) {
    if (ended(why)) {
      completeOutbound();
    }
  }

  /**
   * Ends the stream with an error status instead of completing it (the CRM is going away but the
   * pilot should redial). Idempotent; the listener hears {@link PilotListener#onDisconnected}.
   */
  public void abort(Status status) {
    if (ended("the CRM ended the stream: " + status.getDescription())) {
      synchronized (writeLock) {
        try {
          out.onError(status.asRuntimeException());
        } catch (RuntimeException e) {
          log.debug("aborting stream of {}: {}", name, e.toString());
        }
      }
    }
  }

  private void completeOutbound() {
    synchronized (writeLock) {
      try {
        out.onCompleted();
      } catch (RuntimeException e) {
        log.debug("completing stream of {}: {}", name, e.toString());
      }
    }
  }

  /** Marks the stream ended; true for the first caller only. */
  private boolean ended(String why) {
    if (!closed.compareAndSet(false, true)) {
      return false;
    }
    log.debug("stream of {} ended: {}", name, why);
    failPending();
    PilotListener l = listener;
    if (l != null) {
      l.onDisconnected(why);
    }
    return true;
  }

  private void failPending() {
    for (Long id : pending.keySet()) {
      CompletableFuture<CommandReply> f = pending.remove(id);
      if (f != null) {
        f.completeExceptionally(lost());
      }
    }
  }

  private PilotLostException lost() {
    return new PilotLostException("node " + name + " was lost (pilot disconnected)");
  }
}
