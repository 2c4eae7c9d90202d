package org.lambdagrid.nodemanager;

import com.google.protobuf.ByteString;
import io.grpc.Channel;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.PilotHello;
import org.lambdagrid.proto.v1.PilotServiceGrpc;
import org.lambdagrid.proto.v1.PilotWelcome;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pilot's link to its CRM: the {@code PilotService.Connect} stream, and its redials after a
 * welcomed stream broke (see {@link NodeManager} for what the CRM sees). It knows nothing of the
 * guest or the commands: it sends what its NodeManager gives it and hands the CRM's commands to
 * its {@link Listener}.
 *
 * <p>Locking: {@link #lock} guards the link's state (the current stream, the held messages, the
 * outage). It is the inner lock: a NodeManager may send while holding its own monitor, and the
 * link never calls its listener while holding {@link #lock}, so the two are only ever taken in
 * the order NodeManager, then link. Thread-safe.
 */
final class CrmLink {
  private static final Logger log = LoggerFactory.getLogger(CrmLink.class);
  /** The first redial's delay after a failed one; doubled up to {@link #REDIAL_MAX}. */
  static final Duration REDIAL_FIRST = Duration.ofMillis(250);
  static final Duration REDIAL_MAX = Duration.ofSeconds(2);
  /** Output held while redialling; what comes beyond is dropped and counted. */
  static final int HELD_OUTPUT_BYTES = 4 << 20;

  /**
   * What the link tells its NodeManager. Never called with the link's lock held; the CRM's
   * commands arrive on gRPC threads, one at a time per stream.
   */
  interface Listener {
    /** A command the CRM sent on the current stream; never a WELCOME (the link takes those). */
    void onCommand(ConnectResponse command);

    /**
     * The link is down for good: the CRM refused the pilot or closed or broke the stream before
     * welcoming it, refused to re-adopt it, or did not take it back within the grace. May be
     * called more than once; the listener ends the pilot on the first.
     */
    void onLost(Termination.Reason reason, String why);

    /** The node's state now, for a redial's hello. */
    PilotState stateNow();

    /** The guest's hostname (or what stands for it), for the note on dropped output. */
    String hostname();
  }

  /** Where messages go: the open stream, the held queue while redialling, or nowhere. */
  private enum Mode { OPEN, REDIALLING, CLOSED }

  private final Channel channel;
  private final PilotIdentity identity;
  private final String driverName;
  private final Duration connectTimeout;
  private final Duration grace;
  private final String name;
  private final Listener listener;
  private final Clock clock;
  /** Redials and the grace timer. */
  private final ScheduledExecutorService redials;

  private final Object lock = new Object();
  /**
   * Guarded by lock: the stream in use (OPEN), or the redial in flight (REDIALLING; null between
   * attempts). Only its callbacks act: a late one of an earlier stream is ignored.
   */
  private Inbound current;
  /** Guarded by lock. CLOSED before {@link #open} and once the stream is completed or failed. */
  private Mode mode = Mode.CLOSED;
  /** Guarded by lock: set by {@link #stopRedialling}; a stream that breaks then is not redialled. */
  private boolean stopped;
  /** Guarded by lock: what would have been sent while REDIALLING, in order. */
  private final ArrayDeque<ConnectRequest> held = new ArrayDeque<>();
  /** Guarded by lock: output bytes in {@link #held}, and output dropped beyond the bound. */
  private long heldOutputBytes;
  private long droppedOutputBytes;
  /** Guarded by lock: counts the times the stream was lost, so an earlier timer is inert. */
  private int outage;
  /** Guarded by lock: for the current outage. */
  private String lostBecause;
  private String lastRedialError;
  private Duration redialDelay;
  private ScheduledFuture<?> graceTimer;
  /** Guarded by lock: the command's exit once it was given to {@link #send}. */
  private CommandExit commandExit;

  /** From the CRM's welcome; null until one arrived. Never logged. */
  private volatile String reconnectCredential;

  /**
   * @param channel to the CRM; not owned. If it is a {@link ManagedChannel}, {@link #open} first
   *     waits up to {@code connectTimeout} for it to connect.
   * @param grace how long a broken, welcomed stream is redialled before the link is lost
   * @param clock measures {@code connectTimeout}
   * @param redials runs the redials and the grace timer; owned ({@link #close} shuts it down)
   */
  CrmLink(Channel channel, PilotIdentity identity, String driverName, Duration connectTimeout,
      Duration grace, String name, Listener listener, Clock clock,
      ScheduledExecutorService redials) {
    this.channel = channel;
    this.identity = identity;
    this.driverName = driverName;
    this.connectTimeout = connectTimeout;
    this.grace = grace;
    this.name = name;
    this.listener = listener;
    this.clock = clock;
    this.redials = redials;
  }

  /** A single daemon thread named {@code name-redial}, for {@link CrmLink#CrmLink}. */
  static ScheduledExecutorService redialThread(String name) {
    return Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, name + "-redial");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Waits for the channel to be ready, then opens the stream with the launch credential's hello.
   * Returns once the hello is sent. Call once.
   *
   * @throws CrmUnreachableException if the channel did not become ready within the connect
   *     timeout; nothing was sent
   */
  void open() throws CrmUnreachableException {
    awaitChannelReady();
    synchronized (lock) {
      dial(new Inbound(false, false), PilotHello.newBuilder()
          .setJobId(identity.jobId())
          .setNodeIndex(identity.nodeIndex())
          .setCredential(identity.credential())
          .setHost(physicalHost())
          .setDriver(driverName).build());
    }
  }

  /**
   * Sends one message on the open stream, holds it while redialling, drops it when the stream is
   * closed; never throws.
   */
  void send(ConnectRequest message) {
    synchronized (lock) {
      if (message.hasExit()) {
        commandExit = message.getExit();
      }
      switch (mode) {
        case OPEN -> sendNow(message);
        case REDIALLING -> hold(message);
        case CLOSED -> log.debug("{}: stream closed; dropped {}", name, message.getKindCase());
      }
    }
  }

  /** {@link #send}s a reply; while redialling it is dropped (it answers a stream that is gone). */
  void reply(CommandReply.Builder reply) {
    send(ConnectRequest.newBuilder().setReply(reply).build());
  }

  /** Whether the stream broke after a welcome and the CRM has not taken this pilot back yet. */
  boolean redialling() {
    synchronized (lock) {
      return mode == Mode.REDIALLING;
    }
  }

  /**
   * The pilot is ending: a redial in flight is cancelled and what was held is dropped; a stream
   * that breaks from now on is not redialled. An open stream stays open for the last messages.
   */
  void stopRedialling() {
    synchronized (lock) {
      stopped = true;
      if (graceTimer != null) {
        graceTimer.cancel(false);
        graceTimer = null;
      }
      if (mode != Mode.REDIALLING) {
        return;
      }
      mode = Mode.CLOSED;
      if (!held.isEmpty() || droppedOutputBytes > 0) {
        log.info("{}: ending while the CRM is away: {} held messages are not sent", name,
            held.size());
      }
      clearHeld();
      Inbound redial = current;
      if (redial != null && redial.requestStream != null) {
        try {
          redial.requestStream.cancel("the pilot is ending", null);
        } catch (RuntimeException e) {
          log.debug("{}: cancelling the redial: {}", name, e.toString());
        }
      }
    }
  }

  /** Completes an open stream and stops the redial thread; later messages are dropped. */
  void close() {
    synchronized (lock) {
      if (mode == Mode.OPEN) {
        mode = Mode.CLOSED;
        try {
          current.requestStream.onCompleted();
        } catch (RuntimeException e) {
          log.debug("{}: completing the stream: {}", name, e.toString());
        }
      }
    }
    redials.shutdownNow();
  }

  // ------------------------------------------------------------------ dialling

  private void awaitChannelReady() throws CrmUnreachableException {
    if (!(channel instanceof ManagedChannel managed)) {
      return;
    }
    Instant deadline = clock.instant().plus(connectTimeout);
    ConnectivityState s = managed.getState(true);
    while (s != ConnectivityState.READY) {
      Duration left = Duration.between(clock.instant(), deadline);
      if (s == ConnectivityState.SHUTDOWN || left.isNegative() || left.isZero()) {
        throw new CrmUnreachableException("cannot reach the CRM at " + managed.authority()
            + " within " + connectTimeout.toSeconds() + "s (connection " + s + ")");
      }
      CountDownLatch changed = new CountDownLatch(1);
      managed.notifyWhenStateChanged(s, changed::countDown);
      try {
        changed.await(left.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CrmUnreachableException("interrupted while connecting to the CRM");
      }
      s = managed.getState(true);
    }
  }

  /**
   * Opens a stream with {@code hello} as its first message and makes it the current one. The
   * first stream waits for the channel to be ready; a redial fails fast instead (the redial loop
   * does the waiting, with its own back-off). Lock held.
   */
  private void dial(Inbound in, PilotHello hello) {
    PilotServiceGrpc.PilotServiceStub stub = PilotServiceGrpc.newStub(channel);
    if (!in.resume) {
      stub = stub.withWaitForReady();
      mode = Mode.OPEN;
    }
    current = in;
    stub.connect(in);
    try {
      in.requestStream.onNext(ConnectRequest.newBuilder().setHello(hello).build());
    } catch (RuntimeException e) {
      log.warn("{}: cannot send the hello: {}", name, e.toString());
    }
  }

  /**
   * The CRM's side of one stream (each dial has its own). Called on gRPC threads, serially per
   * stream; callbacks of a stream that is no longer {@link #current} do nothing.
   */
  private final class Inbound implements ClientResponseObserver<ConnectRequest, ConnectResponse> {
    /** A redial (its hello has resume set). */
    final boolean resume;
    /** Its hello carried the command's exit, so a held exit is not sent again on it. */
    final boolean helloCarriedExit;
    /** Set by beforeStart, which runs inside {@code connect}. */
    ClientCallStreamObserver<ConnectRequest> requestStream;
    /** Guarded by lock: a welcome arrived on this stream. */
    boolean welcomed;

    Inbound(boolean resume, boolean helloCarriedExit) {
      this.resume = resume;
      this.helloCarriedExit = helloCarriedExit;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<ConnectRequest> requestStream) {
      this.requestStream = requestStream;
    }

    private boolean isCurrent() {
      synchronized (lock) {
        return current == this;
      }
    }

    @Override
    public void onNext(ConnectResponse command) {
      if (!isCurrent()) {
        log.debug("{}: ignored {} from an earlier stream", name,
            NodeManager.commandName(command));
        return;
      }
      if (command.hasWelcome()) {
        welcomed(this, command.getWelcome());
      } else {
        listener.onCommand(command);
      }
    }

    @Override
    public void onError(Throwable t) {
      Status status = Status.fromThrowable(t);
      String detail = status.getCode()
          + (status.getDescription() == null ? "" : ": " + status.getDescription());
      boolean denied = status.getCode() == Status.Code.PERMISSION_DENIED;
      String why = switch (status.getCode()) {
        case PERMISSION_DENIED -> "the CRM refused this pilot: ";
        case UNAVAILABLE -> "lost the CRM: ";
        default -> "the stream to the CRM failed: ";
      } + detail;
      synchronized (lock) {
        if (current != this) {
          log.debug("{}: an earlier stream ended: {}", name, detail);
          return;
        }
        if (mode == Mode.REDIALLING) {
          // a redial that was not welcomed: only a refusal ends the link
          if (!denied) {
            redialFailed(detail);
            return;
          }
          why = "the CRM refused to re-adopt this pilot: " + detail;
        } else {
          boolean wasOpen = mode == Mode.OPEN;
          mode = Mode.CLOSED;
          if (wasOpen && !denied && startRedialling(why)) {
            return;
          }
        }
      }
      listener.onLost(Termination.Reason.CRM_FAILED, why);
    }

    @Override
    public void onCompleted() {
      synchronized (lock) {
        if (current != this) {
          log.debug("{}: an earlier stream was completed", name);
          return;
        }
        if (mode == Mode.REDIALLING) {
          redialFailed("the CRM closed the stream without welcoming this pilot");
          return;
        }
        if (mode == Mode.OPEN && startRedialling("the CRM closed the stream without SHUTDOWN")) {
          return;
        }
      }
      listener.onLost(Termination.Reason.CRM_CLOSED, "the CRM closed the stream");
    }
  }

  /** A welcome on {@code in}: keeps the credential; on a redial, the stream is taken back. */
  private void welcomed(Inbound in, PilotWelcome welcome) {
    String credential = welcome.getReconnectCredential();
    if (credential.isEmpty()) {
      log.warn("{}: the CRM's welcome carries no reconnect credential; this pilot cannot resume"
          + " after a broken stream", name);
    } else {
      reconnectCredential = credential;
    }
    String host = listener.hostname();
    int resent;
    long dropped;
    synchronized (lock) {
      if (current != in || in.welcomed) {
        return;
      }
      in.welcomed = true;
      if (mode != Mode.REDIALLING) {
        return; // the first stream (already OPEN), or ending (CLOSED)
      }
      mode = Mode.OPEN;
      if (graceTimer != null) {
        graceTimer.cancel(false);
        graceTimer = null;
      }
      resent = held.size();
      dropped = droppedOutputBytes;
      flushHeld(in.helloCarriedExit, host);
    }
    log.info("{}: the CRM took this pilot back; sent {} held messages{}", name, resent,
        dropped == 0 ? "" : " (" + dropped + " bytes of output were dropped)");
  }

  // ------------------------------------------------------------------ redialling

  /**
   * The current, welcomed stream broke: redial, unless the pilot is ending or was never
   * welcomed. Returns whether it redials. Lock held.
   */
  private boolean startRedialling(String why) {
    if (reconnectCredential == null || stopped) {
      return false;
    }
    mode = Mode.REDIALLING;
    current = null;
    int n = ++outage;
    lostBecause = why;
    lastRedialError = null;
    redialDelay = REDIAL_FIRST;
    clearHeld();
    log.warn("{}: {}; keeping the guest and redialling the CRM for up to {} (reconnect_grace)",
        name, why, NodeManagerConfig.formatSeconds(grace));
    try {
      graceTimer = redials.schedule(() -> graceOver(n), grace.toMillis(), TimeUnit.MILLISECONDS);
      redials.execute(() -> redial(n));
    } catch (RejectedExecutionException e) {
      mode = Mode.CLOSED;
      return false;
    }
    return true;
  }

  /** A redial that was not welcomed failed: the next one after the back-off. Lock held. */
  private void redialFailed(String detail) {
    int n = outage;
    current = null;
    lastRedialError = detail;
    Duration delay = redialDelay;
    redialDelay = redialDelay.multipliedBy(2).compareTo(REDIAL_MAX) > 0 ? REDIAL_MAX
        : redialDelay.multipliedBy(2);
    log.debug("{}: redial failed ({}); next in {} ms", name, detail, delay.toMillis());
    try {
      redials.schedule(() -> redial(n), delay.toMillis(), TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      // ending: close() shut the executor down
    }
  }

  /** One redial of outage {@code n}, on the redial thread. */
  private void redial(int n) {
    PilotState now = listener.stateNow(); // never under the lock: see the class comment
    String host = physicalHost();
    ManagedChannel managed = channel instanceof ManagedChannel m ? m : null;
    boolean shutDown = managed != null && managed.isShutdown();
    String lost;
    synchronized (lock) {
      if (mode != Mode.REDIALLING || outage != n || current != null) {
        return;
      }
      if (!shutDown) {
        if (managed != null) {
          // grpc's own reconnect back-off grows to minutes; the redials set the pace instead
          managed.resetConnectBackoff();
        }
        PilotHello.Builder hello = PilotHello.newBuilder()
            .setJobId(identity.jobId())
            .setNodeIndex(identity.nodeIndex())
            .setCredential(reconnectCredential)
            .setHost(host)
            .setDriver(driverName)
            .setResume(true)
            .setState(now.toProto());
        // An exit sent on a broken stream may not have reached the GRC: the hello repeats it.
        // One that happened while redialling is held and follows the held output instead.
        boolean sentBefore = commandExit != null
            && held.stream().noneMatch(ConnectRequest::hasExit);
        if (sentBefore) {
          hello.setExit(commandExit);
        }
        dial(new Inbound(true, sentBefore), hello.build());
        return;
      }
      lost = lostBecause;
    }
    listener.onLost(Termination.Reason.CRM_FAILED, lost + "; cannot redial: the channel to the"
        + " CRM is shut down");
  }

  /** The grace of outage {@code n} is over: give up unless a redial was welcomed meanwhile. */
  private void graceOver(int n) {
    String message;
    synchronized (lock) {
      if (mode != Mode.REDIALLING || outage != n) {
        return;
      }
      message = "the CRM did not take this pilot back within reconnect_grace ("
          + NodeManagerConfig.formatSeconds(grace) + "): " + lostBecause
          + (lastRedialError == null ? "" : "; last redial: " + lastRedialError);
    }
    listener.onLost(Termination.Reason.CRM_FAILED, message);
  }

  // ------------------------------------------------------------------ held messages

  /** Lock held, mode OPEN. */
  private void sendNow(ConnectRequest message) {
    try {
      current.requestStream.onNext(message);
    } catch (RuntimeException e) {
      log.warn("{}: cannot send {}: {}", name, message.getKindCase(), e.toString());
    }
  }

  /**
   * Keeps a message for the stream that will be welcomed. Replies are dropped: they answer a
   * request of a stream that is gone. Output beyond {@link #HELD_OUTPUT_BYTES} is counted and
   * dropped. Lock held.
   */
  private void hold(ConnectRequest message) {
    switch (message.getKindCase()) {
      case REPLY -> log.debug("{}: stream lost; dropped the reply to request {}", name,
          message.getReply().getRequestId());
      case OUTPUT -> {
        int size = message.getOutput().getData().size();
        if (droppedOutputBytes > 0 || heldOutputBytes + size > HELD_OUTPUT_BYTES) {
          if (droppedOutputBytes == 0) {
            log.warn("{}: more than {} bytes of output while the CRM is away; dropping output"
                + " until it is back", name, HELD_OUTPUT_BYTES);
          }
          droppedOutputBytes += size;
        } else {
          heldOutputBytes += size;
          held.add(message);
        }
      }
      default -> held.add(message);
    }
  }

  /**
   * Sends what was held on the stream just welcomed, in order; a note on stderr how much output
   * was dropped follows the output that was kept (before the exit). Lock held, mode OPEN.
   */
  private void flushHeld(boolean helloCarriedExit, String host) {
    boolean noted = droppedOutputBytes == 0;
    for (ConnectRequest m : held) {
      if (m.hasExit()) {
        if (!noted) {
          sendNow(droppedNote(host));
          noted = true;
        }
        if (helloCarriedExit) {
          continue; // the CRM has it from the hello
        }
      }
      sendNow(m);
    }
    if (!noted) {
      sendNow(droppedNote(host));
    }
    clearHeld();
  }

  /** Lock held. */
  private void clearHeld() {
    held.clear();
    heldOutputBytes = 0;
    droppedOutputBytes = 0;
  }

  /** Lock held. */
  private ConnectRequest droppedNote(String host) {
    String note = "lambdagrid: " + droppedOutputBytes + " bytes of output of " + host
        + " were dropped while its pilot was disconnected from the CRM (at most "
        + HELD_OUTPUT_BYTES + " bytes are kept)\n";
    return ConnectRequest.newBuilder().setOutput(OutputChunk.newBuilder()
        .setStream(OutputChunk.Stream.STDERR).setHostname(host)
        .setData(ByteString.copyFromUtf8(note))).build();
  }

  /** The physical node's name, for the hello (informational). */
  static String physicalHost() {
    String env = System.getenv("HOSTNAME");
    if (env != null && !env.isBlank()) {
      return env;
    }
    try {
      return Files.readString(Path.of("/etc/hostname")).trim();
    } catch (IOException | RuntimeException e) {
      return "localhost";
    }
  }
}
