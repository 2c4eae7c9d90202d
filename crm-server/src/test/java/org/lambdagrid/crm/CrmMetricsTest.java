package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.crm.testing.InProcessCrm;
import org.lambdagrid.proto.v1.AbortRequest;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.SetupNodesRequest;

/** A CRM's metrics over its real HTTP port while a share runs and a hold is aborted. */
class CrmMetricsTest {
  private static final CrmConfig CONFIG = ConfigLoader.parse("crm.yaml", """
      site: b
      listen: 127.0.0.1:0
      advertise: crm-b.lan:7101
      grc: 127.0.0.1:1
      node_capacity: 3
      ranges: [10.20.0.0/24]
      http:
        listen: 127.0.0.1:0
      """, CrmConfig.class);

  private static String scrape(InProcessCrm crm) throws Exception {
    return scrape(crm.server);
  }

  private static String scrape(CrmServer server) throws Exception {
    HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + server.httpPort() + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body();
  }

  private static double sum(String scrape, String metric) {
    return scrape.lines().filter(l -> l.startsWith(metric + "{") || l.startsWith(metric + " "))
        .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
  }

  @Test
  void holdsSharesNodesAndPilotsAreCounted() throws Exception {
    try (InProcessCrm crm = new InProcessCrm(CONFIG, null)) {
      crm.server.registration().get(10, java.util.concurrent.TimeUnit.SECONDS);
      String idle = scrape(crm);
      assertThat(idle).contains("lambdagrid_crm_site_nodes 3.0")
          .contains("lambdagrid_crm_site_nodes_reserved 0.0")
          .contains("lambdagrid_crm_shares 0.0")
          .contains("lambdagrid_crm_holds_total{state=\"EXPIRED\"} 0.0")
          .contains("lambdagrid_crm_overlay_records_lost 0.0"); // a site that is not routed

      crm.openShare("j-1", 2, "10.20.0.0/29", "alice", null);
      crm.site().setupNodes(SetupNodesRequest.newBuilder().setJobId("j-1")
          .setTimeout(ProtoTime.toProto(Duration.ofSeconds(5))).build());
      crm.site().prepare(PrepareRequest.newBuilder().setReservationId("r-2").setNodeCount(1)
          .setRange(AddressRange.newBuilder().setCidr("10.20.0.8/29")).setUser("bob")
          .setStart(ProtoTime.toProto(crm.clock.instant().plusSeconds(60)))
          .setEnd(ProtoTime.toProto(crm.clock.instant().plusSeconds(120))).build());
      crm.site().abort(AbortRequest.newBuilder().setReservationId("r-2").build());

      String busy = scrape(crm);
      assertThat(busy).contains("lambdagrid_crm_site_nodes_reserved 2.0")
          .contains("lambdagrid_crm_shares 1.0")
          .contains("lambdagrid_crm_pilots_started_total 2.0")
          .contains("lambdagrid_crm_holds_total{state=\"PREPARED\"} 2.0")
          .contains("lambdagrid_crm_holds_total{state=\"COMMITTED\"} 1.0")
          .contains("lambdagrid_crm_holds_total{state=\"ABORTED\"} 1.0")
          .contains("lambdagrid_grpc_server_handled_total{code=\"OK\",method=\"Prepare\","
              + "service=\"lambdagrid.v1.SiteService\"} 2.0");
      assertThat(sum(busy, "lambdagrid_crm_nodes")).isEqualTo(2.0);
    }
  }

  @Test
  void theCapacityGaugeIsWhatTheCrmRegisteredNotNodeCapacity() throws Exception {
    // The batch system has 2 usable nodes of node_capacity's 3: the CRM registers 2.
    java.util.List<Integer> registered = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
    org.lambdagrid.crm.testing.FakeBatchReservations batch =
        new org.lambdagrid.crm.testing.FakeBatchReservations("b").capacity(2);
    String name = "crm-metrics-capacity";
    CrmServer server = new CrmServer(CONFIG, new org.lambdagrid.crm.testing.TestPilotStarter(null),
        batch, io.grpc.inprocess.InProcessServerBuilder.forName(name), req -> {
          try {
            go.await(); // the first registration waits for the test's first look
          } catch (InterruptedException e) {
            throw new IllegalStateException(e);
          }
          registered.add(req.getNodeCapacity());
          return org.lambdagrid.proto.v1.RegisterSiteResponse.newBuilder()
              .setSite(org.lambdagrid.proto.v1.SiteInfo.newBuilder().setName(req.getName())
                  .setNodeCapacity(req.getNodeCapacity())).build();
        }, null, org.lambdagrid.common.testing.TestClock.ofNow())
        .reregisterEvery(Duration.ofMillis(50));
    try {
      assertThat(scrape(server.start())).doesNotContain("lambdagrid_crm_site_nodes ");
      go.countDown();
      server.registration().get(10, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(scrape(server)).contains("lambdagrid_crm_site_nodes 2.0");
      batch.capacity(1); // a node went down: the next registration says 1, and so does the gauge
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
          .until(() -> registered.contains(1));
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
          .until(() -> scrape(server).contains("lambdagrid_crm_site_nodes 1.0"));
    } finally {
      server.close();
    }
  }
}
