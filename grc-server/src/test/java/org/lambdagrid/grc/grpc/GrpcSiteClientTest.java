package org.lambdagrid.grc.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.site.SiteClient;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.SetupNodesResponse;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.TrustBundle;
import org.lambdagrid.proto.v1.WatchShareRequest;
import org.lambdagrid.proto.v1.WatchShareResponse;

class GrpcSiteClientTest {
  private final AtomicBoolean watchCancelled = new AtomicBoolean();
  private final List<org.lambdagrid.proto.v1.InstallTrustRequest> trusts =
      new CopyOnWriteArrayList<>();
  private Server server;
  private ManagedChannel channel;
  private GrpcSiteClient client;

  @BeforeEach
  void setUp() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name).addService(new SiteServiceGrpc.SiteServiceImplBase() {
      @Override
      public void setupNodes(SetupNodesRequest req, StreamObserver<SetupNodesResponse> out) {
        // never answers
      }

      @Override
      public void prepare(org.lambdagrid.proto.v1.PrepareRequest req,
          StreamObserver<org.lambdagrid.proto.v1.PrepareResponse> out) {
        // never answers
      }

      @Override
      public void installTrust(org.lambdagrid.proto.v1.InstallTrustRequest req,
          StreamObserver<org.lambdagrid.proto.v1.InstallTrustResponse> out) {
        trusts.add(req);
        out.onNext(org.lambdagrid.proto.v1.InstallTrustResponse.getDefaultInstance());
        out.onCompleted();
      }

      @Override
      public void watchShare(WatchShareRequest req, StreamObserver<WatchShareResponse> out) {
        ServerCallStreamObserver<WatchShareResponse> call =
            (ServerCallStreamObserver<WatchShareResponse>) out;
        call.setOnCancelHandler(() -> watchCancelled.set(true));
        call.onNext(WatchShareResponse.newBuilder().setEvent(Event.newBuilder()
            .setHostname("a-0").setNodeState(NodeState.NODE_SET_UP))
            .setIncarnation("i1").setSeq(1).build());
        call.onNext(WatchShareResponse.newBuilder().setExit(CommandExit.newBuilder()
            .setHostname("a-0").setExitCode(4)).setIncarnation("i1").setSeq(2).build());
      }
    }).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
    client = new GrpcSiteClient(channel, true, Duration.ofSeconds(5), Duration.ofMillis(100));
  }

  @AfterEach
  void tearDown() {
    client.close();
    server.shutdownNow();
  }

  @Test
  void aTwoPhaseCommitCallHasTheRpcTimeoutAsDeadline() {
    GrpcSiteClient quick = new GrpcSiteClient(channel, false, Duration.ofMillis(300),
        Duration.ofMillis(100));
    long t0 = System.nanoTime();
    assertThatExceptionOfType(StatusRuntimeException.class)
        .isThrownBy(() -> quick.prepare(org.lambdagrid.proto.v1.PrepareRequest.newBuilder()
            .setReservationId("r-1").build()))
        .matches(e -> e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(3));
  }

  @Test
  void aBundleSerializedOnceArrivesAsTheOrdinaryRequest() {
    TrustBundle bundle = TrustBundle.newBuilder()
        .addNodes(NodeEntry.newBuilder().setSite("a").setHostname("a-0").setAddress("10.0.0.1"))
        .setHostfile("10.0.0.1 slots=1\n").setKnownHosts("a-0,10.0.0.1 ssh-ed25519 AAAA\n")
        .setAuthorizedKeys("ssh-ed25519 BBBB\n").setHosts("10.0.0.1 a-0\n").build();
    client.installTrust("j-1", bundle, bundle.toByteString(), Duration.ofSeconds(7));
    client.installTrust("j-2", bundle, Duration.ofSeconds(7));
    assertThat(trusts).hasSize(2);
    assertThat(trusts.get(0)).isEqualTo(trusts.get(1).toBuilder().setJobId("j-1").build());
    assertThat(trusts.get(0).getBundle()).isEqualTo(bundle);
    assertThat(trusts.get(0).getUnknownFields().asMap()).isEmpty();
    assertThat(ProtoTime.fromProto(trusts.get(0).getTimeout())).isEqualTo(Duration.ofSeconds(7));
  }

  @Test
  void aPhaseCallHasTheTimeoutPlusMarginAsDeadline() {
    long t0 = System.nanoTime();
    assertThatExceptionOfType(StatusRuntimeException.class)
        .isThrownBy(() -> client.setupNodes(SetupNodesRequest.newBuilder().setJobId("j-1")
            .setTimeout(ProtoTime.toProto(Duration.ofMillis(200))).build()))
        .matches(e -> e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
  }

  @Test
  void watchShareDeliversAndCloseCancelsWithoutReportingAnError() {
    Recorder rec = new Recorder();
    List<String> seen = rec.seen;
    AutoCloseable handle = client.watchShare("j-1", rec);
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 2);
    assertThat(seen).containsExactly("event a-0", "exit 4");
    try {
      handle.close();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    await().atMost(Duration.ofSeconds(10)).untilTrue(watchCancelled);
    assertThat(seen).doesNotContain("closed");
  }

  @Test
  void watchShareAsksTheListenerBeforeDeliveringAStampedUpdate() throws Exception {
    List<String> asked = new CopyOnWriteArrayList<>();
    Recorder rec = new Recorder() {
      @Override
      public boolean fresh(String incarnation, long seq) {
        asked.add(incarnation + "#" + seq);
        return seq > 1; // as if update 1 of i1 had come on an earlier stream
      }
    };
    List<String> seen = rec.seen;
    AutoCloseable handle = client.watchShare("j-1", rec);
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 1);
    assertThat(asked).containsExactly("i1#1", "i1#2");
    assertThat(seen).containsExactly("exit 4");
    handle.close();
  }

  /** Records what a watch delivers, as short strings. */
  private static class Recorder implements SiteClient.ShareListener {
    final List<String> seen = new CopyOnWriteArrayList<>();

    @Override
    public void onEvent(Event event) {
      seen.add("event " + event.getHostname());
    }

    @Override
    public void onOutput(OutputChunk chunk) {
      seen.add("output");
    }

    @Override
    public void onExit(CommandExit exit) {
      seen.add("exit " + exit.getExitCode());
    }

    @Override
    public void onClosed(Throwable error) {
      seen.add("closed");
    }
  }
}
