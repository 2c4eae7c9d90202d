package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.crm.testing.InProcessCrm;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.SiteInfo;
import org.junit.jupiter.api.Test;

class CrmServerTest {
  private static CrmConfig config() {
    return ConfigLoader.parse("crm.yaml", """
        site: b
        listen: 127.0.0.1:0
        advertise: crm-b.lan:7101
        grc: 127.0.0.1:1
        node_capacity: 2
        ranges: [10.10.0.0/16, 10.20.0.0/24]
        slots_per_node: 4
        shutdown_wait: 1s
        pilot:
          run_as_user: false
        """, CrmConfig.class);
  }

  @Test
  void registersWithTheGrcRetryingWhileItIsUnavailable() {
    AtomicInteger calls = new AtomicInteger();
    List<RegisterSiteRequest> seen = new CopyOnWriteArrayList<>();
    try (InProcessCrm crm = new InProcessCrm(config(), req -> {
      seen.add(req);
      if (calls.incrementAndGet() < 3) {
        throw Status.UNAVAILABLE.withDescription("connection refused").asRuntimeException();
      }
      return RegisterSiteResponse.newBuilder().setSite(SiteInfo.newBuilder().setName("b")).build();
    })) {
      assertThat(crm.server.registration()).succeedsWithin(Duration.ofSeconds(5))
          .extracting(SiteInfo::getName).isEqualTo("b");
      assertThat(calls.get()).isEqualTo(3);
      RegisterSiteRequest req = seen.get(0);
      assertThat(req.getName()).isEqualTo("b");
      assertThat(req.getCrmEndpoint()).isEqualTo("crm-b.lan:7101");
      assertThat(req.getNodeCapacity()).isEqualTo(2);
      assertThat(req.getSlotsPerNode()).isEqualTo(4);
      assertThat(req.getRangesList()).extracting(AddressRange::getCidr)
          .containsExactly("10.10.0.0/16", "10.20.0.0/24");
      assertThat(req.hasOverlay()).as("not routed without an overlay section").isFalse();
    }
  }

  @Test
  void aRoutedSiteSendsItsOverlayEndInItsRegistration() {
    CrmConfig routed = ConfigLoader.parse("crm.yaml", """
        site: b
        listen: 127.0.0.1:0
        advertise: crm-b.lan:7101
        grc: 127.0.0.1:1
        node_capacity: 2
        ranges: [10.10.0.0/16]
        overlay: {endpoint: 172.31.255.6, netns: lg-site-b, underlay_mtu: 1550}
        """, CrmConfig.class);
    List<RegisterSiteRequest> seen = new CopyOnWriteArrayList<>();
    try (InProcessCrm crm = new InProcessCrm(routed, req -> {
      seen.add(req);
      return RegisterSiteResponse.newBuilder().setSite(SiteInfo.newBuilder().setName("b")).build();
    })) {
      assertThat(crm.server.registration()).succeedsWithin(Duration.ofSeconds(5));
      assertThat(seen.get(0).getOverlay().getEndpoint()).isEqualTo("172.31.255.6");
      assertThat(seen.get(0).getOverlay().getNetns()).isEqualTo("lg-site-b");
      assertThat(seen.get(0).getOverlay().getUnderlayMtu()).isEqualTo(1550);
    }
  }

  @Test
  void registersAgainPeriodically_soARestartedGrcLearnsTheSiteAgain() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    CrmServer server = new CrmServer(config(), new org.lambdagrid.crm.pilot.PilotStarter() {
      @Override
      public org.lambdagrid.crm.pilot.PilotHandle start(org.lambdagrid.crm.pilot.PilotLaunch l)
          throws org.lambdagrid.crm.pilot.PilotStartException {
        throw new org.lambdagrid.crm.pilot.PilotStartException("not in this test");
      }

      @Override
      public void stop(org.lambdagrid.crm.pilot.PilotHandle h) {}
    }, io.grpc.inprocess.InProcessServerBuilder.forName("crm-reregister-test"), req -> {
      if (calls.incrementAndGet() == 2) { // the GRC is restarting
        throw Status.UNAVAILABLE.withDescription("connection refused").asRuntimeException();
      }
      return RegisterSiteResponse.newBuilder().setSite(SiteInfo.newBuilder().setName("b")).build();
    });
    try {
      server.reregisterEvery(Duration.ofMillis(100)).start();
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
          .until(() -> calls.get() >= 4);
      assertThat(server.registration()).isCompleted();
    } finally {
      server.close();
    }
  }

  @Test
  void aRefusalByTheGrcStopsTheRetries() {
    AtomicInteger calls = new AtomicInteger();
    try (InProcessCrm crm = new InProcessCrm(config(), req -> {
      calls.incrementAndGet();
      throw Status.ALREADY_EXISTS.withDescription("ranges overlap").asRuntimeException();
    })) {
      assertThat(crm.server.registration()).failsWithin(Duration.ofSeconds(5))
          .withThrowableThat().havingRootCause().isInstanceOf(StatusRuntimeException.class)
          .withMessageContaining("ranges overlap");
      assertThat(calls.get()).isEqualTo(1);
    }
  }

  @Test
  void closeReleasesEveryShareAndStopsItsPilots() {
    InProcessCrm crm = new InProcessCrm(config(), null);
    crm.openShare("j-1", 2, "10.20.0.0/29", "alice", null);
    crm.site().setupNodes(SetupNodesRequest.newBuilder().setJobId("j-1")
        .setTimeout(ProtoTime.toProto(Duration.ofSeconds(5))).build());
    assertThat(crm.starter.launches()).allSatisfy(l ->
        assertThat(l.crmPilotEndpoint().toString()).isEqualTo("crm-b.lan:7101"));

    crm.close();

    assertThat(crm.starter.stops()).hasSize(2);
    assertThat(crm.starter.pilot(0).receivedCommands()).last().hasToString("SHUTDOWN");
    assertThat(crm.server.shares().nodesInUse()).isZero();
  }
}
