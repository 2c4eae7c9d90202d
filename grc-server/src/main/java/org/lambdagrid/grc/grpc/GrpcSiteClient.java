package org.lambdagrid.grc.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.lambdagrid.common.Channels;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.grc.site.SiteClient;
import org.lambdagrid.proto.v1.AbortRequest;
import org.lambdagrid.proto.v1.CollectKeysRequest;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.ExecCommandRequest;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.InstallTrustRequest;
import org.lambdagrid.proto.v1.InstallTrustResponse;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.OpenShareRequest;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.ReleaseRequest;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.StartGuestsRequest;
import org.lambdagrid.proto.v1.TrustBundle;
import org.lambdagrid.proto.v1.WatchShareRequest;
import org.lambdagrid.proto.v1.WatchShareResponse;

/**
 * {@link SiteClient} over a gRPC channel to a CRM's SiteService. Every unary call has a
 * deadline: a phase call gets the phase timeout (also sent in the request, so the CRM's own
 * deadline, which names the node, fires first) plus {@code margin}; the two-phase-commit calls,
 * OpenShare and ReleaseShare get {@code rpcTimeout}. WatchShare has none (it lives as long as the share).
 */
public final class GrpcSiteClient implements SiteClient {
  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final SiteServiceGrpc.SiteServiceBlockingStub blocking;
  private final SiteServiceGrpc.SiteServiceStub async;
  private final Duration rpcTimeout;
  private final Duration margin;

  public GrpcSiteClient(ManagedChannel channel, boolean ownsChannel, Duration rpcTimeout,
      Duration margin) {
    this.channel = channel;
    this.ownsChannel = ownsChannel;
    this.blocking = SiteServiceGrpc.newBlockingStub(channel);
    this.async = SiteServiceGrpc.newStub(channel);
    this.rpcTimeout = rpcTimeout;
    this.margin = margin;
  }

  /**
   * TCP clients, one channel per site and CRM endpoint, with the GRC's {@code tls} (plaintext if
   * insecure); the server must present a crm certificate whose CN is the site, so no other
   * site's CRM can answer for it. Certificate files are checked here, so a bad one stops the
   * GRC at start-up.
   */
  public static SiteClient.Factory factory(String source, TlsConfig tls,
      Duration rpcTimeout, Duration margin) {
    Tls.channelCredentials(source, tls, Role.CRM, null);
    return (site, ep) -> new GrpcSiteClient(Channels.forEndpoint(source, ep, tls, Role.CRM, site),
        true, rpcTimeout, margin);
  }

  private SiteServiceGrpc.SiteServiceBlockingStub within(Duration d) {
    return blocking.withDeadlineAfter(d.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public void prepare(PrepareRequest request) {
    within(rpcTimeout).prepare(request);
  }

  @Override
  public void commit(String reservationId) {
    within(rpcTimeout).commit(CommitRequest.newBuilder().setReservationId(reservationId).build());
  }

  @Override
  public void abort(String reservationId) {
    within(rpcTimeout).abort(AbortRequest.newBuilder().setReservationId(reservationId).build());
  }

  @Override
  public void release(String reservationId, String reason) {
    within(rpcTimeout).release(ReleaseRequest.newBuilder().setReservationId(reservationId)
        .setReason(reason).build());
  }

  @Override
  public void openShare(String jobId, String reservationId, String user) {
    within(rpcTimeout).openShare(OpenShareRequest.newBuilder().setJobId(jobId)
        .setReservationId(reservationId).setUser(user).build());
  }

  @Override
  public void releaseShare(String jobId, String reason) {
    within(rpcTimeout).releaseShare(ReleaseShareRequest.newBuilder().setJobId(jobId)
        .setReason(reason).build());
  }

  @Override
  public List<NodeEntry> setupNodes(SetupNodesRequest request) {
    Duration t = ProtoTime.fromProto(request.getTimeout());
    return within(t.plus(margin)).setupNodes(request).getNodesList();
  }

  @Override
  public List<NodeKeys> collectKeys(String jobId, Duration timeout) {
    return within(timeout.plus(margin)).collectKeys(CollectKeysRequest.newBuilder()
        .setJobId(jobId).setTimeout(ProtoTime.toProto(timeout)).build()).getKeysList();
  }

  @Override
  public void installTrust(String jobId, TrustBundle bundle, Duration timeout) {
    within(timeout.plus(margin)).installTrust(InstallTrustRequest.newBuilder().setJobId(jobId)
        .setBundle(bundle).setTimeout(ProtoTime.toProto(timeout)).build());
  }

  /**
   * The same request on the wire, with the bundle's bytes as they are: job_id and timeout
   * encoded, then field 2 (bundle) as a length-delimited field holding {@code serialized}
   * (fields may come in any order), sent through InstallTrust with a marshaller for bytes. So the
   * bundle is not encoded again for every site; the CRM parses an ordinary request.
   */
  @Override
  public void installTrust(String jobId, TrustBundle bundle, ByteString serialized,
      Duration timeout) {
    ByteString head = InstallTrustRequest.newBuilder().setJobId(jobId)
        .setTimeout(ProtoTime.toProto(timeout)).build().toByteString();
    ByteString.Output tag = ByteString.newOutput(16);
    try {
      CodedOutputStream c = CodedOutputStream.newInstance(tag);
      c.writeTag(InstallTrustRequest.BUNDLE_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
      c.writeUInt32NoTag(serialized.size());
      c.flush();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e); // writing to memory
    }
    ClientCalls.blockingUnaryCall(channel, INSTALL_TRUST_BYTES, CallOptions.DEFAULT
        .withDeadlineAfter(timeout.plus(margin).toMillis(), TimeUnit.MILLISECONDS),
        head.concat(tag.toByteString()).concat(serialized));
  }

  /** InstallTrust with the request given as its serialized bytes. */
  private static final MethodDescriptor<ByteString, InstallTrustResponse> INSTALL_TRUST_BYTES =
      SiteServiceGrpc.getInstallTrustMethod().toBuilder(new MethodDescriptor.Marshaller<ByteString>() {
        @Override
        public java.io.InputStream stream(ByteString value) {
          return value.newInput();
        }

        @Override
        public ByteString parse(java.io.InputStream in) {
          try {
            return ByteString.readFrom(in);
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }
      }, SiteServiceGrpc.getInstallTrustMethod().getResponseMarshaller()).build();

  @Override
  public void startGuests(String jobId, Duration timeout) {
    within(timeout.plus(margin)).startGuests(StartGuestsRequest.newBuilder().setJobId(jobId)
        .setTimeout(ProtoTime.toProto(timeout)).build());
  }

  @Override
  public void execCommand(String jobId, String hostname, ExecSpec exec, Duration timeout) {
    within(timeout.plus(margin)).execCommand(ExecCommandRequest.newBuilder().setJobId(jobId)
        .setHostname(hostname).setExec(exec).build());
  }

  @Override
  public AutoCloseable watchShare(String jobId, ShareListener listener) {
    AtomicBoolean closedByUs = new AtomicBoolean();
    ClientCallStreamObserver<?>[] call = new ClientCallStreamObserver<?>[1];
    async.watchShare(WatchShareRequest.newBuilder().setJobId(jobId).build(),
        new ClientResponseObserver<WatchShareRequest, WatchShareResponse>() {
          @Override
          public void beforeStart(ClientCallStreamObserver<WatchShareRequest> requestStream) {
            call[0] = requestStream;
          }

          @Override
          public void onNext(WatchShareResponse r) {
            if (!listener.fresh(r.getIncarnation(), r.getSeq())) {
              return;
            }
            switch (r.getKindCase()) {
              case EVENT -> listener.onEvent(r.getEvent());
              case OUTPUT -> listener.onOutput(r.getOutput());
              case EXIT -> listener.onExit(r.getExit());
              default -> { }
            }
          }

          @Override
          public void onError(Throwable t) {
            if (!closedByUs.get()) {
              listener.onClosed(t);
            }
          }

          @Override
          public void onCompleted() {
            if (!closedByUs.get()) {
              listener.onClosed(null);
            }
          }
        });
    return () -> {
      if (closedByUs.compareAndSet(false, true) && call[0] != null) {
        call[0].cancel("the GRC stopped watching", null);
      }
    };
  }

  @Override
  public void close() {
    if (ownsChannel) {
      Channels.close(channel);
    }
  }
}
