package org.lambdagrid.crm.site;

import static org.lambdagrid.common.GrpcCalls.serverStream;
import static org.lambdagrid.common.GrpcCalls.unary;

import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.proto.v1.AbortRequest;
import org.lambdagrid.proto.v1.AbortResponse;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CollectKeysRequest;
import org.lambdagrid.proto.v1.CollectKeysResponse;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.CommitResponse;
import org.lambdagrid.proto.v1.ExecCommandRequest;
import org.lambdagrid.proto.v1.ExecCommandResponse;
import org.lambdagrid.proto.v1.InstallTrustRequest;
import org.lambdagrid.proto.v1.InstallTrustResponse;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.ReleaseShareResponse;
import org.lambdagrid.proto.v1.OpenShareRequest;
import org.lambdagrid.proto.v1.OpenShareResponse;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.PrepareResponse;
import org.lambdagrid.proto.v1.ReleaseRequest;
import org.lambdagrid.proto.v1.ReleaseResponse;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.SetupNodesResponse;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.StartGuestsRequest;
import org.lambdagrid.proto.v1.StartGuestsResponse;
import org.lambdagrid.proto.v1.WatchShareRequest;
import org.lambdagrid.proto.v1.WatchShareResponse;

/**
 * SiteService over {@link SiteShares}: converts requests to plain arguments, calls the core,
 * converts back; core errors become their status with {@link Errors#toStatus}.
 *
 * <p>Phase calls block a server thread until their barrier completes, so the server must not use
 * a direct executor.
 */
public final class SiteServiceImpl extends SiteServiceGrpc.SiteServiceImplBase {
  private final SiteShares shares;

  public SiteServiceImpl(SiteShares shares) {
    this.shares = shares;
  }

  @Override
  public void prepare(PrepareRequest req, StreamObserver<PrepareResponse> out) {
    unary(out, () -> {
      Ipv4Cidr range = cidr("range", req.getRange());
      if (!req.hasStart() || !req.hasEnd()) {
        throw Errors.invalid(req.hasStart() ? "end" : "start", "", "is missing");
      }
      Instant start = ProtoTime.fromProto(req.getStart());
      Instant end = ProtoTime.fromProto(req.getEnd());
      if (!end.isAfter(start)) {
        throw Errors.invalid("end", end, "is not after start " + start);
      }
      // The batch system must answer before the GRC stops waiting (its rpc_timeout).
      shares.reservations().prepare(req.getReservationId(), new Window(start, end),
          req.getNodeCount(), range, req.getUser(),
          SiteReservations.answerBy(io.grpc.Context.current().getDeadline()));
      return PrepareResponse.getDefaultInstance();
    });
  }

  @Override
  public void commit(CommitRequest req, StreamObserver<CommitResponse> out) {
    unary(out, () -> {
      shares.reservations().commit(req.getReservationId());
      return CommitResponse.getDefaultInstance();
    });
  }

  @Override
  public void abort(AbortRequest req, StreamObserver<AbortResponse> out) {
    unary(out, () -> {
      shares.reservations().abort(req.getReservationId());
      return AbortResponse.getDefaultInstance();
    });
  }

  @Override
  public void release(ReleaseRequest req, StreamObserver<ReleaseResponse> out) {
    unary(out, () -> {
      shares.releaseReservation(req.getReservationId(), req.getReason());
      return ReleaseResponse.getDefaultInstance();
    });
  }

  @Override
  public void openShare(OpenShareRequest req, StreamObserver<OpenShareResponse> out) {
    unary(out, () -> {
      shares.openShare(req.getJobId(), req.getReservationId(), req.getUser());
      return OpenShareResponse.getDefaultInstance();
    });
  }

  @Override
  public void releaseShare(ReleaseShareRequest req, StreamObserver<ReleaseShareResponse> out) {
    unary(out, () -> {
      shares.release(req.getJobId(), req.getReason());
      return ReleaseShareResponse.getDefaultInstance();
    });
  }

  @Override
  public void setupNodes(SetupNodesRequest req, StreamObserver<SetupNodesResponse> out) {
    unary(out, () -> {
      List<Ipv4Cidr> peers = new ArrayList<>();
      for (int i = 0; i < req.getPeerRangesCount(); i++) {
        peers.add(cidr("peer_ranges[" + i + "]", req.getPeerRanges(i)));
      }
      if (req.getSlotsPerNode() < 0) {
        throw Errors.invalid("slots_per_node", req.getSlotsPerNode(), "must not be negative");
      }
      SetupParams params = new SetupParams(req.getUser(), peers,
          req.hasTimeout() ? ProtoTime.fromProto(req.getTimeout()) : null,
          req.getSlotsPerNode(), bridge(req.getBridge()),
          NodeShape.checked("cpus", req.getCpus(), "memory_bytes", req.getMemoryBytes()));
      checkSite(req.getSite());
      return SetupNodesResponse.newBuilder()
          .addAllNodes(shares.setupNodes(req.getJobId(), params)).build();
    });
  }

  @Override
  public void collectKeys(CollectKeysRequest req, StreamObserver<CollectKeysResponse> out) {
    unary(out, () -> CollectKeysResponse.newBuilder()
        .addAllKeys(shares.collectKeys(req.getJobId(), timeout(req.hasTimeout(), req.getTimeout())))
        .build());
  }

  @Override
  public void installTrust(InstallTrustRequest req, StreamObserver<InstallTrustResponse> out) {
    unary(out, () -> {
      shares.installTrust(req.getJobId(), req.getBundle(),
          timeout(req.hasTimeout(), req.getTimeout()));
      return InstallTrustResponse.getDefaultInstance();
    });
  }

  @Override
  public void startGuests(StartGuestsRequest req, StreamObserver<StartGuestsResponse> out) {
    unary(out, () -> {
      shares.startGuests(req.getJobId(), timeout(req.hasTimeout(), req.getTimeout()));
      return StartGuestsResponse.getDefaultInstance();
    });
  }

  @Override
  public void execCommand(ExecCommandRequest req, StreamObserver<ExecCommandResponse> out) {
    unary(out, () -> {
      shares.execCommand(req.getJobId(), req.getHostname(), req.getExec());
      return ExecCommandResponse.getDefaultInstance();
    });
  }

  @Override
  public void watchShare(WatchShareRequest req, StreamObserver<WatchShareResponse> out) {
    serverStream(out, call -> shares.watch(req.getJobId(), new ShareWatcher() {
        @Override
        public void onUpdate(WatchShareResponse update) {
          if (!call.isCancelled()) {
            call.onNext(update);
          }
        }

        @Override
        public void onReleased() {
          if (!call.isCancelled()) {
            call.onCompleted();
          }
        }

        @Override
        public void onSuspended(String why) {
          if (!call.isCancelled()) {
            call.onError(io.grpc.Status.UNAVAILABLE.withDescription(why).asRuntimeException());
          }
        }
      }));
  }

  /** A Linux interface name (at most 15 characters, no '/', no whitespace) or empty. */
  private static final java.util.regex.Pattern IFNAME =
      java.util.regex.Pattern.compile("[A-Za-z0-9_.-]{1,15}");

  static String bridge(String name) {
    if (!name.isEmpty() && !IFNAME.matcher(name).matches()) {
      throw Errors.invalid("bridge", name, "is not an interface name (1-15 of A-Z a-z 0-9 _ . -)");
    }
    return name;
  }

  private void checkSite(String site) {
    // Hostnames are "<site>-<index>" with this CRM's site name; a different one is a GRC bug.
    if (!site.isEmpty() && !site.equals(shares.siteName())) {
      throw Errors.invalid("site", site, "is not this site ('" + shares.siteName() + "')");
    }
  }

  private static Ipv4Cidr cidr(String field, AddressRange range) {
    try {
      return Ipv4Cidr.parse(range.getCidr());
    } catch (IllegalArgumentException e) {
      throw Errors.invalid(field, range.getCidr(), "is not a CIDR block (expected a.b.c.d/n)");
    }
  }

  private static Duration timeout(boolean has, com.google.protobuf.Duration d) {
    return has ? ProtoTime.fromProto(d) : null;
  }
}
