package org.lambdagrid.crm.testing;

import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.crm.CrmConfig;
import org.lambdagrid.crm.CrmServer;
import org.lambdagrid.crm.GrcRegistrar;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.OpenShareRequest;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;
import org.lambdagrid.proto.v1.SiteInfo;
import org.lambdagrid.proto.v1.SiteServiceGrpc;

/**
 * One CRM in this JVM over the in-process transport, with a {@link TestPilotStarter} whose test
 * pilots dial back in process. By default it "registers" with a recording fake GRC registrar.
 * Its site reads the time from {@link #clock}, which stands still until the test advances it
 * (credential expiry, phase deadlines). Close it after the test: it releases every share and
 * shuts the server down.
 */
public final class InProcessCrm implements AutoCloseable {
  private static int counter;

  public final String name;
  public final CrmConfig config;
  public final TestPilotStarter starter;
  public final TestClock clock = TestClock.ofNow();
  public final CrmServer server;
  public final ManagedChannel channel;
  public final List<RegisterSiteRequest> registrations = new CopyOnWriteArrayList<>();

  /** A site with the given name, capacity and ranges; phase timeout 5s, shutdown wait 1s. */
  public static InProcessCrm start(String site, int capacity, String... ranges) {
    String yaml = "site: " + site + "\nlisten: 127.0.0.1:0\ngrc: 127.0.0.1:1\n"
        + "node_capacity: " + capacity + "\nranges: [" + String.join(", ", ranges) + "]\n"
        + "phase_timeout: 5s\nshutdown_wait: 1s\npilot:\n  run_as_user: false\n";
    return new InProcessCrm(ConfigLoader.parse("crm.yaml", yaml, CrmConfig.class), null);
  }

  public InProcessCrm(CrmConfig config, GrcRegistrar registrar) {
    synchronized (InProcessCrm.class) {
      this.name = "crm-" + config.site() + "-" + (++counter);
    }
    this.config = config;
    this.channel = InProcessChannelBuilder.forName(name).build();
    this.starter = new TestPilotStarter(() -> channel);
    GrcRegistrar r = registrar != null ? registrar : req -> {
      registrations.add(req);
      return RegisterSiteResponse.newBuilder().setSite(SiteInfo.newBuilder()
          .setName(req.getName()).setCrmEndpoint(req.getCrmEndpoint())
          .setNodeCapacity(req.getNodeCapacity()).addAllRanges(req.getRangesList())).build();
    };
    this.server = new CrmServer(config, starter, InProcessServerBuilder.forName(name), r, null,
        clock);
    try {
      server.start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public SiteServiceGrpc.SiteServiceBlockingStub site() {
    return SiteServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  /**
   * Prepares and commits reservation {@code "r-" + job} for {@code [now, end)} (end null: one
   * hour) and opens the job's share in it: what the GRC does before a job's first phase.
   */
  public void openShare(String job, int nodes, String range, String user, Instant end) {
    Instant now = clock.instant();
    String r = "r-" + job;
    site().prepare(PrepareRequest.newBuilder().setReservationId(r).setNodeCount(nodes)
        .setRange(AddressRange.newBuilder().setCidr(range)).setUser(user)
        .setStart(ProtoTime.toProto(now.minusSeconds(1)))
        .setEnd(ProtoTime.toProto(end == null ? now.plusSeconds(3600) : end)).build());
    site().commit(CommitRequest.newBuilder().setReservationId(r).build());
    site().openShare(OpenShareRequest.newBuilder().setJobId(job).setReservationId(r)
        .setUser(user).build());
  }

  public SiteServiceGrpc.SiteServiceStub siteAsync() {
    return SiteServiceGrpc.newStub(channel);
  }

  @Override
  public void close() {
    server.close();
    channel.shutdownNow();
  }
}
