package org.lambdagrid.crm.testing;

import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import com.google.protobuf.ByteString;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.ConnectResponse.CommandCase;
import org.lambdagrid.proto.v1.ExecResult;
import org.lambdagrid.proto.v1.GetKeysResult;
import org.lambdagrid.proto.v1.GetStatusResult;
import org.lambdagrid.proto.v1.NodeNotification;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.PilotHello;
import org.lambdagrid.proto.v1.PilotServiceGrpc;
import org.lambdagrid.proto.v1.RunResult;
import org.lambdagrid.proto.v1.SetKeysResult;
import org.lambdagrid.proto.v1.SetupResult;
import org.lambdagrid.proto.v1.ShutdownResult;

/**
 * A hand-written pilot for tests: dials PilotService over a real stub, says hello, and answers
 * each command as configured (default: success, with fake keys for GET_KEYS). Not a product fake:
 * it builds no guest. Records every command it received.
 *
 * <p>Per command type, {@link #answer} sets a responder returning the reply to send, or null to
 * stay silent. Thread-safe.
 */
public final class TestPilot {
  /** Builds the reply for a command, or returns null to not answer. */
  public interface Responder extends Function<ConnectResponse, CommandReply> {}

  private final PilotServiceGrpc.PilotServiceStub stub;
  private final String jobId;
  private final int nodeIndex;
  private final String credential;
  private final Map<CommandCase, Responder> responders = new ConcurrentHashMap<>();
  private final List<ConnectResponse> received = new CopyOnWriteArrayList<>();
  private final CompletableFuture<Status> closed = new CompletableFuture<>();
  private volatile ClientCallStreamObserver<ConnectRequest> requests;
  private volatile String hostname = "";
  private final CompletableFuture<String> welcome = new CompletableFuture<>();
  private volatile PilotHello resumeHello;

  public TestPilot(Channel channel, String jobId, int nodeIndex, String credential) {
    this.stub = PilotServiceGrpc.newStub(channel);
    this.jobId = jobId;
    this.nodeIndex = nodeIndex;
    this.credential = credential;
  }

  public TestPilot(Channel channel, PilotLaunch launch) {
    this(channel, launch.jobId(), launch.nodeIndex(), launch.credential());
  }

  /** Fake but well-formed OpenSSH public keys for a host. */
  public static GetKeysResult keysFor(String hostname) {
    return GetKeysResult.newBuilder()
        .setHostPublicKey("ssh-ed25519 AAAAC3host" + hostname + " root@" + hostname)
        .setUserPublicKey("ssh-ed25519 AAAAC3user" + hostname + " user@" + hostname).build();
  }

  /** Sets how to answer one command type. */
  public TestPilot answer(CommandCase command, Responder responder) {
    responders.put(command, responder);
    return this;
  }

  /** Answers one command type with an error. */
  public TestPilot failOn(CommandCase command, String error) {
    return answer(command, c -> CommandReply.newBuilder().setRequestId(c.getRequestId())
        .setError(error).build());
  }

  /** Never answers one command type. */
  public TestPilot silentOn(CommandCase command) {
    return answer(command, c -> null);
  }

  /** Opens the stream and sends the hello. */
  public TestPilot connect() {
    // Never inherit a caller's (e.g. SetupNodes') context: its end would cancel this stream.
    Context.ROOT.run(this::open);
    PilotHello hello = resumeHello != null ? resumeHello : PilotHello.newBuilder().setJobId(jobId)
        .setNodeIndex(nodeIndex).setCredential(credential).setHost("testhost").setDriver("test")
        .build();
    send(ConnectRequest.newBuilder().setHello(hello).build());
    return this;
  }

  /**
   * A pilot that redials after its stream broke (call {@link #connect} on it): the hello has
   * resume set, {@code reconnectCredential}, {@code state} and, if not null, the exit.
   */
  public static TestPilot resuming(Channel channel, String jobId, int nodeIndex,
      String reconnectCredential, NodeState state, CommandExit exit) {
    TestPilot p = new TestPilot(channel, jobId, nodeIndex, reconnectCredential);
    PilotHello.Builder h = PilotHello.newBuilder().setJobId(jobId).setNodeIndex(nodeIndex)
        .setCredential(reconnectCredential).setHost("testhost").setDriver("test")
        .setResume(true).setState(state);
    if (exit != null) {
      h.setExit(exit);
    }
    p.resumeHello = h.build();
    return p;
  }

  /** Completes with the reconnect credential of the CRM's welcome. */
  public CompletableFuture<String> welcome() {
    return welcome;
  }

  private void open() {
    stub.connect(new ClientResponseObserver<ConnectRequest, ConnectResponse>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<ConnectRequest> r) {
        requests = r;
      }

      @Override
      public void onNext(ConnectResponse command) {
        handle(command);
      }

      @Override
      public void onError(Throwable t) {
        closed.complete(Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {
        closed.complete(Status.OK);
        send(null);
      }
    });
  }

  private void handle(ConnectResponse command) {
    if (command.hasWelcome()) {
      welcome.complete(command.getWelcome().getReconnectCredential());
      return; // not a command: never answered
    }
    received.add(command);
    if (command.hasSetup()) {
      hostname = command.getSetup().getHostname();
    }
    Responder r = responders.getOrDefault(command.getCommandCase(), TestPilot::succeed);
    CommandReply reply = r.apply(command);
    if (reply != null) {
      send(ConnectRequest.newBuilder().setReply(reply).build());
    }
    if (command.hasShutdown() && reply != null) {
      hangUp();
    }
  }

  /** The default answer: success with a plausible result. */
  public static CommandReply succeed(ConnectResponse c) {
    CommandReply.Builder b = CommandReply.newBuilder().setRequestId(c.getRequestId());
    switch (c.getCommandCase()) {
      case SETUP -> b.setSetup(SetupResult.getDefaultInstance());
      case GET_KEYS -> b.setGetKeys(keysFor("node" + c.getRequestId()));
      case SET_KEYS -> b.setSetKeys(SetKeysResult.getDefaultInstance());
      case RUN -> b.setRun(RunResult.getDefaultInstance());
      case EXEC -> b.setExec(ExecResult.getDefaultInstance());
      case SHUTDOWN -> b.setShutdown(ShutdownResult.getDefaultInstance());
      case GET_STATUS -> b.setGetStatus(GetStatusResult.getDefaultInstance());
      default -> { }
    }
    return b.build();
  }

  /** Reports that the EXEC'd command ended. */
  public void exit(int code) {
    send(ConnectRequest.newBuilder().setExit(CommandExit.newBuilder().setExitCode(code)).build());
  }

  public void output(String text) {
    send(ConnectRequest.newBuilder().setOutput(OutputChunk.newBuilder()
        .setStream(OutputChunk.Stream.STDOUT)
        .setData(ByteString.copyFrom(text, StandardCharsets.UTF_8))).build());
  }

  public void notify(NodeState state, String message) {
    send(ConnectRequest.newBuilder().setNotification(NodeNotification.newBuilder()
        .setState(state).setMessage(message)).build());
  }

  /** A note: a message that changes no state. */
  public void note(NodeState state, String message) {
    send(ConnectRequest.newBuilder().setNotification(NodeNotification.newBuilder()
        .setState(state).setMessage(message).setNote(true)).build());
  }

  /** Breaks the stream, as a crashed pilot would. */
  public void crash() {
    ClientCallStreamObserver<ConnectRequest> r = requests;
    if (r != null) {
      r.cancel("test pilot crashed", null);
    }
  }

  /** Closes the stream cleanly. */
  public void hangUp() {
    send(null);
  }

  private void send(ConnectRequest request) {
    ClientCallStreamObserver<ConnectRequest> r = requests;
    if (r == null) {
      return;
    }
    synchronized (this) {
      try {
        if (request == null) {
          r.onCompleted();
        } else {
          r.onNext(request);
        }
      } catch (IllegalStateException e) {
        // already half-closed or cancelled
      }
    }
  }

  public List<ConnectResponse> received() {
    return List.copyOf(received);
  }

  public List<CommandCase> receivedCommands() {
    return received.stream().map(ConnectResponse::getCommandCase).toList();
  }

  /** Completes with the stream's final status (PERMISSION_DENIED when refused). */
  public CompletableFuture<Status> closed() {
    return closed;
  }

  public String hostname() {
    return hostname;
  }

  public int nodeIndex() {
    return nodeIndex;
  }
}
