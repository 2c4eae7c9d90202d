package org.lambdagrid.grc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;

/**
 * A GRC that stops without its orderly shutdown (as after kill -9) and starts again on the same
 * state database: sites, finished jobs (with output and host list) and leases come back;
 * unfinished jobs end FAILED naming the phase, and their shares and leases are released.
 */
class GrcRestartTest {
  @TempDir Path dir;
  private final FakeSites fakes = new FakeSites();
  private final List<AutoCloseable> closeMe = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeMe.size() - 1; i >= 0; i--) {
      closeMe.get(i).close();
    }
  }

  private GrcConfig config() {
    return new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms", null, null,
        null, dir.toString(), null);
  }

  /** The first GRC's core, built by hand so the test can drop it without shutdown(). */
  private final class FirstLife {
    final GrcState state = GrcState.open(config());
    final AddressAllocator allocator = new AddressAllocator(state.leases());
    final SiteRegistry registry = new SiteRegistry(Clock.systemUTC(), allocator, state::saveSite);
    final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();
    final ExecutorService workers = Executors.newCachedThreadPool();
    final JobCoordinator coordinator = new JobCoordinator(registry, allocator,
        new JdbcJobStore(state, 1 << 20), fakes.factory(), Clock.systemUTC(), timers, workers,
        config().settings());

    /** kill -9: no job is ended, nothing released; the database file is left as it is. */
    void crash() {
      state.close(); // first: whatever the dying threads still try to write is lost
      timers.shutdownNow();
      workers.shutdownNow();
    }
  }

  private static JobSpec.Builder spec(int a, int b) {
    return JobSpec.newBuilder().putSiteNodes("a", a).putSiteNodes("b", b).addArgv("app")
        .setWorkingDirectory("/tmp").setUser("alice");
  }

  @Test
  void aRestartedGrcKeepsFinishedJobsAndFailsAndReleasesUnfinishedOnes() throws Exception {
    FakeSite a = fakes.add("a").stdout("hello\n");
    FakeSite b = fakes.add("b");
    FirstLife first = new FirstLife();
    first.registry.register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/24"), 1);
    first.registry.register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/24"), 1);
    Job done = first.coordinator.submit(spec(1, 1).build());
    await().atMost(Duration.ofSeconds(20)).until(() ->
        first.coordinator.get(done.getId()).getState() == JobState.JOB_SUCCEEDED);
    a.hangOn("StartGuests");
    Job running = first.coordinator.submit(spec(1, 1).build());
    Job later = first.coordinator.submit(spec(2, 2).setStart(ProtoTime.toProto(
        Instant.now().plusSeconds(3600))).build());
    await().atMost(Duration.ofSeconds(20)).until(() ->
        first.coordinator.get(running.getId()).getState() == JobState.JOB_STARTING);
    Map<String, Ipv4Cidr> laterRanges = first.allocator.leasesOf(later.getId());
    first.crash();

    GrcServer second = new GrcServer(config(), Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName("grc-restart").directExecutor(),
        GrcState.open(config()));
    closeMe.add(second);
    second.start();

    assertThat(second.registry().list()).extracting(Site::name).containsExactly("a", "b");
    Job d = second.coordinator().get(done.getId());
    assertThat(d.getState()).isEqualTo(JobState.JOB_SUCCEEDED);
    assertThat(second.coordinator().hosts(done.getId())).hasSize(2);
    List<String> out = new ArrayList<>();
    second.coordinator().job(done.getId()).output().read(false, new OutputBuffer.Reader() {
      @Override
      public void onChunk(OutputChunk chunk) {
        out.add(chunk.getData().toStringUtf8());
      }

      @Override
      public void onEnd() { }
    });
    assertThat(out).contains("hello\n");

    Job r = second.coordinator().get(running.getId());
    assertThat(r.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(r.getFailedPhase()).isEqualTo(Phase.PHASE_RUN);
    assertThat(r.getMessage()).startsWith("the GRC restarted during phase RUN");
    Job l = second.coordinator().get(later.getId());
    assertThat(l.getState()).isEqualTo(JobState.JOB_FAILED);
    assertThat(l.getMessage()).startsWith("the GRC restarted before the job started (PENDING)");
    assertThat(second.coordinator().job(later.getId()).events()).last()
        .extracting(e -> e.getJobState()).isEqualTo(JobState.JOB_FAILED);

    // Both unfinished jobs were released on both sites, and their leases are free again.
    assertThat(b.released()).contains(running.getId(), later.getId());
    assertThat(second.recovery().draining()).isEmpty();
    assertThat(second.allocator().holders()).isEmpty();
    assertThat(second.registry().holders()).isEmpty();
    Job again = second.coordinator().submit(spec(2, 2).build());
    // Everything was freed: first fit starts at the bottom of the pool again.
    assertThat(laterRanges.get("a").toString()).isNotEqualTo("10.10.0.0/30");
    assertThat(again.getSiteRangesMap().get("a").getCidr()).isEqualTo("10.10.0.0/30");
  }

  @Test
  void leasesOfUnreachableSitesStayTakenUntilTheSiteConfirmsTheRelease() throws Exception {
    FakeSite a = fakes.add("a");
    fakes.add("b");
    FirstLife first = new FirstLife();
    first.registry.register("a", FakeSites.endpoint("a"), 4, List.of("10.10.0.0/24"), 1);
    first.registry.register("b", FakeSites.endpoint("b"), 4, List.of("10.10.0.0/24"), 1);
    Job pending = first.coordinator.submit(spec(1, 1).setStart(ProtoTime.toProto(
        Instant.now().plusSeconds(3600))).build());
    Map<String, Ipv4Cidr> held = first.allocator.leasesOf(pending.getId());
    first.crash();

    a.failOn("ReleaseShare", Status.UNAVAILABLE.withDescription("CRM a is down"));
    GrcServer second = new GrcServer(config(), Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName("grc-restart-2").directExecutor(),
        GrcState.open(config()));
    closeMe.add(second);
    second.start();
    assertThat(second.coordinator().get(pending.getId()).getState())
        .isEqualTo(JobState.JOB_FAILED);
    assertThat(second.recovery().draining()).containsExactly(pending.getId());
    assertThat(second.allocator().leasesOf(pending.getId())).isEqualTo(held);
    Job other = second.coordinator().submit(spec(1, 1).build());
    assertThat(other.getSiteRangesMap().get("a").getCidr())
        .isNotEqualTo(held.get("a").toString()).isNotEqualTo(held.get("b").toString());

    a.recoverFrom("ReleaseShare");
    await().atMost(Duration.ofSeconds(20)).until(() -> second.recovery().draining().isEmpty());
    assertThat(second.allocator().leasesOf(pending.getId())).isEmpty();
  }
}
