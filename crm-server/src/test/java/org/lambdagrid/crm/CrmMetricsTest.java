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
    HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + crm.server.httpPort() + "/metrics")).build(),
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
      String idle = scrape(crm);
      assertThat(idle).contains("lambdagrid_crm_site_nodes 3.0")
          .contains("lambdagrid_crm_site_nodes_reserved 0.0")
          .contains("lambdagrid_crm_shares 0.0")
          .contains("lambdagrid_crm_holds_total{state=\"EXPIRED\"} 0.0");

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
}
