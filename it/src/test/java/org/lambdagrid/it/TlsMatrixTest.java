package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Channels;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.crm.CrmConfig;
import org.lambdagrid.crm.CrmServer;
import org.lambdagrid.crm.GrpcGrcRegistrar;
import org.lambdagrid.crm.pilot.PilotHandle;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.crm.pilot.PilotStartException;
import org.lambdagrid.crm.pilot.PilotStarter;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.grc.grpc.GrpcSiteClient;
import org.lambdagrid.grc.site.SiteClient;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.CancelReservationRequest;
import org.lambdagrid.proto.v1.ConnectRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.GetReservationRequest;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.ListJobsRequest;
import org.lambdagrid.proto.v1.ListReservationsRequest;
import org.lambdagrid.proto.v1.ListReservationsResponse;
import org.lambdagrid.proto.v1.ListSitesRequest;
import org.lambdagrid.proto.v1.PilotHello;
import org.lambdagrid.proto.v1.PilotServiceGrpc;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;
import org.lambdagrid.proto.v1.ReserveRequest;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.WatchJobRequest;

/**
 * The negative TLS matrix, counted: a GRC and the CRM of site alpha over TCP with
 * mutual TLS (certificates from {@code scripts/lambdagrid-ca}), and every way in that must be
 * refused, each tried with a real client. Positive cases run on the same servers, so a refusal
 * is never just a broken server. No root needed.
 */
class TlsMatrixTest {
  @TempDir static Path dir;
  private static TestCa grid;
  private static TestCa rogue;
  private static GrcServer grc;
  private static CrmServer crm;
  private static DaemonServer impostor;
  private static CrmServer crmBravo;
  private static Endpoint crmBravoAt;
  private static ManagedChannel crmToGrc;
  private static Endpoint grcAt;
  private static Endpoint crmAt;

  /** One row of the matrix: what was tried and how it ended. */
  record Case(String what, boolean refused, Status.Code code, String description) {}

  @BeforeAll
  static void startGrcAndCrm() throws Exception {
    grid = TestCa.init(dir.resolve("grid"));
    rogue = TestCa.init(dir.resolve("rogue"));
    TestCa.Cert grcCert = grid.issue("grc", "grc");
    GrcConfig grcConfig = ConfigLoader.parse("grc.yaml", "listen: 127.0.0.1:0\nstate_dir: "
        + dir.resolve("grc-state") + "\n" + grcCert.yaml(), GrcConfig.class);
    grc = GrcServer.tcp("grc.yaml", grcConfig, Clock.systemUTC()).start();
    grcAt = new Endpoint("127.0.0.1", grc.port());

    TestCa.Cert crmCert = grid.issue("crm", "alpha");
    CrmConfig crmConfig = ConfigLoader.parse("crm.yaml", "site: alpha\nlisten: 127.0.0.1:0\n"
        + "grc: " + grcAt + "\nnode_capacity: 2\nranges: [10.10.0.0/16]\nstate_dir: "
        + dir.resolve("alpha") + "\n" + crmCert.yaml(), CrmConfig.class);
    crmToGrc = Channels.forEndpoint("crm.yaml", grcAt, crmConfig.tls(), Role.GRC, null);
    crm = new CrmServer(crmConfig, new NoPilots(),
        DaemonServer.netty("crm.yaml", crmConfig.listenEndpoint(), crmConfig.tls()),
        new GrpcGrcRegistrar(crmToGrc, Duration.ofSeconds(5))).start();
    crmAt = new Endpoint("127.0.0.1", crm.port());
    crm.registration().get(30, TimeUnit.SECONDS); // positive: crm alpha registers alpha

    // Site bravo's CRM (not registered): the GRC must not take it for alpha's.
    TestCa.Cert bravoCert = grid.issue("crm", "bravo");
    CrmConfig bravoConfig = ConfigLoader.parse("crm.yaml", "site: bravo\nlisten: 127.0.0.1:0\n"
        + "grc: " + grcAt + "\nnode_capacity: 2\nranges: [10.10.0.0/16]\nstate_dir: "
        + dir.resolve("bravo") + "\n" + bravoCert.yaml(), CrmConfig.class);
    crmBravo = new CrmServer(bravoConfig, new NoPilots(),
        DaemonServer.netty("crm.yaml", bravoConfig.listenEndpoint(), bravoConfig.tls()),
        req -> RegisterSiteResponse.getDefaultInstance()).start();
    crmBravoAt = new Endpoint("127.0.0.1", crmBravo.port());

    // A server whose certificate names another host: clients must not trust it for 127.0.0.1.
    TestCa.Cert elsewhere = grid.issue("grc", "elsewhere", "--san", "DNS:elsewhere.example");
    impostor = new DaemonServer("impostor", DaemonServer.netty("impostor", new Endpoint(
        "127.0.0.1", 0), tls(elsewhere)), List.of()).start();
  }

  @AfterAll
  static void stop() {
    if (impostor != null) {
      impostor.close();
    }
    if (crm != null) {
      crm.close();
    }
    if (crmBravo != null) {
      crmBravo.close();
    }
    if (crmToGrc != null) {
      Channels.close(crmToGrc);
    }
    if (grc != null) {
      grc.close();
    }
  }

  private static TlsConfig tls(TestCa.Cert c) {
    return new TlsConfig(c.ca().toString(), c.cert().toString(), c.key().toString(), false);
  }

  /** A channel as daemons and the CLI make it, presenting {@code c}, expecting {@code server}. */
  private static ManagedChannel dial(Endpoint at, TestCa.Cert c, Role server) {
    return Channels.forEndpoint("test", at, tls(c), server, null);
  }

  private static ManagedChannel dial(Endpoint at, ChannelCredentials creds) {
    return Grpc.newChannelBuilderForAddress(at.host(), at.port(), creds).build();
  }

  /** Runs one call; a StatusRuntimeException is a refusal. Closes the channel. */
  private static Case attempt(String what, ManagedChannel ch, Call call) {
    try {
      return attempt(what, () -> call.run(ch));
    } finally {
      Channels.close(ch);
    }
  }

  private static Case attempt(String what, Runnable call) {
    try {
      call.run();
      return new Case(what, false, Status.Code.OK, "");
    } catch (StatusRuntimeException e) {
      Throwable root = e;
      while (root.getCause() != null) {
        root = root.getCause();
      }
      return new Case(what, true, e.getStatus().getCode(),
          e.getStatus().getDescription() + (root == e ? "" : " [" + root + "]"));
    }
  }

  interface Call {
    void run(ManagedChannel ch);
  }

  private static void listSites(ManagedChannel ch) {
    GridServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
        .listSites(ListSitesRequest.getDefaultInstance());
  }

  private static void register(ManagedChannel ch, String site) {
    SiteRegistryServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
        .registerSite(RegisterSiteRequest.newBuilder().setName(site)
            .setCrmEndpoint(crmAt.toString()).setNodeCapacity(2).setSlotsPerNode(1)
            .addRanges(AddressRange.newBuilder().setCidr("10.10.0.0/16")).build());
  }

  private static void releaseShare(ManagedChannel ch) {
    SiteServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
        .releaseShare(ReleaseShareRequest.newBuilder().setJobId("j-00000000")
            .setReason("tls matrix").build());
  }

  /** ReleaseShare through the GRC's own site client for {@code site} at {@code at}. */
  private static Case grcCallsSite(String what, TestCa.Cert grcCert, String site, Endpoint at) {
    SiteClient client = GrpcSiteClient.factory("grc.yaml", tls(grcCert), Duration.ofSeconds(10),
        Duration.ofSeconds(2)).open(site, at);
    try {
      return attempt(what, () -> client.releaseShare("j-00000000", "tls matrix"));
    } finally {
      client.close();
    }
  }

  private static void health(ManagedChannel ch) {
    HealthGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
  }

  /** Connect with a hello for a job the CRM does not know; returns the CRM's answer. */
  private static void connect(ManagedChannel ch) {
    CompletableFuture<Void> end = new CompletableFuture<>();
    StreamObserver<ConnectRequest> req = PilotServiceGrpc.newStub(ch).connect(
        new StreamObserver<ConnectResponse>() {
          @Override
          public void onNext(ConnectResponse r) {
            end.complete(null);
          }

          @Override
          public void onError(Throwable t) {
            end.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            end.complete(null);
          }
        });
    req.onNext(ConnectRequest.newBuilder().setHello(PilotHello.newBuilder()
        .setJobId("j-00000000").setNodeIndex(0).setCredential("guess")).build());
    try {
      end.get(10, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      throw Status.fromThrowable(e.getCause()).asRuntimeException();
    } catch (Exception e) {
      throw Status.DEADLINE_EXCEEDED.withDescription(e.toString()).asRuntimeException();
    } finally {
      req.onCompleted();
    }
  }

  private static Job submit(ManagedChannel ch, String user) {
    return GridServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
        .submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
            .putSiteNodes("alpha", 1).addArgv("true").setUser(user).setWorkingDirectory("/")
            .setStart(ProtoTime.toProto(Instant.now().plus(Duration.ofHours(1))))).build())
        .getJob();
  }

  @Test
  void everyWayInWithoutTheRightCertificateIsRefused_andTheRightOnesPass() throws Exception {
    TestCa.Cert alice = grid.issue("user", "alice");
    // Signed by another CA; the client still trusts the grid's CA, so the server must refuse it.
    TestCa.Cert rogueIssued = rogue.issue("user", "alice");
    TestCa.Cert rogueAlice = new TestCa.Cert(grid.ca(), rogueIssued.cert(), rogueIssued.key());
    TestCa.Cert expired = grid.issue("user", "alice", "--days", "-1", "--out",
        grid.dir.resolve("user-alice-expired").toString());
    TestCa.Cert nmAlpha = grid.issue("nodemanager", "alpha");
    TestCa.Cert nmBravo = grid.issue("nodemanager", "bravo");
    TestCa.Cert crmAlpha = new TestCa.Cert(grid.ca(), grid.dir.resolve("crm-alpha.crt"),
        grid.dir.resolve("crm-alpha.key"));
    TestCa.Cert grcCert = new TestCa.Cert(grid.ca(), grid.dir.resolve("grc-grc.crt"),
        grid.dir.resolve("grc-grc.key"));
    TestCa.Cert operator = grid.issue("operator", "ops");
    ChannelCredentials noClientCert = TlsChannelCredentials.newBuilder()
        .trustManager(grid.ca().toFile()).build();

    List<Case> refusedOnes = new ArrayList<>();
    refusedOnes.add(attempt("no client certificate -> GRC GridService",
        dial(grcAt, noClientCert), TlsMatrixTest::listSites));
    refusedOnes.add(attempt("user certificate from another CA -> GRC GridService",
        dial(grcAt, rogueAlice, Role.GRC), TlsMatrixTest::listSites));
    refusedOnes.add(attempt("expired user certificate -> GRC GridService",
        dial(grcAt, expired, Role.GRC), TlsMatrixTest::listSites));
    refusedOnes.add(attempt("nodemanager certificate -> GRC SiteRegistryService (site API)",
        dial(grcAt, nmAlpha, Role.GRC), ch -> register(ch, "alpha")));
    refusedOnes.add(attempt("plaintext -> GRC's TLS port",
        dial(grcAt, InsecureChannelCredentials.create()), TlsMatrixTest::listSites));
    refusedOnes.add(attempt("plaintext -> CRM's TLS port",
        dial(crmAt, InsecureChannelCredentials.create()), TlsMatrixTest::releaseShare));
    refusedOnes.add(attempt("crm alpha certificate registering site bravo",
        dial(grcAt, crmAlpha, Role.GRC), ch -> register(ch, "bravo")));
    refusedOnes.add(attempt("crm certificate -> GRC GridService (acting as a user)",
        dial(grcAt, crmAlpha, Role.GRC), TlsMatrixTest::listSites));
    refusedOnes.add(attempt("user certificate -> CRM SiteService (acting as the GRC)",
        dial(crmAt, alice, Role.CRM), TlsMatrixTest::releaseShare));
    refusedOnes.add(attempt("nodemanager certificate -> CRM SiteService (acting as the GRC)",
        dial(crmAt, nmAlpha, Role.CRM), TlsMatrixTest::releaseShare));
    refusedOnes.add(attempt("nodemanager bravo certificate -> CRM alpha PilotService",
        dial(crmAt, nmBravo, Role.CRM), TlsMatrixTest::connect));
    refusedOnes.add(attempt("grc certificate -> CRM PilotService (acting as a pilot)",
        dial(crmAt, grcCert, Role.CRM), TlsMatrixTest::connect));
    refusedOnes.add(attempt("user alice submitting a job as bob",
        dial(grcAt, alice, Role.GRC), ch -> submit(ch, "bob")));
    refusedOnes.add(attempt("client expecting the GRC, dialling a CRM (CRM posing as GRC)",
        dial(crmAt, alice, Role.GRC), TlsMatrixTest::listSites));
    Case bravoForAlpha = grcCallsSite("crm bravo certificate answering the GRC for site alpha",
        grcCert, "alpha", crmBravoAt);
    refusedOnes.add(bravoForAlpha);
    refusedOnes.add(attempt("server certificate for another host name",
        dial(new Endpoint("127.0.0.1", impostor.port()), alice, Role.GRC),
        TlsMatrixTest::health));

    List<Case> allowedOnes = new ArrayList<>();
    allowedOnes.add(attempt("user certificate -> GRC GridService",
        dial(grcAt, alice, Role.GRC), TlsMatrixTest::listSites));
    allowedOnes.add(attempt("operator certificate -> GRC GridService",
        dial(grcAt, operator, Role.GRC), TlsMatrixTest::listSites));
    allowedOnes.add(attempt("crm alpha certificate registering site alpha",
        dial(grcAt, crmAlpha, Role.GRC), ch -> register(ch, "alpha")));
    allowedOnes.add(attempt("grc certificate -> CRM SiteService",
        dial(crmAt, grcCert, Role.CRM), TlsMatrixTest::releaseShare));
    allowedOnes.add(grcCallsSite("crm bravo certificate answering the GRC for site bravo",
        grcCert, "bravo", crmBravoAt));
    allowedOnes.add(attempt("nodemanager certificate -> any daemon's health",
        dial(grcAt, nmBravo, Role.GRC), TlsMatrixTest::health));

    List<String> table = new ArrayList<>();
    refusedOnes.forEach(c -> table.add(String.format("  %-8s %-18s %-70s %s", c.refused()
        ? "REFUSED" : "ALLOWED", c.code(), c.what(), c.description())));
    allowedOnes.forEach(c -> table.add(String.format("  %-8s %-18s %-70s %s", c.refused()
        ? "REFUSED" : "ALLOWED", c.code(), c.what(), c.description())));
    long refused = refusedOnes.stream().filter(Case::refused).count();
    System.out.println("TLS matrix: " + refused + " of " + refusedOnes.size()
        + " negative cases refused, " + allowedOnes.stream().filter(c -> !c.refused()).count()
        + " of " + allowedOnes.size() + " positive cases allowed\n" + String.join("\n", table));

    assertThat(refused).as(String.join("\n", table)).isEqualTo(refusedOnes.size())
        .isGreaterThanOrEqualTo(5);
    assertThat(allowedOnes).as(String.join("\n", table)).noneMatch(Case::refused);
    // The handshake refuses what is not of the grid; the authorizer refuses the wrong role.
    for (Case c : refusedOnes.subList(0, 3)) {
      assertThat(c.code()).as(c.what()).isEqualTo(Status.Code.UNAVAILABLE);
    }
    assertThat(refusedOnes.get(3).code()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(refusedOnes.get(3).description()).contains("needs a crm certificate")
        .contains("nodemanager 'alpha'");
    assertThat(refusedOnes.get(6).description())
        .contains("certificate is for site 'alpha'; it cannot register site 'bravo'");
    assertThat(refusedOnes.get(10).description())
        .contains("needs a nodemanager certificate for 'alpha'");
    assertThat(refusedOnes.get(12).description())
        .contains("certificate is for user 'alice'; it cannot submit a job as 'bob'");
    // The GRC checks the CN of the CRM it dials for a site, not just the role.
    assertThat(bravoForAlpha.code()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(bravoForAlpha.description()).contains("crm 'bravo'")
        .contains("expected crm 'alpha'");
    for (Case c : refusedOnes.subList(6, 13)) {
      assertThat(c.code()).as(c.what()).isEqualTo(Status.Code.PERMISSION_DENIED);
    }
  }

  @Test
  void aNodeManagerOfTheSitePassesAuthorization_andMeetsTheOneTimeCredentialCheck()
      throws Exception {
    Case c = attempt("nodemanager alpha -> CRM alpha PilotService",
        dial(crmAt, grid.issue("nodemanager", "alpha", "--out",
            grid.dir.resolve("nm-alpha-2").toString()), Role.CRM), TlsMatrixTest::connect);
    assertThat(c.code()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(c.description()).startsWith("pilot refused").doesNotContain("certificate");
  }

  @Test
  void theGrcTakesTheSubmittingUserFromTheCertificate() throws Exception {
    ManagedChannel ch = dial(grcAt, grid.issue("user", "carol"), Role.GRC);
    try {
      Job job = submit(ch, "");
      assertThat(job.getSpec().getUser()).isEqualTo("carol");
      GridServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
          .cancelJob(CancelJobRequest.newBuilder().setJobId(job.getId()).build());
    } finally {
      Channels.close(ch);
    }
  }

  @Test
  void aUserCannotSeeWatchOrCancelAnotherUsersJob_anOperatorCan() throws Exception {
    ManagedChannel dave = dial(grcAt, grid.issue("user", "dave"), Role.GRC);
    ManagedChannel erin = dial(grcAt, grid.issue("user", "erin"), Role.GRC);
    ManagedChannel op = dial(grcAt, grid.issue("operator", "ops"), Role.GRC);
    try {
      Job job = submit(dave, "");
      GridServiceGrpc.GridServiceBlockingStub asErin = GridServiceGrpc.newBlockingStub(erin)
          .withDeadlineAfter(10, TimeUnit.SECONDS);
      List<Runnable> forbidden = List.of(
          () -> asErin.getJob(GetJobRequest.newBuilder().setJobId(job.getId()).build()),
          () -> asErin.watchJob(WatchJobRequest.newBuilder().setJobId(job.getId()).build())
              .hasNext(),
          () -> asErin.cancelJob(CancelJobRequest.newBuilder().setJobId(job.getId()).build()));
      for (Runnable call : forbidden) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e ->
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
      }
      assertThat(asErin.listJobs(ListJobsRequest.newBuilder().setIncludeFinished(true).build())
          .getJobsList()).noneMatch(j -> j.getId().equals(job.getId()));
      GridServiceGrpc.GridServiceBlockingStub asOp = GridServiceGrpc.newBlockingStub(op)
          .withDeadlineAfter(10, TimeUnit.SECONDS);
      assertThat(asOp.listJobs(ListJobsRequest.newBuilder().setIncludeFinished(true).build())
          .getJobsList()).anyMatch(j -> j.getId().equals(job.getId()));
      assertThat(asOp.cancelJob(CancelJobRequest.newBuilder().setJobId(job.getId()).build())
          .getJob().getId()).isEqualTo(job.getId());
    } finally {
      Channels.close(dave);
      Channels.close(erin);
      Channels.close(op);
    }
  }

  @Test
  void aUserSeesUsesAndCancelsOnlyTheirOwnReservations_anOperatorAll() throws Exception {
    ManagedChannel frank = dial(grcAt, grid.issue("user", "frank"), Role.GRC);
    ManagedChannel gina = dial(grcAt, grid.issue("user", "gina"), Role.GRC);
    ManagedChannel op = dial(grcAt, grid.issue("operator", "ops"), Role.GRC);
    try {
      GridServiceGrpc.GridServiceBlockingStub asFrank = GridServiceGrpc.newBlockingStub(frank)
          .withDeadlineAfter(10, TimeUnit.SECONDS);
      Reservation r = asFrank.reserve(ReserveRequest.newBuilder().setSpec(ReservationSpec
          .newBuilder().putSiteNodes("alpha", 1)
          .setStart(ProtoTime.toProto(Instant.now().plus(Duration.ofHours(2))))
          .setDuration(ProtoTime.toProto(Duration.ofMinutes(5)))).build()).getReservation();
      assertThat(r.getSpec().getUser()).isEqualTo("frank");
      GridServiceGrpc.GridServiceBlockingStub asGina = GridServiceGrpc.newBlockingStub(gina)
          .withDeadlineAfter(10, TimeUnit.SECONDS);
      List<Runnable> forbidden = List.of(
          () -> asGina.getReservation(GetReservationRequest.newBuilder()
              .setReservationId(r.getId()).build()),
          () -> asGina.cancelReservation(CancelReservationRequest.newBuilder()
              .setReservationId(r.getId()).build()),
          () -> asGina.submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
              .setReservationId(r.getId()).addArgv("true").setWorkingDirectory("/")).build()));
      for (Runnable call : forbidden) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e ->
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
      }
      assertThatThrownBy(() -> asGina.reserve(ReserveRequest.newBuilder().setSpec(ReservationSpec
          .newBuilder().putSiteNodes("alpha", 1).setUser("frank")).build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e ->
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED));
      assertThat(asGina.listReservations(ListReservationsRequest.newBuilder()
          .setIncludeFinished(true).build()).getReservationsList())
          .noneMatch(x -> x.getId().equals(r.getId()));
      // Across pages too: frank asking for everyone's sees only his own, page by page, and
      // his token is not gina's (it is bound to the user the GRC listed).
      Reservation r2 = asFrank.reserve(ReserveRequest.newBuilder().setSpec(ReservationSpec
          .newBuilder().putSiteNodes("alpha", 1)
          .setStart(ProtoTime.toProto(Instant.now().plus(Duration.ofHours(2))))
          .setDuration(ProtoTime.toProto(Duration.ofMinutes(5)))).build()).getReservation();
      List<String> franks = new java.util.ArrayList<>();
      ListReservationsRequest.Builder page = ListReservationsRequest.newBuilder().setPageSize(1);
      String giveToGina = null;
      do {
        ListReservationsResponse got = asFrank.listReservations(page.build());
        got.getReservationsList().forEach(x -> {
          assertThat(x.getSpec().getUser()).isEqualTo("frank");
          franks.add(x.getId());
        });
        page.setPageToken(got.getNextPageToken());
        giveToGina = giveToGina == null ? got.getNextPageToken() : giveToGina;
      } while (!page.getPageToken().isEmpty());
      assertThat(franks).doesNotHaveDuplicates().contains(r.getId(), r2.getId());
      String token = giveToGina;
      assertThatThrownBy(() -> asGina.listReservations(ListReservationsRequest.newBuilder()
          .setPageSize(1).setPageToken(token).build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(e.getStatus().getDescription()).startsWith("page_token: '" + token + "'");
          });
      asFrank.cancelReservation(CancelReservationRequest.newBuilder().setReservationId(r2.getId())
          .build());
      GridServiceGrpc.GridServiceBlockingStub asOp = GridServiceGrpc.newBlockingStub(op)
          .withDeadlineAfter(10, TimeUnit.SECONDS);
      assertThat(asOp.listReservations(ListReservationsRequest.newBuilder()
          .setIncludeFinished(true).build()).getReservationsList())
          .anyMatch(x -> x.getId().equals(r.getId()));
      assertThat(asOp.cancelReservation(CancelReservationRequest.newBuilder()
          .setReservationId(r.getId()).build()).getReservation().getState())
          .isEqualTo(ReservationState.RESERVATION_CANCELLED);
    } finally {
      Channels.close(frank);
      Channels.close(gina);
      Channels.close(op);
    }
  }

  @Test
  void aDaemonWithoutATlsSectionRefusesToStart_namingTheField() throws IOException {
    GrcConfig none = ConfigLoader.parse("grc.yaml", "listen: 127.0.0.1:0\n", GrcConfig.class);
    org.assertj.core.api.Assertions.assertThatThrownBy(() ->
        GrcServer.tcp("grc.yaml", none, Clock.systemUTC()))
        .hasMessageStartingWith("grc.yaml: tls: is required");
    Files.writeString(dir.resolve("marker"), "");
  }

  /** This test never starts a job, so no pilot is ever started. */
  static final class NoPilots implements PilotStarter {
    @Override
    public PilotHandle start(PilotLaunch launch) throws PilotStartException {
      throw new PilotStartException("no pilots in the TLS matrix test");
    }

    @Override
    public void stop(PilotHandle handle) {}
  }
}
