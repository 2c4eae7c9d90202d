package org.lambdagrid.grc;

import io.grpc.BindableService;
import io.grpc.ServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.grc.grpc.GridServiceImpl;
import org.lambdagrid.grc.grpc.GrpcSiteClient;
import org.lambdagrid.grc.grpc.SiteRegistryServiceImpl;

/**
 * The GRC daemon: registry, allocator and coordinator behind GridService and
 * SiteRegistryService (plus health and reflection). Collaborators come in through the
 * constructor so tests run it in-process with fake sites.
 *
 * <p>Lifecycle: construct, {@link #start}, {@link #close}. Close fails every live job ("the GRC
 * shut down"), releasing its shares at the CRMs, then stops the server (graceful, then forced).
 */
public final class GrcServer implements AutoCloseable {
  private final GrcConfig config;
  private final SiteRegistry registry;
  private final AddressAllocator allocator;
  private final JobCoordinator coordinator;
  private final DaemonServer server;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService workers;

  /**
   * @param siteClients makes the client for a CRM endpoint (production:
   *     {@link GrpcSiteClient#factory}); the clients are closed with this server
   * @param builder the transport; the config's {@code listen} is not used by this constructor
   */
  public GrcServer(GrcConfig config, Clock clock, Function<Endpoint, SiteClient> siteClients,
      ServerBuilder<?> builder) {
    this.config = config;
    this.allocator = new AddressAllocator();
    this.registry = new SiteRegistry(clock, allocator);
    this.scheduler = Executors.newSingleThreadScheduledExecutor(threads("grc-timer"));
    this.workers = Executors.newCachedThreadPool(threads("grc-worker"));
    this.coordinator = new JobCoordinator(registry, allocator, new InMemoryJobStore(),
        siteClients, clock, scheduler, workers, config.settings());
    List<BindableService> services = List.of(new GridServiceImpl(registry, coordinator),
        new SiteRegistryServiceImpl(registry));
    this.server = new DaemonServer("grc", builder, services);
  }

  /** The production daemon: TCP on the config's {@code listen}, gRPC clients to the CRMs. */
  public static GrcServer tcp(GrcConfig config, Clock clock) {
    Endpoint listen = config.listenEndpoint();
    CoordinatorSettings s = config.settings();
    return new GrcServer(config, clock, GrpcSiteClient.factory(s.rpcTimeout(), s.callMargin()),
        NettyServerBuilder.forAddress(new InetSocketAddress(listen.host(), listen.port()))
            .permitKeepAliveTime(10, TimeUnit.SECONDS).permitKeepAliveWithoutCalls(true));
  }

  private static ThreadFactory threads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  public GrcServer start() throws IOException {
    server.start();
    return this;
  }

  /** The bound TCP port, or -1 in-process. */
  public int port() {
    return server.port();
  }

  public GrcConfig config() {
    return config;
  }

  public SiteRegistry registry() {
    return registry;
  }

  public AddressAllocator allocator() {
    return allocator;
  }

  public JobCoordinator coordinator() {
    return coordinator;
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  @Override
  public void close() {
    coordinator.shutdown("the GRC shut down");
    server.close();
    scheduler.shutdownNow();
    workers.shutdownNow();
    coordinator.close();
  }
}
