package org.lambdagrid.grc.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.grc.job.OutputBuffer;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.StreamOutputRequest;
import org.lambdagrid.proto.v1.StreamOutputResponse;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.WatchJobRequest;
import org.lambdagrid.proto.v1.WatchJobResponse;

/**
 * A client that reads slowly while the job's command writes one byte at a time: the GRC keeps a
 * bounded amount for the job and sends the stream only what the client asked for, and the
 * client is told how many bytes it missed.
 */
class SlowReaderTest {
  private static final long LIMIT = 16 * 1024;
  private final FakeSites fakes = new FakeSites();
  private FakeSite a;
  private GrcServer server;
  private ManagedChannel channel;
  private GridServiceGrpc.GridServiceBlockingStub grid;

  @BeforeEach
  void setUp() throws Exception {
    a = fakes.add("a").holdExit();
    String name = InProcessServerBuilder.generateName();
    GrcConfig config = new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms",
        null, LIMIT);
    server = new GrcServer(config, Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(name).directExecutor()).start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    grid = GridServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    SiteRegistryServiceGrpc.newBlockingStub(channel).registerSite(RegisterSiteRequest
        .newBuilder().setName("a").setCrmEndpoint(FakeSites.endpoint("a")).setNodeCapacity(2)
        .addRanges(AddressRange.newBuilder().setCidr("10.10.0.0/16")).build());
  }

  @AfterEach
  void tearDown() {
    channel.shutdownNow();
    server.close();
  }

  /** A stream reader that asks for one message at first and more only when told to. */
  static final class Reader<T> implements ClientResponseObserver<Object, T> {
    final List<T> got = new CopyOnWriteArrayList<>();
    final CountDownLatch done = new CountDownLatch(1);
    volatile ClientCallStreamObserver<Object> call;
    volatile boolean eager;

    @Override
    public void beforeStart(ClientCallStreamObserver<Object> c) {
      call = c;
      c.disableAutoRequestWithInitial(1);
    }

    @Override
    public void onNext(T value) {
      got.add(value);
      if (eager) {
        call.request(1);
      }
    }

    @Override
    public void onError(Throwable t) {
      done.countDown();
    }

    @Override
    public void onCompleted() {
      done.countDown();
    }

    /** From now on, ask for the next message as each arrives. */
    void readOn() {
      eager = true;
      call.request(1);
    }
  }

  private Job running() {
    Job job = grid.submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
        .putSiteNodes("a", 1).addArgv("yes").setWorkingDirectory("/tmp").setUser("alice"))
        .build()).getJob();
    await().atMost(Duration.ofSeconds(20)).until(() -> grid.getJob(GetJobRequest.newBuilder()
        .setJobId(job.getId()).build()).getJob().getState() == JobState.JOB_RUNNING);
    return job;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  @Test
  void aSlowReaderOfAOneByteWriterCostsTheGrcABoundedBufferAndIsToldWhatItMissed()
      throws Exception {
    Job job = running();
    String id = job.getId();
    a.output(id, "a-0", OutputChunk.Stream.STDOUT, "x");
    Reader<StreamOutputResponse> reader = new Reader<>();
    GridServiceGrpc.newStub(channel).streamOutput(StreamOutputRequest.newBuilder().setJobId(id)
        .setFollow(true).build(), (ClientResponseObserver) reader);
    await().atMost(Duration.ofSeconds(10)).until(() -> reader.got.size() == 1);

    int n = 200_000;
    for (int i = 0; i < n; i++) {
      a.output(id, "a-0", OutputChunk.Stream.STDOUT, "x");
    }
    OutputBuffer buffer = server.coordinator().job(id).output();
    // The job's output in memory stays within output_buffer_bytes, in a few coalesced pieces...
    assertThat(buffer.retainedBytes() + OutputBuffer.PIECE_OVERHEAD * buffer.retainedChunks())
        .isLessThanOrEqualTo(LIMIT);
    assertThat(buffer.retainedChunks()).isLessThanOrEqualTo(8);
    assertThat(buffer.totalBytes()).isEqualTo(n + 1);
    assertThat(buffer.droppedBytes()).isGreaterThanOrEqualTo(n + 1 - LIMIT);
    // ... and the stream sent nothing the client did not ask for (nothing queued for it).
    assertThat(reader.got).hasSize(1);

    a.exit(id, "a-0", 0);
    await().atMost(Duration.ofSeconds(20)).until(() -> grid.getJob(GetJobRequest.newBuilder()
        .setJobId(id).build()).getJob().getState() == JobState.JOB_SUCCEEDED);
    reader.readOn();
    assertThat(reader.done.await(20, TimeUnit.SECONDS)).isTrue();
    List<StreamOutputResponse> rest = reader.got.subList(1, reader.got.size());
    assertThat(rest.size()).as("a few pieces, not one message per byte").isLessThan(10);
    assertThat(rest.get(0).getDroppedBytes()).as("told what it missed")
        .isEqualTo(buffer.droppedBytes() - 1);
    long data = reader.got.stream().mapToLong(r -> r.getChunk().getData().size()).sum();
    long dropped = reader.got.stream().mapToLong(StreamOutputResponse::getDroppedBytes).sum();
    assertThat(data + dropped).as("every byte is either received or counted").isEqualTo(n + 1);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  @Test
  void watchJobSendsEventsOnlyAsTheClientAsksForThem() throws Exception {
    Job job = running();
    Reader<WatchJobResponse> reader = new Reader<>();
    GridServiceGrpc.newStub(channel).watchJob(WatchJobRequest.newBuilder()
        .setJobId(job.getId()).build(), (ClientResponseObserver) reader);
    await().atMost(Duration.ofSeconds(10)).until(() -> reader.got.size() == 1);
    a.exit(job.getId(), "a-0", 0);
    await().atMost(Duration.ofSeconds(20)).until(() -> grid.getJob(GetJobRequest.newBuilder()
        .setJobId(job.getId()).build()).getJob().getState() == JobState.JOB_SUCCEEDED);
    assertThat(reader.got).hasSize(1);
    assertThat(reader.done.getCount()).isEqualTo(1);
    reader.readOn();
    assertThat(reader.done.await(20, TimeUnit.SECONDS)).isTrue();
    int total = server.coordinator().job(job.getId()).events().size();
    assertThat(reader.got).hasSize(total);
    for (int i = 0; i < total; i++) {
      assertThat(reader.got.get(i).getEvent().getSequence()).isEqualTo(i + 1);
    }
    assertThat(reader.got.get(total - 1).getEvent().getJobState())
        .isEqualTo(JobState.JOB_SUCCEEDED);
  }
}
