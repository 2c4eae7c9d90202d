package org.lambdagrid.grc.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.GetHostsRequest;
import org.lambdagrid.proto.v1.GetHostsResponse;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.ListJobsRequest;
import org.lambdagrid.proto.v1.ListReservationsRequest;
import org.lambdagrid.proto.v1.ListReservationsResponse;
import org.lambdagrid.proto.v1.ListSitesRequest;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.SiteInfo;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.StreamOutputRequest;
import org.lambdagrid.proto.v1.StreamOutputResponse;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.WatchJobRequest;
import org.lambdagrid.proto.v1.WatchJobResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class GridServiceTest {
  private final FakeSites fakes = new FakeSites();
  private FakeSite a;
  private GrcServer server;
  private ManagedChannel channel;
  private GridServiceGrpc.GridServiceBlockingStub grid;
  private SiteRegistryServiceGrpc.SiteRegistryServiceBlockingStub sites;

  @BeforeEach
  void setUp() throws Exception {
    a = fakes.add("a");
    fakes.add("b");
    String name = InProcessServerBuilder.generateName();
    GrcConfig config = new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms",
        null, null);
    server = new GrcServer(config, Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(name).directExecutor()).start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    grid = GridServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    sites = SiteRegistryServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(30, TimeUnit.SECONDS);
    register("a", "10.10.0.0/16");
    register("b", "10.10.0.0/16");
  }

  @AfterEach
  void tearDown() {
    channel.shutdownNow();
    server.close();
  }

  private SiteInfo register(String name, String... ranges) {
    RegisterSiteRequest.Builder r = RegisterSiteRequest.newBuilder().setName(name)
        .setCrmEndpoint(FakeSites.endpoint(name)).setNodeCapacity(4);
    for (String c : ranges) {
      r.addRanges(AddressRange.newBuilder().setCidr(c));
    }
    return sites.registerSite(r.build()).getSite();
  }

  private static JobSpec.Builder spec() {
    return JobSpec.newBuilder().putSiteNodes("a", 2).putSiteNodes("b", 1).addArgv("hostname")
        .setWorkingDirectory("/tmp").setUser("alice");
  }

  private static void assertStatus(Status.Code code, String message, Runnable call) {
    assertThatExceptionOfType(StatusRuntimeException.class).isThrownBy(call::run)
        .satisfies(e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(code);
          assertThat(e.getStatus().getDescription()).contains(message);
        });
  }

  @Test
  void registeredSitesAreListedWithCapacityAndRanges() {
    List<SiteInfo> list = grid.listSites(ListSitesRequest.getDefaultInstance()).getSitesList();
    assertThat(list).extracting(SiteInfo::getName).containsExactly("a", "b");
    assertThat(list.get(0).getRanges(0).getCidr()).isEqualTo("10.10.0.0/16");
    assertThat(list.get(0).getNodeCapacity()).isEqualTo(4);
  }

  @Test
  void aRoutedSitesOverlayEndIsRegisteredAndListedAndABadOneIsRefusedNamingTheField() {
    RegisterSiteRequest.Builder c = RegisterSiteRequest.newBuilder().setName("c")
        .setCrmEndpoint(FakeSites.endpoint("c")).setNodeCapacity(2)
        .addRanges(AddressRange.newBuilder().setCidr("10.3.0.0/24"));
    assertStatus(Status.Code.INVALID_ARGUMENT, "overlay.endpoint: 'vtep-c'", () -> sites.registerSite(
        c.clone().setOverlay(org.lambdagrid.proto.v1.SiteOverlay.newBuilder().setEndpoint("vtep-c")).build()));
    assertThat(grid.listSites(ListSitesRequest.getDefaultInstance()).getSitesCount()).isEqualTo(2);
    SiteInfo info = sites.registerSite(c.setOverlay(org.lambdagrid.proto.v1.SiteOverlay.newBuilder()
        .setEndpoint("172.31.255.10").setNetns("lg-site-c")).build()).getSite();
    assertThat(info.getOverlay().getEndpoint()).isEqualTo("172.31.255.10");
    assertThat(info.getOverlay().getUnderlayMtu()).as("default").isEqualTo(1500);
    List<SiteInfo> list = grid.listSites(ListSitesRequest.getDefaultInstance()).getSitesList();
    assertThat(list).filteredOn(SiteInfo::hasOverlay).extracting(SiteInfo::getName).containsExactly("c");
    assertThat(list.get(2).getOverlay().getNetns()).isEqualTo("lg-site-c");
  }

  @Test
  void badRegistrationsGetSpecificCodesNamingTheField() {
    assertStatus(Status.Code.INVALID_ARGUMENT, "ranges[1]: '10.0.0.0/33' is not a CIDR block",
        () -> register("c", "10.1.0.0/24", "10.0.0.0/33"));
    assertStatus(Status.Code.ALREADY_EXISTS, "overlaps",
        () -> register("c", "10.1.0.0/16", "10.1.2.0/24"));
    assertStatus(Status.Code.INVALID_ARGUMENT, "name: 'C'", () -> register("C", "10.1.0.0/24"));
    assertStatus(Status.Code.INVALID_ARGUMENT, "crm_endpoint: ''",
        () -> sites.registerSite(RegisterSiteRequest.newBuilder().setName("c")
            .setNodeCapacity(1).addRanges(AddressRange.newBuilder().setCidr("10.0.0.0/24"))
            .build()));
    assertThat(grid.listSites(ListSitesRequest.getDefaultInstance()).getSitesCount())
        .isEqualTo(2);
  }

  @Test
  void badSubmissionsGetSpecificCodesNamingTheField() {
    assertStatus(Status.Code.INVALID_ARGUMENT, "spec: '' is missing",
        () -> grid.submitJob(SubmitJobRequest.getDefaultInstance()));
    assertStatus(Status.Code.NOT_FOUND, "site 'zz' is not registered",
        () -> grid.submitJob(SubmitJobRequest.newBuilder().setSpec(spec().putSiteNodes("zz", 1))
            .build()));
    assertStatus(Status.Code.INVALID_ARGUMENT, "spec.site_nodes[a]: '9'",
        () -> grid.submitJob(SubmitJobRequest.newBuilder().setSpec(spec().putSiteNodes("a", 9))
            .build()));
    assertStatus(Status.Code.INVALID_ARGUMENT, "spec.working_directory: 'tmp'",
        () -> grid.submitJob(SubmitJobRequest.newBuilder()
            .setSpec(spec().setWorkingDirectory("tmp")).build()));
    assertStatus(Status.Code.INVALID_ARGUMENT, "job_id: '' is missing",
        () -> grid.getJob(GetJobRequest.getDefaultInstance()));
    assertStatus(Status.Code.NOT_FOUND, "job 'j-00000000' not found",
        () -> grid.getJob(GetJobRequest.newBuilder().setJobId("j-00000000").build()));
  }

  @Test
  void exhaustedRangesAreAFailedPrecondition() {
    fakes.add("c").holdExit();
    register("c", "10.99.0.0/30");
    grid.submitJob(SubmitJobRequest.newBuilder().setSpec(spec().clearSiteNodes()
        .putSiteNodes("c", 1)).build());
    assertStatus(Status.Code.FAILED_PRECONDITION, "site 'c' has no free /30 in 10.99.0.0/30",
        () -> grid.submitJob(SubmitJobRequest.newBuilder().setSpec(spec().clearSiteNodes()
            .putSiteNodes("c", 1)).build()));
  }

  @Test
  void watchJobStreamsHistoryThenLiveAndCompletesAfterTheTerminalEvent() {
    a.stdout("out\n");
    Job job = grid.submitJob(SubmitJobRequest.newBuilder().setSpec(spec()).build()).getJob();
    List<Event> events = new ArrayList<>();
    Iterator<WatchJobResponse> it = grid.watchJob(WatchJobRequest.newBuilder()
        .setJobId(job.getId()).build());
    it.forEachRemaining(r -> events.add(r.getEvent()));
    assertThat(events).isNotEmpty();
    assertThat(events.get(events.size() - 1).getJobState()).isEqualTo(JobState.JOB_SUCCEEDED);
    for (int i = 0; i < events.size(); i++) {
      assertThat(events.get(i).getSequence()).isEqualTo(i + 1);
    }
    // From a later sequence: only the tail.
    List<Event> tail = new ArrayList<>();
    grid.watchJob(WatchJobRequest.newBuilder().setJobId(job.getId()).setFromSequence(3).build())
        .forEachRemaining(r -> tail.add(r.getEvent()));
    assertThat(tail.get(0).getSequence()).isEqualTo(3);
    assertThat(tail).hasSize(events.size() - 2);

    StringBuilder out = new StringBuilder();
    Iterator<StreamOutputResponse> o = grid.streamOutput(StreamOutputRequest.newBuilder()
        .setJobId(job.getId()).setFollow(true).build());
    o.forEachRemaining(r -> out.append(r.getChunk().getData().toStringUtf8()));
    assertThat(out.toString()).isEqualTo("out\n");

    GetHostsResponse hosts = grid.getHosts(GetHostsRequest.newBuilder().setJobId(job.getId())
        .build());
    assertThat(hosts.getNodesList()).extracting(n -> n.getHostname())
        .containsExactly("a-0", "a-1", "b-0");
    assertThat(hosts.getHostfile().lines()).hasSize(3).allMatch(l -> l.endsWith(" slots=1"));
    assertThat(grid.listJobs(ListJobsRequest.newBuilder().setIncludeFinished(true).build())
        .getJobsList()).extracting(Job::getId).containsExactly(job.getId());
    assertThat(grid.listJobs(ListJobsRequest.getDefaultInstance()).getJobsList()).isEmpty();
    assertThat(server.allocator().holders()).isEmpty();
  }

  @Test
  void getHostsBeforeSetupIsAFailedPreconditionAndCancelReleases() {
    a.hangOn("SetupNodes");
    Job job = grid.submitJob(SubmitJobRequest.newBuilder().setSpec(spec()).build()).getJob();
    assertStatus(Status.Code.FAILED_PRECONDITION, "no host list yet",
        () -> grid.getHosts(GetHostsRequest.newBuilder().setJobId(job.getId()).build()));
    Job cancelled = grid.cancelJob(CancelJobRequest.newBuilder().setJobId(job.getId()).build())
        .getJob();
    assertThat(cancelled.getState()).isEqualTo(JobState.JOB_CANCELLED);
    assertThat(server.allocator().holders()).isEmpty();
    assertThat(server.reservations().nodesInUse("a")).isZero();
    await().atMost(Duration.ofSeconds(20)).until(() -> fakes.get("b").released()
        .contains(job.getId()));
  }

  @Test
  void aReservationEndedWhileASiteIsAwayKeepsItsLeaseUntilTheSiteConfirmsTheRelease() {
    FakeSite b = fakes.get("b");
    org.lambdagrid.proto.v1.Reservation r = grid.reserve(
        org.lambdagrid.proto.v1.ReserveRequest.newBuilder().setSpec(
            org.lambdagrid.proto.v1.ReservationSpec.newBuilder().putSiteNodes("a", 1)
                .putSiteNodes("b", 1).setUser("alice")
                .setDuration(ProtoTime.toProto(Duration.ofMinutes(10)))).build())
        .getReservation();
    b.failOn("Release", Status.UNAVAILABLE.withDescription("io exception"));
    org.lambdagrid.proto.v1.Reservation cancelled = grid.cancelReservation(
        org.lambdagrid.proto.v1.CancelReservationRequest.newBuilder()
            .setReservationId(r.getId()).build()).getReservation();
    assertThat(cancelled.getState())
        .isEqualTo(org.lambdagrid.proto.v1.ReservationState.RESERVATION_CANCELLED);
    // b may still hold the range: it is not leased again until b confirms.
    assertThat(server.allocator().holders()).containsExactly(r.getId());
    assertThat(server.recovery().draining()).containsExactly(r.getId());
    assertThat(server.reservations().nodesInUse("b")).isZero(); // the GRC's calendar is free
    b.clearFailure("Release");
    await().atMost(Duration.ofSeconds(20)).until(() -> server.allocator().holders().isEmpty());
    assertThat(server.recovery().draining()).isEmpty();
    assertThat(b.reservationStates()).containsEntry(r.getId(), "RELEASED");
  }

  private org.lambdagrid.proto.v1.Reservation reserve(String user) {
    return grid.reserve(org.lambdagrid.proto.v1.ReserveRequest.newBuilder().setSpec(
        org.lambdagrid.proto.v1.ReservationSpec.newBuilder().putSiteNodes("a", 1).setUser(user)
            .setDuration(ProtoTime.toProto(Duration.ofMinutes(10)))).build()).getReservation();
  }

  /** Every page of the list from the first; {@code between} runs after each page. */
  private List<String> reservationPages(ListReservationsRequest first, Runnable between) {
    List<String> ids = new ArrayList<>();
    ListReservationsRequest.Builder req = first.toBuilder();
    do {
      ListReservationsResponse page = grid.listReservations(req.build());
      assertThat(page.getReservationsCount()).isLessThanOrEqualTo(first.getPageSize());
      page.getReservationsList().forEach(r -> ids.add(r.getId()));
      req.setPageToken(page.getNextPageToken());
      between.run();
    } while (!req.getPageToken().isEmpty());
    return ids;
  }

  @Test
  void listReservationsPagesEveryOneOnceWithTheUserFilterWhileReservationsComeAndGo() {
    List<String> alices = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      alices.add(reserve("alice").getId());
      reserve("bob");
    }
    List<String> newestFirst = server.reservations().list("alice", false).stream()
        .map(r -> r.getId()).toList();
    assertThat(newestFirst).containsExactlyInAnyOrderElementsOf(alices);
    String cancelled = newestFirst.get(9); // the oldest: on the last page
    assertThat(grid.listReservations(ListReservationsRequest.newBuilder().setUser("alice")
        .build()).getReservationsList()).extracting(r -> r.getId())
        .as("default page size: one page").containsExactlyElementsOf(newestFirst);

    int[] pages = {0};
    List<String> live = reservationPages(ListReservationsRequest.newBuilder().setUser("alice")
        .setPageSize(3).build(), () -> {
          if (pages[0]++ == 0) {
            reserve("alice");   // newer than every listed one: not on a later page
            grid.cancelReservation(org.lambdagrid.proto.v1.CancelReservationRequest.newBuilder()
                .setReservationId(cancelled).build());
          }
        });
    assertThat(pages[0]).as("9 left: 3 full pages, the last saying so").isEqualTo(3);
    assertThat(live).containsExactlyElementsOf(newestFirst.subList(0, 9));

    List<String> everyone = reservationPages(ListReservationsRequest.newBuilder()
        .setIncludeFinished(true).setPageSize(4).build(), () -> { });
    assertThat(everyone).hasSize(21).doesNotHaveDuplicates().containsAll(alices);
  }

  @Test
  void badPageSizesAndTokensAreInvalidArgumentsNamingTheFieldAndValue() {
    reserve("alice");
    reserve("alice");
    for (int bad : new int[] {1001, -1}) {
      assertStatus(Status.Code.INVALID_ARGUMENT, "page_size: '" + bad + "' must be between 1"
          + " and 1000 (0 = 500)", () -> grid.listReservations(ListReservationsRequest
              .newBuilder().setPageSize(bad).build()));
      assertStatus(Status.Code.INVALID_ARGUMENT, "page_size: '" + bad + "'", () ->
          grid.listJobs(ListJobsRequest.newBuilder().setPageSize(bad).build()));
    }
    assertThat(grid.listReservations(ListReservationsRequest.newBuilder().setPageSize(1000)
        .build()).getReservationsCount()).isEqualTo(2);
    assertStatus(Status.Code.INVALID_ARGUMENT, "page_token: 'garbage' is not a next_page_token",
        () -> grid.listReservations(ListReservationsRequest.newBuilder()
            .setPageToken("garbage").build()));
    String alices = grid.listReservations(ListReservationsRequest.newBuilder().setUser("alice")
        .setPageSize(1).build()).getNextPageToken();
    assertThat(alices).isNotEmpty();
    // Another user's list, another filter, another RPC: each a foreign token.
    assertStatus(Status.Code.INVALID_ARGUMENT, "page_token: '" + alices + "'", () ->
        grid.listReservations(ListReservationsRequest.newBuilder().setUser("bob")
            .setPageSize(1).setPageToken(alices).build()));
    assertStatus(Status.Code.INVALID_ARGUMENT, "page_token: '" + alices + "'", () ->
        grid.listReservations(ListReservationsRequest.newBuilder().setUser("alice")
            .setIncludeFinished(true).setPageSize(1).setPageToken(alices).build()));
    assertStatus(Status.Code.INVALID_ARGUMENT, "page_token: '" + alices + "'", () ->
        grid.listJobs(ListJobsRequest.newBuilder().setUser("alice").setPageSize(1)
            .setPageToken(alices).build()));
    assertThat(grid.listReservations(ListReservationsRequest.newBuilder().setUser("alice")
        .setPageSize(1).setPageToken(alices).build()).getNextPageToken()).isEmpty();
  }

  @Test
  void listJobsPagesTheSameWay() {
    a.holdExit();
    for (int i = 0; i < 3; i++) {
      grid.submitJob(SubmitJobRequest.newBuilder().setSpec(spec().clearSiteNodes()
          .putSiteNodes("a", 1)).build());
    }
    List<String> ids = server.coordinator().list("alice", true).stream().map(Job::getId)
        .toList();
    assertThat(ids).hasSize(3);
    org.lambdagrid.proto.v1.ListJobsResponse first = grid.listJobs(ListJobsRequest.newBuilder()
        .setUser("alice").setPageSize(2).build());
    org.lambdagrid.proto.v1.ListJobsResponse second = grid.listJobs(ListJobsRequest.newBuilder()
        .setUser("alice").setPageSize(2).setPageToken(first.getNextPageToken()).build());
    assertThat(second.getNextPageToken()).isEmpty();
    List<String> listed = new ArrayList<>();
    first.getJobsList().forEach(j -> listed.add(j.getId()));
    second.getJobsList().forEach(j -> listed.add(j.getId()));
    assertThat(listed).containsExactlyElementsOf(ids);
  }
}
