package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.security.BearerTokens;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.RoleAuthorizer;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.ListJobsRequest;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.ReleaseShareResponse;
import org.lambdagrid.proto.v1.AbortRequest;
import org.lambdagrid.proto.v1.AbortResponse;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.CommitResponse;
import org.lambdagrid.proto.v1.OpenShareRequest;
import org.lambdagrid.proto.v1.OpenShareResponse;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.PrepareResponse;
import org.lambdagrid.proto.v1.ReleaseRequest;
import org.lambdagrid.proto.v1.ReleaseResponse;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.SubmitJobRequest;

/**
 * Users with operator-issued bearer tokens instead of certificates, on the GRC's token port (TLS
 * without client certificates): a token's user sees, lists and cancels only their own jobs; an
 * operator token sees all; no token, a made-up one or a revoked one is UNAUTHENTICATED; the
 * token port serves only GridService (SiteRegistryService is not there: UNIMPLEMENTED).
 */
class TokenUsersTest {
  @TempDir Path dir;
  private final List<AutoCloseable> closeMe = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeMe.size() - 1; i >= 0; i--) {
      closeMe.get(i).close();
    }
  }

  /** A CRM that votes yes to every reservation, opens and releases shares, and nothing else. */
  static final class HoldingCrm extends SiteServiceGrpc.SiteServiceImplBase {
    @Override
    public void prepare(PrepareRequest r, StreamObserver<PrepareResponse> out) {
      out.onNext(PrepareResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void commit(CommitRequest r, StreamObserver<CommitResponse> out) {
      out.onNext(CommitResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void abort(AbortRequest r, StreamObserver<AbortResponse> out) {
      out.onNext(AbortResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void release(ReleaseRequest r, StreamObserver<ReleaseResponse> out) {
      out.onNext(ReleaseResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void openShare(OpenShareRequest r, StreamObserver<OpenShareResponse> out) {
      out.onNext(OpenShareResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void releaseShare(ReleaseShareRequest r, StreamObserver<ReleaseShareResponse> out) {
      out.onNext(ReleaseShareResponse.getDefaultInstance());
      out.onCompleted();
    }
  }

  private ManagedChannel tokenChannel(GrcServer grc, Path ca, String token) throws Exception {
    ManagedChannel ch = Grpc.newChannelBuilderForAddress("127.0.0.1", grc.tokenPort(),
        TlsChannelCredentials.newBuilder().trustManager(ca.toFile()).build()).build();
    closeMe.add(ch::shutdownNow);
    return ch;
  }

  private static GridServiceGrpc.GridServiceBlockingStub as(ManagedChannel ch, String token) {
    Metadata md = new Metadata();
    if (token != null) {
      md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + token);
    }
    return GridServiceGrpc.newBlockingStub(ch)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
        .withDeadlineAfter(20, TimeUnit.SECONDS);
  }

  private static Status.Code code(Runnable call) {
    try {
      call.run();
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }

  @Test
  void eachTokenUserSeesOnlyTheirOwnJobs() throws Exception {
    TestCa ca = TestCa.init(dir.resolve("ca"));
    TestCa.Cert crmCert = ca.issue("crm", "alpha");
    DaemonServer crm = new DaemonServer("crm-alpha", DaemonServer.netty("crm",
        new Endpoint("127.0.0.1", 0), new TlsConfig(crmCert.ca().toString(),
            crmCert.cert().toString(), crmCert.key().toString(), null)),
        List.of(new HoldingCrm()), RoleAuthorizer.anyRole()).start();
    closeMe.add(crm);

    Path tokens = dir.resolve("tokens");
    String alice = BearerTokens.issue(tokens, Role.USER, "alice");
    String bob = BearerTokens.issue(tokens, Role.USER, "bob");
    String admin = BearerTokens.issue(tokens, Role.OPERATOR, "admin");
    assertThat(Files.readString(tokens)).doesNotContain(alice).contains(" user alice\n");

    GrcConfig config = ConfigLoader.parse("grc.yaml", "listen: 127.0.0.1:0\nstate_dir: "
        + dir.resolve("grc") + "\ntokens: {listen: 127.0.0.1:0, file: " + tokens + "}\n"
        + ca.issue("grc", "grc").yaml(), GrcConfig.class);
    GrcServer grc = GrcServer.tcp("grc.yaml", config, Clock.systemUTC()).start();
    closeMe.add(grc);
    grc.registry().register("alpha", "127.0.0.1:" + crm.port(), 8, List.of("10.10.0.0/24"), 1);

    ManagedChannel ch = tokenChannel(grc, crmCert.ca(), null);
    JobSpec spec = JobSpec.newBuilder().putSiteNodes("alpha", 1).addArgv("true")
        .setWorkingDirectory("/tmp").setStart(ProtoTime.toProto(Instant.now().plusSeconds(3600)))
        .build();
    Job job = as(ch, alice).submitJob(SubmitJobRequest.newBuilder().setSpec(spec).build())
        .getJob();
    assertThat(job.getSpec().getUser()).as("the user is the token's").isEqualTo("alice");
    GetJobRequest get = GetJobRequest.newBuilder().setJobId(job.getId()).build();

    assertThat(as(ch, alice).getJob(get).getJob().getId()).isEqualTo(job.getId());
    assertThat(code(() -> as(ch, bob).getJob(get))).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(as(ch, bob).listJobs(ListJobsRequest.newBuilder().setIncludeFinished(true).build())
        .getJobsList()).isEmpty();
    assertThat(code(() -> as(ch, bob).cancelJob(CancelJobRequest.newBuilder()
        .setJobId(job.getId()).build()))).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(code(() -> as(ch, bob).submitJob(SubmitJobRequest.newBuilder()
        .setSpec(spec.toBuilder().setUser("alice")).build())))
        .isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(as(ch, admin).listJobs(ListJobsRequest.newBuilder().setIncludeFinished(true).build())
        .getJobsList()).extracting(Job::getId).contains(job.getId());

    assertThat(code(() -> as(ch, null).getJob(get))).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(code(() -> as(ch, BearerTokens.PREFIX + "made-up").getJob(get)))
        .isEqualTo(Status.Code.UNAUTHENTICATED);
    var registry = SiteRegistryServiceGrpc.newBlockingStub(ch).withInterceptors(
        MetadataUtils.newAttachHeadersInterceptor(bearer(admin)));
    assertThat(code(() -> registry.registerSite(RegisterSiteRequest.newBuilder()
        .setName("evil").build()))).isEqualTo(Status.Code.UNIMPLEMENTED);

    // Revoking: the operator deletes the line; the GRC re-reads the file.
    Files.writeString(tokens, Files.readString(tokens).lines()
        .filter(l -> !l.endsWith(" alice")).reduce("", (a, l) -> a + l + "\n"));
    assertThat(code(() -> as(ch, alice).getJob(get))).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(as(ch, admin).cancelJob(CancelJobRequest.newBuilder().setJobId(job.getId())
        .build()).getJob().getState().name()).isEqualTo("JOB_CANCELLED");
  }

  private static Metadata bearer(String token) {
    Metadata md = new Metadata();
    md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
    return md;
  }
}
