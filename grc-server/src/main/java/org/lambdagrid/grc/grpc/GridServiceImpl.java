package org.lambdagrid.grc.grpc;

import static org.lambdagrid.common.GrpcCalls.pumped;
import static org.lambdagrid.common.GrpcCalls.unary;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.List;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.security.PeerIdentity;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.grc.job.JobCoordinator;
import org.lambdagrid.grc.job.JobRecord;
import org.lambdagrid.grc.reservation.ReservationService;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.site.TrustBundles;
import org.lambdagrid.grc.support.Paging;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.CancelJobResponse;
import org.lambdagrid.proto.v1.CancelReservationRequest;
import org.lambdagrid.proto.v1.CancelReservationResponse;
import org.lambdagrid.proto.v1.GetHostsRequest;
import org.lambdagrid.proto.v1.GetHostsResponse;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.GetJobResponse;
import org.lambdagrid.proto.v1.GetReservationRequest;
import org.lambdagrid.proto.v1.GetReservationResponse;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.ListJobsRequest;
import org.lambdagrid.proto.v1.ListJobsResponse;
import org.lambdagrid.proto.v1.ListReservationsRequest;
import org.lambdagrid.proto.v1.ListReservationsResponse;
import org.lambdagrid.proto.v1.ListSitesRequest;
import org.lambdagrid.proto.v1.ListSitesResponse;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReserveRequest;
import org.lambdagrid.proto.v1.ReserveResponse;
import org.lambdagrid.proto.v1.StreamOutputRequest;
import org.lambdagrid.proto.v1.StreamOutputResponse;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.SubmitJobResponse;
import org.lambdagrid.proto.v1.WatchJobRequest;
import org.lambdagrid.proto.v1.WatchJobResponse;

/**
 * GridService: what users call. Thin adapter over {@link JobCoordinator} and
 * {@link ReservationService}. With TLS a user certificate reaches only its own jobs and
 * reservations (another user's are NOT_FOUND, as if they did not exist); operators reach all.
 */
public final class GridServiceImpl extends GridServiceGrpc.GridServiceImplBase {
  private final SiteRegistry registry;
  private final JobCoordinator coordinator;
  private final ReservationService reservations;

  public GridServiceImpl(SiteRegistry registry, JobCoordinator coordinator,
      ReservationService reservations) {
    this.registry = registry;
    this.coordinator = coordinator;
    this.reservations = reservations;
  }

  /** The reservation id of a request about one reservation, checked against the caller. */
  private String reservationId(String id) {
    if (id.isEmpty()) {
      throw Errors.invalid("reservation_id", id, "is missing");
    }
    PeerIdentity peer = PeerIdentity.current();
    if (peer != null && peer.role() == Role.USER
        && !reservations.record(id).user().equals(peer.name())) {
      throw Errors.notFound("user '" + peer.name() + "' has no reservation '" + id + "'");
    }
    return id;
  }

  /**
   * The job id of a request about one job, checked against the caller: with TLS, a user
   * certificate reaches only that user's own jobs (others are NOT_FOUND, as if they did not
   * exist); operators reach every job. Without TLS there is no caller to check.
   */
  private String jobId(String id) {
    if (id.isEmpty()) {
      throw Errors.invalid("job_id", id, "is missing");
    }
    PeerIdentity peer = PeerIdentity.current();
    if (peer != null && peer.role() == Role.USER
        && !coordinator.get(id).getSpec().getUser().equals(peer.name())) {
      throw Errors.notFound("user '" + peer.name() + "' has no job '" + id + "'");
    }
    return id;
  }

  /**
   * The user whose jobs or reservations a list shows: a user certificate sees only its own
   * (whatever it asks); operators, and callers without TLS, see the user asked ("" = all).
   */
  private static String listedUser(String asked) {
    PeerIdentity peer = PeerIdentity.current();
    return peer != null && peer.role() == Role.USER ? peer.name() : asked;
  }

  @Override
  public void listSites(ListSitesRequest req, StreamObserver<ListSitesResponse> out) {
    ListSitesResponse.Builder b = ListSitesResponse.newBuilder();
    registry.list().forEach(s -> b.addSites(Protos.siteInfo(s,
        reservations.nodesInUse(s.name()))));
    out.onNext(b.build());
    out.onCompleted();
  }

  @Override
  public void submitJob(SubmitJobRequest req, StreamObserver<SubmitJobResponse> out) {
    unary(out, () -> {
      if (!req.hasSpec()) {
        throw Errors.invalid("spec", "", "is missing");
      }
      return SubmitJobResponse.newBuilder().setJob(coordinator.submit(asCaller(req.getSpec())))
          .build();
    });
  }

  /**
   * With TLS the job runs as the user of the caller's certificate: a user certificate's CN fills
   * an empty {@code spec.user} and must equal a given one (PERMISSION_DENIED otherwise); an
   * operator certificate submits for the user the spec names. Without TLS (in process, or
   * {@code insecure: true}) the spec's user is taken as given.
   */
  static JobSpec asCaller(JobSpec spec) {
    String user = caller(spec.getUser(), "submit a job");
    return user.equals(spec.getUser()) ? spec : spec.toBuilder().setUser(user).build();
  }

  /** As {@link #asCaller(JobSpec)}, for a reservation. */
  static ReservationSpec asCaller(ReservationSpec spec) {
    String user = caller(spec.getUser(), "reserve");
    return user.equals(spec.getUser()) ? spec : spec.toBuilder().setUser(user).build();
  }

  private static String caller(String asked, String what) {
    PeerIdentity peer = PeerIdentity.current();
    if (peer == null || peer.role() != Role.USER) {
      return asked;
    }
    if (asked.isEmpty()) {
      return peer.name();
    }
    if (!asked.equals(peer.name())) {
      throw new Errors.RequestException(Status.Code.PERMISSION_DENIED, "this certificate is for"
          + " user '" + peer.name() + "'; it cannot " + what + " as '" + asked + "'");
    }
    return asked;
  }

  @Override
  public void reserve(ReserveRequest req, StreamObserver<ReserveResponse> out) {
    unary(out, () -> {
      if (!req.hasSpec()) {
        throw Errors.invalid("spec", "", "is missing");
      }
      return ReserveResponse.newBuilder().setReservation(
          reservations.reserve(asCaller(req.getSpec()))).build();
    });
  }

  @Override
  public void getReservation(GetReservationRequest req,
      StreamObserver<GetReservationResponse> out) {
    unary(out, () -> GetReservationResponse.newBuilder()
        .setReservation(reservations.get(reservationId(req.getReservationId()))).build());
  }

  @Override
  public void listReservations(ListReservationsRequest req,
      StreamObserver<ListReservationsResponse> out) {
    unary(out, () -> {
      Paging.Page<Reservation> page = reservations.page(listedUser(req.getUser()),
          req.getIncludeFinished(), req.getPageSize(), req.getPageToken());
      return ListReservationsResponse.newBuilder().addAllReservations(page.items())
          .setNextPageToken(page.nextPageToken()).build();
    });
  }

  @Override
  public void cancelReservation(CancelReservationRequest req,
      StreamObserver<CancelReservationResponse> out) {
    unary(out, () -> CancelReservationResponse.newBuilder()
        .setReservation(reservations.cancel(reservationId(req.getReservationId()))).build());
  }

  @Override
  public void getJob(GetJobRequest req, StreamObserver<GetJobResponse> out) {
    unary(out, () -> GetJobResponse.newBuilder()
        .setJob(coordinator.get(jobId(req.getJobId()))).build());
  }

  @Override
  public void listJobs(ListJobsRequest req, StreamObserver<ListJobsResponse> out) {
    unary(out, () -> {
      Paging.Page<Job> page = coordinator.page(listedUser(req.getUser()),
          req.getIncludeFinished(), req.getPageSize(), req.getPageToken());
      return ListJobsResponse.newBuilder().addAllJobs(page.items())
          .setNextPageToken(page.nextPageToken()).build();
    });
  }

  /** Events or output pieces taken from a job at a time for one stream. */
  static final int BATCH = 64;

  @Override
  public void watchJob(WatchJobRequest req, StreamObserver<WatchJobResponse> out) {
    pumped(out, () -> {
      JobRecord job = coordinator.job(jobId(req.getJobId()));
      if (req.getFromSequence() < 0) {
        throw Errors.invalid("from_sequence", req.getFromSequence(), "must not be negative");
      }
      return job.eventSource(req.getFromSequence());
    }, e -> WatchJobResponse.newBuilder().setEvent(e).build(), BATCH);
  }

  @Override
  public void cancelJob(CancelJobRequest req, StreamObserver<CancelJobResponse> out) {
    unary(out, () -> CancelJobResponse.newBuilder()
        .setJob(coordinator.cancel(jobId(req.getJobId()))).build());
  }

  @Override
  public void streamOutput(StreamOutputRequest req, StreamObserver<StreamOutputResponse> out) {
    pumped(out, () -> coordinator.job(jobId(req.getJobId())).output().source(req.getFollow()),
        p -> StreamOutputResponse.newBuilder().setChunk(p.chunk())
            .setDroppedBytes(p.dropped()).build(), BATCH);
  }

  @Override
  public void getHosts(GetHostsRequest req, StreamObserver<GetHostsResponse> out) {
    unary(out, () -> {
      List<NodeEntry> nodes = coordinator.hosts(jobId(req.getJobId()));
      return GetHostsResponse.newBuilder().addAllNodes(nodes)
          .setHostfile(TrustBundles.hostfile(nodes)).build();
    });
  }
}
