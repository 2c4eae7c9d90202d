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
import org.lambdagrid.crm.overlay.OverlayPlan;
import org.lambdagrid.crm.overlay.SiteOverlay;
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
  private final SiteOverlay overlay;

  public SiteServiceImpl(SiteShares shares) {
    this(shares, null);
  }

  /** {@code overlay}: this routed site's overlay builder; null when the site is not routed. */
  public SiteServiceImpl(SiteShares shares, SiteOverlay overlay) {
    this.shares = shares;
    this.overlay = overlay;
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
      // The overlay plan is checked and recorded before the hold (never under its lock): a
      // CRM killed after the hold finds it; a refused prepare forgets a plan it recorded.
      // A retried prepare of the same plan counts too: the sweep leaves the record alone until
      // the hold is taken, and Commit then insists on the record (expect). The hold itself
      // records that it has an overlay end (SiteLedger), so a restarted CRM expects it too.
      boolean hasOverlay = req.hasOverlay();
      boolean recordedNow = hasOverlay
          && overlay(req.getReservationId()).record(OverlayPlan.from(req.getReservationId(), req.getOverlay()));
      try {
        // The batch system must answer before the GRC stops waiting (its rpc_timeout).
        shares.reservations().prepare(req.getReservationId(), new Window(start, end),
            req.getNodeCount(), range, req.getUser(), hasOverlay,
            SiteReservations.answerBy(io.grpc.Context.current().getDeadline()));
        if (hasOverlay) {
          overlay.expect(req.getReservationId());
        }
      } catch (RuntimeException e) {
        // Only a record this call made, unless a live hold says it has an overlay end (then it is
        // that hold's), and only when no other prepare of it is under way.
        if (recordedNow && !(live(req.getReservationId())
            && shares.reservations().hasOverlay(req.getReservationId()))) {
          overlay.removeUnclaimed(req.getReservationId());
        }
        throw e;
      } finally {
        if (hasOverlay) {
          overlay.settled(req.getReservationId());
        }
      }
      return PrepareResponse.getDefaultInstance();
    });
  }

  @Override
  public void commit(CommitRequest req, StreamObserver<CommitResponse> out) {
    unary(out, () -> {
      try {
        shares.reservations().commit(req.getReservationId());
      } catch (RuntimeException e) {
        try {
          dropIfEnded(req.getReservationId()); // expired or aborted: its overlay too
        } catch (RuntimeException overlayFailed) {
          e.addSuppressed(overlayFailed); // the commit's own error is what the GRC needs
        }
        throw e;
      }
      if (overlay != null) {
        // Built after the hold is committed; a failed build fails the commit (INTERNAL), which
        // the GRC retries, and Release removes it either way.
        overlay.build(req.getReservationId());
      }
      return CommitResponse.getDefaultInstance();
    });
  }

  @Override
  public void abort(AbortRequest req, StreamObserver<AbortResponse> out) {
    unary(out, () -> {
      try {
        shares.reservations().abort(req.getReservationId());
      } finally {
        dropIfEnded(req.getReservationId());
      }
      return AbortResponse.getDefaultInstance();
    });
  }

  @Override
  public void release(ReleaseRequest req, StreamObserver<ReleaseResponse> out) {
    unary(out, () -> {
      try {
        shares.releaseReservation(req.getReservationId(), req.getReason());
      } finally {
        dropIfEnded(req.getReservationId());
      }
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

  private SiteOverlay overlay(String reservationId) {
    if (overlay == null) {
      throw Errors.precondition("overlay: reservation " + reservationId + " asks this site for a VXLAN"
          + " overlay end, but its crm.yaml has no overlay: section (the site is not routed)");
    }
    return overlay;
  }

  private boolean live(String id) {
    java.util.Optional<org.lambdagrid.common.reservation.HoldTable.State> st = shares.reservations().state(id);
    return st.isPresent() && (st.get() == org.lambdagrid.common.reservation.HoldTable.State.PREPARED
        || st.get() == org.lambdagrid.common.reservation.HoldTable.State.COMMITTED);
  }

  /** Removes the overlay of {@code id} once its hold is not live (ended, expired, never held). */
  private void dropIfEnded(String id) {
    if (overlay != null && id != null && !id.isEmpty() && !live(id)) {
      try {
        overlay.remove(id);
      } finally {
        overlay.forget(id); // the hold has ended, whether or not its devices are gone yet
      }
    }
  }

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
