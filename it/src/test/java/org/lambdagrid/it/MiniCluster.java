package org.lambdagrid.it;

import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.crm.CrmConfig;
import org.lambdagrid.crm.CrmServer;
import org.lambdagrid.crm.GrpcGrcRegistrar;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.grc.grpc.GrpcSiteClient;
import org.lambdagrid.proto.v1.GridServiceGrpc;

/**
 * A whole grid in one JVM: one GRC (star topology: each site joined to "core" by 1 Gbit/s,
 * calendar network provider), one CRM per site, and real NodeManagers (fake guest driver)
 * that the CRMs start as pilots. Every link is real gRPC over the in-process transport; server
 * names double as the "hosts" of the endpoints the daemons advertise, so the GRC's site clients
 * and the pilots find the right CRM. Close it after the test.
 */
final class MiniCluster implements AutoCloseable {
  private static final AtomicInteger COUNTER = new AtomicInteger();

  final GrcServer grc;
  final List<CrmServer> crms = new ArrayList<>();
  final ManagedChannel userChannel;
  private final List<ManagedChannel> channels = new ArrayList<>();

  /** A site: name, node capacity, published ranges, and more of its crm.yaml (or ""). */
  record SiteSpec(String name, int capacity, String ranges, String moreYaml) {
    SiteSpec(String name, int capacity, String ranges) {
      this(name, capacity, ranges, "");
    }
  }

  /**
   * @param setupTimeout the GRC's SETUP phase timeout (the CRM's phase timeout is the same)
   * @param fakeConfig fake guest driver settings for every node (fail_at, hang_at, only_on)
   */
  MiniCluster(Path stateDir, Duration setupTimeout, Map<String, Object> fakeConfig,
      SiteSpec... sites) throws IOException {
    String id = "mini" + COUNTER.incrementAndGet();
    String grcName = id + "-grc";
    String t = setupTimeout.toMillis() + "ms";
    // The testbed's star: every site joined to "core" by a 1 Gbit/s link.
    List<String> points = new ArrayList<>();
    List<GrcConfig.LinkConfig> links = new ArrayList<>();
    for (SiteSpec s : sites) {
      points.add(s.name());
      links.add(new GrcConfig.LinkConfig(s.name(), "core", "1G"));
    }
    points.add("core");
    GrcConfig grcConfig = new GrcConfig(null, new GrcConfig.PhaseTimeouts(t, t, t, t, t), "5s",
        "2s", null, null).withTopology(new GrcConfig.TopologyConfig(points, links),
            GrcConfig.NetworkConfig.defaults());
    grc = new GrcServer(grcConfig, Clock.systemUTC(),
        (site, ep) -> new GrpcSiteClient(InProcessChannelBuilder.forName(ep.host()).build(), true,
            Duration.ofSeconds(5), Duration.ofSeconds(2)),
        InProcessServerBuilder.forName(grcName)).start();
    userChannel = channel(grcName);

    InProcessPilotStarter starter = new InProcessPilotStarter(stateDir.resolve("nodes"), fakeConfig);
    for (SiteSpec s : sites) {
      String crmName = id + "-crm-" + s.name();
      String yaml = "site: " + s.name() + "\nlisten: 127.0.0.1:0\nadvertise: " + crmName + ":1\n"
          + "grc: " + grcName + ":1\nnode_capacity: " + s.capacity() + "\nranges: [" + s.ranges()
          + "]\nstate_dir: " + stateDir.resolve(s.name()) + "\nphase_timeout: " + t
          + "\nshutdown_wait: 2s\npilot:\n  run_as_user: false\n" + s.moreYaml();
      CrmConfig config = ConfigLoader.parse("crm-" + s.name() + ".yaml", yaml, CrmConfig.class);
      CrmServer crm = new CrmServer(config, starter, InProcessServerBuilder.forName(crmName),
          new GrpcGrcRegistrar(channel(grcName), Duration.ofSeconds(5)));
      crm.start();
      crms.add(crm);
    }
    for (CrmServer crm : crms) {
      crm.registration().join();
    }
  }

  private ManagedChannel channel(String name) {
    ManagedChannel c = InProcessChannelBuilder.forName(name).build();
    channels.add(c);
    return c;
  }

  GridServiceGrpc.GridServiceBlockingStub user() {
    return GridServiceGrpc.newBlockingStub(userChannel);
  }

  @Override
  public void close() {
    crms.forEach(CrmServer::close);
    grc.close();
    channels.forEach(ManagedChannel::shutdownNow);
  }
}
