package org.lambdagrid.nodemanager;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.PilotHello;
import org.lambdagrid.proto.v1.PilotServiceGrpc;
import org.lambdagrid.proto.v1.PilotWelcome;

/**
 * A PilotService that plays the CRM by hand: a test waits for a pilot's session, sends commands
 * and inspects everything the pilot sent, in order. Optionally checks the hello's credential,
 * and optionally welcomes each accepted hello with a reconnect credential, as the real CRM does.
 */
public final class TestCrm extends PilotServiceGrpc.PilotServiceImplBase {
  private final BlockingQueue<Session> sessions = new LinkedBlockingQueue<>();
  private final String expectedCredential;
  private final String reconnectCredential;

  public TestCrm() {
    this(null);
  }

  /** Refuses hellos whose credential is not {@code expectedCredential} (null: accept any). */
  public TestCrm(String expectedCredential) {
    this(expectedCredential, null);
  }

  /**
   * @param expectedCredential refuse hellos with another credential (null: accept any)
   * @param reconnectCredential sent in a PilotWelcome (request_id 0) right after an accepted
   *     hello; null: no welcome (a CRM older than resumption)
   */
  public TestCrm(String expectedCredential, String reconnectCredential) {
    this.expectedCredential = expectedCredential;
    this.reconnectCredential = reconnectCredential;
  }

  /** Accepts any hello and welcomes it with {@code reconnectCredential}. */
  public static TestCrm welcoming(String reconnectCredential) {
    return new TestCrm(null, reconnectCredential);
  }

  @Override
  public StreamObserver<ConnectRequest> connect(StreamObserver<ConnectResponse> toPilot) {
    Session s = new Session(toPilot);
    sessions.add(s);
    return s;
  }

  /** The next pilot that dialled in, once its hello arrived. */
  public Session awaitSession(Duration timeout) throws InterruptedException {
    Session s = sessions.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
    if (s == null) {
      throw new AssertionError("no pilot connected within " + timeout);
    }
    s.hello.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS).join();
    return s;
  }

  /** Whether a pilot dialled in that no {@link #awaitSession} took yet. */
  public boolean hasWaitingSession() {
    return !sessions.isEmpty();
  }

  /** One pilot's stream. */
  public final class Session implements StreamObserver<ConnectRequest> {
    private final StreamObserver<ConnectResponse> toPilot;
    private final AtomicLong nextId = new AtomicLong(1);
    final CompletableFuture<PilotHello> hello = new CompletableFuture<>();
    /** Everything the pilot sent after the hello, in order. */
    public final List<ConnectRequest> received = new CopyOnWriteArrayList<>();
    /** OK when the pilot completed the stream, else its error status. */
    public final CompletableFuture<Status> ended = new CompletableFuture<>();
    private boolean closed;

    Session(StreamObserver<ConnectResponse> toPilot) {
      this.toPilot = toPilot;
    }

    public PilotHello hello() {
      return hello.join();
    }

    @Override
    public void onNext(ConnectRequest r) {
      if (r.hasHello()) {
        if (expectedCredential != null
            && !expectedCredential.equals(r.getHello().getCredential())) {
          closed = true;
          toPilot.onError(Status.PERMISSION_DENIED
              .withDescription("wrong credential for node " + r.getHello().getNodeIndex())
              .asRuntimeException());
        } else if (reconnectCredential != null) {
          synchronized (this) {
            toPilot.onNext(ConnectResponse.newBuilder().setRequestId(0).setWelcome(
                PilotWelcome.newBuilder().setReconnectCredential(reconnectCredential)).build());
          }
        }
        hello.complete(r.getHello());
        return;
      }
      received.add(r);
      synchronized (received) {
        received.notifyAll();
      }
    }

    @Override
    public void onError(Throwable t) {
      ended.complete(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      ended.complete(Status.OK);
      synchronized (this) {
        if (!closed) {
          closed = true;
          toPilot.onCompleted();
        }
      }
    }

    /** Sends a command; returns its request id. */
    public synchronized long send(ConnectResponse.Builder command) {
      long id = nextId.getAndIncrement();
      toPilot.onNext(command.setRequestId(id).build());
      return id;
    }

    /** Sends a command and waits for the reply with its id. */
    public CommandReply call(ConnectResponse.Builder command, Duration timeout)
        throws InterruptedException {
      return awaitReply(send(command), timeout);
    }

    public CommandReply awaitReply(long id, Duration timeout) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      while (true) {
        for (ConnectRequest r : received) {
          if (r.hasReply() && r.getReply().getRequestId() == id) {
            return r.getReply();
          }
        }
        if (System.nanoTime() > deadline) {
          throw new AssertionError("no reply to request " + id + " within " + timeout
              + "; received " + received);
        }
        synchronized (received) {
          received.wait(20);
        }
      }
    }

    /** Ends the stream from the CRM's side, normally. */
    public synchronized void complete() {
      if (!closed) {
        closed = true;
        toPilot.onCompleted();
      }
    }

    /** Breaks the stream from the CRM's side. */
    public synchronized void fail(Status status) {
      if (!closed) {
        closed = true;
        toPilot.onError(status.asRuntimeException());
      }
    }

    /** The node states notified so far, in order (notes, which change none, left out). */
    public List<NodeState> states() {
      return received.stream().filter(r -> r.hasNotification() && !r.getNotification().getNote())
          .map(r -> r.getNotification().getState()).toList();
    }

    public String output(OutputChunk.Stream stream) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      received.stream().filter(ConnectRequest::hasOutput).map(ConnectRequest::getOutput)
          .filter(c -> c.getStream() == stream).forEach(c -> out.writeBytes(c.getData()
              .toByteArray()));
      return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    public Optional<CommandExit> exit() {
      return received.stream().filter(ConnectRequest::hasExit).map(ConnectRequest::getExit)
          .findFirst();
    }

    /** Index in {@link #received} of the first message matching, or -1. */
    public int indexOf(java.util.function.Predicate<ConnectRequest> p) {
      for (int i = 0; i < received.size(); i++) {
        if (p.test(received.get(i))) {
          return i;
        }
      }
      return -1;
    }
  }
}
