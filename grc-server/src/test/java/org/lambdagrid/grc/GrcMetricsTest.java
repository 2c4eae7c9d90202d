package org.lambdagrid.grc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ops.HttpConfig;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReserveRequest;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.WatchJobRequest;

/** The GRC's metrics over its real HTTP port, before and after a job and a refused reservation. */
class GrcMetricsTest {
  private final FakeSites fakes = new FakeSites();
  private GrcServer server;
  private ManagedChannel channel;

  @AfterEach
  void tearDown() {
    if (channel != null) {
      channel.shutdownNow();
    }
    if (server != null) {
      server.close();
    }
  }

  private String scrape() throws Exception {
    HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + server.httpPort() + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body();
  }

  @Test
  void jobsReservationsSitesLinksAndCallsAreCounted() throws Exception {
    fakes.add("a");
    fakes.add("b").failOn("Prepare", Status.RESOURCE_EXHAUSTED.withDescription("no nodes"));
    String name = InProcessServerBuilder.generateName();
    GrcConfig config = new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms",
        null, null).withTopology(new GrcConfig.TopologyConfig(
            java.util.List.of("a", "b", "core"), java.util.List.of(
                new GrcConfig.LinkConfig("a", "core", "1G"),
                new GrcConfig.LinkConfig("b", "core", "1G"))), null)
        .withHttp(new HttpConfig("127.0.0.1:0"));
    server = new GrcServer(config, Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(name).directExecutor()).start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    var sites = SiteRegistryServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(30, TimeUnit.SECONDS);
    var grid = GridServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    for (String s : new String[] {"a", "b"}) {
      sites.registerSite(RegisterSiteRequest.newBuilder().setName(s)
          .setCrmEndpoint(FakeSites.endpoint(s)).setNodeCapacity(4)
          .addRanges(AddressRange.newBuilder().setCidr("10.10.0.0/16")).build());
    }
    String before = scrape();
    assertThat(before).contains("lambdagrid_grc_sites 2.0")
        .contains("lambdagrid_grc_site_nodes{site=\"a\"} 4.0")
        .contains("lambdagrid_grc_site_nodes_reserved{site=\"a\"} 0.0")
        .contains("lambdagrid_grc_link_capacity_bps{link=\"a<->core\"} 1.0E9")
        .contains("lambdagrid_grc_jobs_finished_total{state=\"SUCCEEDED\"} 0.0")
        .contains("lambdagrid_grc_two_phase_commits_total{result=\"COMMITTED\"} 0.0");

    String id = grid.submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
        .putSiteNodes("a", 2).addArgv("hostname").setWorkingDirectory("/tmp")
        .setUser("alice")).build()).getJob().getId();
    grid.watchJob(WatchJobRequest.newBuilder().setJobId(id).build()).forEachRemaining(e -> { });
    assertThatThrownBy(() -> grid.reserve(ReserveRequest.newBuilder().setSpec(
        ReservationSpec.newBuilder().setUser("alice").putSiteNodes("b", 1)).build()))
        .hasMessageContaining("no nodes");

    String after = scrape();
    assertThat(after).contains("lambdagrid_grc_jobs_finished_total{state=\"SUCCEEDED\"} 1.0")
        .contains("lambdagrid_grc_job_state_seconds_count{state=\"SETTING_UP\"} 1")
        .contains("lambdagrid_grc_job_state_seconds_count{state=\"RUNNING\"} 1")
        .contains("lambdagrid_grc_two_phase_commits_total{result=\"COMMITTED\"} 1.0")
        .contains("lambdagrid_grc_two_phase_commits_total{result=\"REFUSED\"} 1.0")
        .contains("lambdagrid_grpc_server_handled_total{code=\"OK\",method=\"SubmitJob\","
            + "service=\"lambdagrid.v1.GridService\"} 1.0")
        .contains("lambdagrid_grpc_server_handled_total{code=\"RESOURCE_EXHAUSTED\","
            + "method=\"Reserve\",service=\"lambdagrid.v1.GridService\"} 1.0");
  }
}
