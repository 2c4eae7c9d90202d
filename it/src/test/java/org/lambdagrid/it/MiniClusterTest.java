package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.it.MiniCluster.SiteSpec;
import org.lambdagrid.nodemanager.driver.fake.FakeGuestDriver;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.GetHostsRequest;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.CancelReservationRequest;
import org.lambdagrid.proto.v1.GetReservationRequest;
import org.lambdagrid.proto.v1.ListReservationsRequest;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;
import org.lambdagrid.proto.v1.ReserveRequest;
import org.lambdagrid.proto.v1.StreamOutputRequest;
import org.lambdagrid.proto.v1.StreamOutputResponse;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.WatchJobRequest;
import org.lambdagrid.proto.v1.WatchJobResponse;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GRC, two CRMs and four NodeManagers (fake guests) in one JVM, over real gRPC. */
class MiniClusterTest {
  private static final String SAME_POOL = "10.10.0.0/16";

  @TempDir Path dir;

  private static JobSpec.Builder spec(String... argv) {
    return JobSpec.newBuilder().putSiteNodes("alpha", 2).putSiteNodes("bravo", 2)
        .addAllArgv(List.of(argv)).setWorkingDirectory("/").setUser("alice");
  }

  private static List<Event> watchToEnd(MiniCluster c, String jobId) {
    List<Event> events = new ArrayList<>();
    Iterator<WatchJobResponse> it = c.user().withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS)
        .watchJob(WatchJobRequest.newBuilder().setJobId(jobId).build());
    it.forEachRemaining(r -> events.add(r.getEvent()));
    return events;
  }

  private static void assertNothingHeld(MiniCluster c) {
    assertThat(c.grc.allocator().holders()).as("address leases").isEmpty();
    assertThat(c.grc.coAllocator().reservations()).as("node holds").isEmpty();
    for (var crm : c.crms) {
      assertThat(crm.shares().jobIds()).as("shares").isEmpty();
      assertThat(crm.shares().reservations().nodesHeldAt(java.time.Instant.now()))
          .as("CRM holds").isZero();
    }
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(
        FakeGuestDriver.instances().stream().flatMap(d -> d.liveGuests().stream()).toList())
        .as("live guests").isEmpty());
  }

  @Test
  void jobRunsThroughEveryPhaseInOrder_withDisjointRangesAndAggregatedKeys() throws Exception {
    try (MiniCluster c = new MiniCluster(dir, Duration.ofSeconds(20), Map.of(),
        new SiteSpec("alpha", 2, SAME_POOL), new SiteSpec("bravo", 2, SAME_POOL))) {
      Job job = c.user().submitJob(SubmitJobRequest.newBuilder()
          .setSpec(spec("sh", "-c", "echo nodes=$LAMBDAGRID_NODES")).build()).getJob();
      List<Event> events = watchToEnd(c, job.getId());
      Job done = c.user().getJob(GetJobRequest.newBuilder().setJobId(job.getId()).build()).getJob();
      assertThat(done.getState()).as(done.getMessage()).isEqualTo(JobState.JOB_SUCCEEDED);
      assertThat(done.getExitCode()).isZero();

      // Both sites publish the same pool, yet their sub-ranges are disjoint.
      Ipv4Cidr a = Ipv4Cidr.parse(done.getSiteRangesMap().get("alpha").getCidr());
      Ipv4Cidr b = Ipv4Cidr.parse(done.getSiteRangesMap().get("bravo").getCidr());
      assertThat(Ipv4Cidr.parse(SAME_POOL).contains(a) && Ipv4Cidr.parse(SAME_POOL).contains(b)).isTrue();
      assertThat(a.overlaps(b)).isFalse();

      // Events: sequence strictly increasing from 1; job states in phase order.
      for (int i = 0; i < events.size(); i++) {
        assertThat(events.get(i).getSequence()).isEqualTo(i + 1);
      }
      assertThat(events.stream().filter(Event::hasJobState).map(Event::getJobState).toList())
          .containsExactly(JobState.JOB_PENDING, JobState.JOB_SETTING_UP, JobState.JOB_EXCHANGING,
              JobState.JOB_STARTING, JobState.JOB_RUNNING, JobState.JOB_SUCCEEDED);
      // Every node went through the barrier phases in order, and each was in the right range.
      List<NodeEntry> nodes = c.user().getHosts(GetHostsRequest.newBuilder()
          .setJobId(job.getId()).build()).getNodesList();
      assertThat(nodes).extracting(NodeEntry::getHostname)
          .containsExactly("alpha-0", "alpha-1", "bravo-0", "bravo-1");
      for (NodeEntry n : nodes) {
        List<NodeState> states = events.stream()
            .filter(e -> e.hasNodeState() && e.getHostname().equals(n.getHostname()))
            .map(Event::getNodeState).distinct().toList();
        assertThat(states).as(n.getHostname()).containsSubsequence(NodeState.NODE_CONNECTED,
            NodeState.NODE_SET_UP, NodeState.NODE_KEYED, NodeState.NODE_READY);
        Ipv4Cidr range = n.getSite().equals("alpha") ? a : b;
        assertThat(range.containsAddress(Ipv4Cidr.parseAddress(n.getAddress()))).isTrue();
      }

      // Keys: each node holds exactly the 4 user keys and the 4 host keys at the right addresses.
      Map<String, FakeGuestDriver.FakeGuest> guests = nodes.stream().collect(Collectors.toMap(
          NodeEntry::getHostname,
          n -> FakeGuestDriver.guest(job.getId(), n.getHostname()).orElseThrow()));
      Set<String> userKeys = guests.values().stream().map(g -> g.keys().userPublicKey())
          .collect(Collectors.toSet());
      Set<String> knownHosts = new HashSet<>();
      for (NodeEntry n : nodes) {
        knownHosts.add(n.getHostname() + "," + n.getAddress() + " "
            + guests.get(n.getHostname()).keys().hostPublicKey());
      }
      assertThat(userKeys).hasSize(4);
      for (FakeGuestDriver.FakeGuest g : guests.values()) {
        assertThat(g.trust.authorizedKeys().lines().toList())
            .containsExactlyInAnyOrderElementsOf(userKeys);
        assertThat(g.trust.knownHosts().lines().toList())
            .containsExactlyInAnyOrderElementsOf(knownHosts);
        assertThat(g.trust.hostfile().lines().toList()).containsExactlyElementsOf(
            nodes.stream().map(n -> n.getAddress() + " slots=1").toList());
      }

      // The command ran on the first node and its output reached the user.
      String out = outputOf(c, job.getId());
      assertThat(out).contains("nodes=alpha-0 alpha-1 bravo-0 bravo-1");
      assertThat(done.getFirstNode()).isEqualTo("alpha-0");

      assertNothingHeld(c);
    }
  }

  @Test
  void aNodeThatNeverAnswersSetup_failsTheJobNamingIt_andEverythingIsTornDown() throws Exception {
    try (MiniCluster c = new MiniCluster(dir, Duration.ofSeconds(3),
        Map.of("hang_at", "setup", "only_on", List.of("bravo-1")),
        new SiteSpec("alpha", 2, SAME_POOL), new SiteSpec("bravo", 2, SAME_POOL))) {
      Job job = c.user().submitJob(SubmitJobRequest.newBuilder().setSpec(spec("true")).build())
          .getJob();
      watchToEnd(c, job.getId());
      Job done = c.user().getJob(GetJobRequest.newBuilder().setJobId(job.getId()).build()).getJob();
      assertThat(done.getState()).isEqualTo(JobState.JOB_FAILED);
      assertThat(done.getMessage()).contains("bravo-1").contains("SETUP");
      assertThat(done.getFailedPhase().name()).isEqualTo("PHASE_SETUP");
      assertNothingHeld(c);
    }
  }

  @Test
  void exhaustedRangesAreRefused_andTheRunningJobLosesNothing() throws Exception {
    // Both sites publish the same /29: two /30 blocks in all, taken by the first job.
    try (MiniCluster c = new MiniCluster(dir, Duration.ofSeconds(20), Map.of(),
        new SiteSpec("alpha", 3, "10.20.0.0/29"), new SiteSpec("bravo", 3, "10.20.0.0/29"))) {
      Job first = c.user().submitJob(SubmitJobRequest.newBuilder()
          .setSpec(spec("sleep", "60")).build()).getJob();
      await().atMost(Duration.ofSeconds(30)).until(() -> c.user().getJob(
          GetJobRequest.newBuilder().setJobId(first.getId()).build()).getJob().getState()
          == JobState.JOB_RUNNING);

      assertThatThrownBy(() -> c.user().submitJob(SubmitJobRequest.newBuilder().setSpec(
          JobSpec.newBuilder().putSiteNodes("alpha", 1).addArgv("true").setWorkingDirectory("/")
              .setUser("alice")).build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
            assertThat(e.getStatus().getDescription()).contains("alpha").contains("10.20.0.0/29");
          });
      assertThatThrownBy(() -> c.user().submitJob(SubmitJobRequest.newBuilder().setSpec(
          JobSpec.newBuilder().putSiteNodes("tokyo", 1).addArgv("true").setWorkingDirectory("/")
              .setUser("alice")).build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
            assertThat(e.getStatus().getDescription()).contains("tokyo");
          });
      assertThatThrownBy(() -> c.user().submitJob(SubmitJobRequest.newBuilder().setSpec(
          JobSpec.newBuilder().putSiteNodes("alpha", 4).addArgv("true").setWorkingDirectory("/")
              .setUser("alice")).build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e ->
            assertThat(e.getStatus().getDescription()).contains("alpha").contains("4"));

      // The first job is untouched by the refusals.
      Job still = c.user().getJob(GetJobRequest.newBuilder().setJobId(first.getId()).build())
          .getJob();
      assertThat(still.getState()).isEqualTo(JobState.JOB_RUNNING);
      assertThat(c.grc.allocator().leasesOf(first.getReservationId())).hasSize(2);

      Job cancelled = c.user().cancelJob(CancelJobRequest.newBuilder().setJobId(first.getId())
          .build()).getJob();
      await().atMost(Duration.ofSeconds(30)).until(() -> c.user().getJob(
          GetJobRequest.newBuilder().setJobId(first.getId()).build()).getJob().getState()
          == JobState.JOB_CANCELLED);
      assertThat(cancelled.getId()).isEqualTo(first.getId());
      assertNothingHeld(c);
    }
  }

  private static ReservationSpec.Builder reservation() {
    return ReservationSpec.newBuilder().putSiteNodes("alpha", 2).putSiteNodes("bravo", 2)
        .setBandwidthBps(200_000_000L).setDuration(ProtoTime.toProto(Duration.ofMinutes(10)))
        .setUser("alice");
  }

  @Test
  void reserveTwoSitesWithBandwidth_submitIntoIt_theJobRunsInItsWindowAndRanges()
      throws Exception {
    try (MiniCluster c = new MiniCluster(dir, Duration.ofSeconds(20), Map.of(),
        new SiteSpec("alpha", 2, SAME_POOL), new SiteSpec("bravo", 2, SAME_POOL))) {
      Reservation r = c.user().reserve(ReserveRequest.newBuilder().setSpec(reservation())
          .build()).getReservation();
      assertThat(r.getId()).startsWith("r-");
      assertThat(r.getBandwidthBps()).isEqualTo(200_000_000L);
      assertThat(c.grc.coAllocator().bandwidthInUse("alpha<->core", java.time.Instant.now()
          .plusSeconds(1))).isEqualTo(200_000_000L);
      for (var crm : c.crms) {
        assertThat(crm.shares().reservations().state(r.getId()))
            .contains(org.lambdagrid.common.reservation.HoldTable.State.COMMITTED);
      }
      // Both sites are full in the window: a second reservation now is refused, nothing held.
      assertThatThrownBy(() -> c.user().reserve(ReserveRequest.newBuilder().setSpec(reservation()
          .setDeadline(ProtoTime.toProto(java.time.Instant.now().plus(Duration.ofMinutes(15)))))
          .build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e ->
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION));

      Job job = c.user().submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
          .setReservationId(r.getId()).addArgv("sh").addArgv("-c")
          .addArgv("echo nodes=$LAMBDAGRID_NODES").setWorkingDirectory("/").setUser("alice"))
          .build()).getJob();
      assertThat(job.getReservationId()).isEqualTo(r.getId());
      assertThat(job.getSiteRangesMap()).isEqualTo(r.getSiteRangesMap());
      assertThat(job.getEnd()).isEqualTo(r.getEnd());
      watchToEnd(c, job.getId());
      Job done = c.user().getJob(GetJobRequest.newBuilder().setJobId(job.getId()).build()).getJob();
      assertThat(done.getState()).as(done.getMessage()).isEqualTo(JobState.JOB_SUCCEEDED);
      assertThat(outputOf(c, job.getId())).contains("nodes=alpha-0 alpha-1 bravo-0 bravo-1");

      // The reservation outlives its job until cancelled; then everything is free.
      Reservation after = c.user().getReservation(GetReservationRequest.newBuilder()
          .setReservationId(r.getId()).build()).getReservation();
      assertThat(after.getState()).isEqualTo(ReservationState.RESERVATION_ACTIVE);
      assertThat(after.getJobIdsList()).containsExactly(job.getId());
      Reservation cancelled = c.user().cancelReservation(CancelReservationRequest.newBuilder()
          .setReservationId(r.getId()).build()).getReservation();
      assertThat(cancelled.getState()).isEqualTo(ReservationState.RESERVATION_CANCELLED);
      assertThat(c.grc.coAllocator().bandwidthInUse("alpha<->core", java.time.Instant.now()
          .plusSeconds(1))).isZero();
      for (var crm : c.crms) {
        assertThat(crm.shares().reservations().state(r.getId()))
            .contains(org.lambdagrid.common.reservation.HoldTable.State.RELEASED);
      }
      assertThat(c.user().listReservations(ListReservationsRequest.newBuilder()
          .setIncludeFinished(true).build()).getReservationsList()).extracting(Reservation::getId)
          .containsExactly(r.getId());
      assertNothingHeld(c);
    }
  }

  @Test
  void eachSiteRunsTheGridUserAsItsOwnLocalAccount_andASiteWithoutOneRefusesAtPrepare()
      throws Exception {
    try (MiniCluster c = new MiniCluster(dir, Duration.ofSeconds(20), Map.of(),
        new SiteSpec("alpha", 2, SAME_POOL, "accounts:\n  prefix: grid-\n"),
        new SiteSpec("bravo", 2, SAME_POOL,
            "accounts:\n  map: {alice: a.smith}\n  require_map: true\n"))) {
      Job job = c.user().submitJob(SubmitJobRequest.newBuilder()
          .setSpec(spec("sh", "-c", "echo ran")).build()).getJob();
      watchToEnd(c, job.getId());
      Job done = c.user().getJob(GetJobRequest.newBuilder().setJobId(job.getId()).build()).getJob();
      // EXEC reached alpha-0 as its local account (the NodeManager refuses any other user).
      assertThat(done.getState()).as(done.getMessage()).isEqualTo(JobState.JOB_SUCCEEDED);
      List<NodeEntry> nodes = c.user().getHosts(GetHostsRequest.newBuilder()
          .setJobId(job.getId()).build()).getNodesList();
      assertThat(nodes).extracting(n -> n.getHostname() + "=" + n.getLocalUser()).containsExactly(
          "alpha-0=grid-alice", "alpha-1=grid-alice", "bravo-0=a.smith", "bravo-1=a.smith");
      List<org.lambdagrid.nodemanager.driver.GuestTrust.Login> logins = nodes.stream().map(n ->
          new org.lambdagrid.nodemanager.driver.GuestTrust.Login(n.getHostname(), n.getAddress(),
              n.getLocalUser())).toList();
      for (NodeEntry n : nodes) {
        FakeGuestDriver.FakeGuest g = FakeGuestDriver.guest(job.getId(), n.getHostname())
            .orElseThrow();
        assertThat(g.spec.user()).as(n.getHostname()).isEqualTo(n.getLocalUser());
        assertThat(g.trust.logins()).as(n.getHostname()).containsExactlyElementsOf(logins);
      }
      assertNothingHeld(c);

      // carol has no account on bravo: bravo votes no at Prepare, and nothing is held anywhere.
      assertReserveRefused(c, reservation().setUser("carol"), Status.Code.FAILED_PRECONDITION,
          "reservation refused, nothing is held: site:bravo refused (FAILED_PRECONDITION):"
              + " accounts.map: has no entry for grid user 'carol', and accounts.require_map is"
              + " true");
      assertNothingHeld(c);
    }
  }

  @Test
  void badReservationsAreRefusedNamingFieldAndValue() throws Exception {
    try (MiniCluster c = new MiniCluster(dir, Duration.ofSeconds(20), Map.of(),
        new SiteSpec("alpha", 2, SAME_POOL), new SiteSpec("bravo", 2, SAME_POOL))) {
      java.time.Instant later = java.time.Instant.now().plus(Duration.ofHours(1));
      assertReserveRefused(c, reservation().setBandwidthBps(0), Status.Code.INVALID_ARGUMENT,
          "spec.bandwidth_bps: '0' must be positive (leave it unset for no bandwidth)");
      assertReserveRefused(c, reservation().setBandwidthBps(-1), Status.Code.INVALID_ARGUMENT,
          "spec.bandwidth_bps: '-1' must be positive (leave it unset for no bandwidth)");
      assertReserveRefused(c, reservation().setStart(ProtoTime.toProto(later))
          .setDeadline(ProtoTime.toProto(later.minusSeconds(1))), Status.Code.INVALID_ARGUMENT,
          "spec.deadline: '" + later.minusSeconds(1) + "' is not after the start " + later
              + ": the end must come after the start");
      assertReserveRefused(c, reservation().setStart(ProtoTime.toProto(
          java.time.Instant.now().minus(Duration.ofHours(1)))), Status.Code.INVALID_ARGUMENT,
          "spec.start: '");
      assertReserveRefused(c, reservation().putSiteNodes("tokyo", 1), Status.Code.NOT_FOUND,
          "site 'tokyo' is not registered (known sites: alpha, bravo)");
      assertReserveRefused(c, reservation().putSiteNodes("alpha", 3), Status.Code.INVALID_ARGUMENT,
          "spec.site_nodes[alpha]: '3' is more nodes than site 'alpha' has (capacity 2)");
      assertReserveRefused(c, reservation().setBandwidthBps(2_000_000_000L),
          Status.Code.INVALID_ARGUMENT, "spec.bandwidth_bps: '2 Gbit/s'");
      assertThat(c.user().listReservations(ListReservationsRequest.newBuilder()
          .setIncludeFinished(true).build()).getReservationsCount()).isZero();
      assertNothingHeld(c);
    }
  }

  private static void assertReserveRefused(MiniCluster c, ReservationSpec.Builder spec,
      Status.Code code, String description) {
    assertThatThrownBy(() -> c.user().reserve(ReserveRequest.newBuilder().setSpec(spec).build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(code);
          assertThat(e.getStatus().getDescription()).startsWith(description);
        });
  }

  private static String outputOf(MiniCluster c, String jobId) {
    StringBuilder sb = new StringBuilder();
    Iterator<StreamOutputResponse> it = c.user().streamOutput(
        StreamOutputRequest.newBuilder().setJobId(jobId).build());
    it.forEachRemaining(r -> sb.append(r.getChunk().getData().toStringUtf8()));
    return sb.toString();
  }
}
