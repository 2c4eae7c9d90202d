package org.lambdagrid.grc;

import io.grpc.BindableService;
import io.grpc.ServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.ops.DaemonMetrics;
import org.lambdagrid.common.ops.OpsHttpServer;
import org.lambdagrid.common.security.BearerTokens;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.RoleAuthorizer;
import org.lambdagrid.common.security.SessionTokens;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.common.security.TokenAuthenticator;
import org.lambdagrid.grc.grpc.GridServiceImpl;
import org.lambdagrid.grc.grpc.GrpcSiteClient;
import org.lambdagrid.grc.grpc.SiteRegistryServiceImpl;
import org.lambdagrid.grc.job.CoordinatorSettings;
import org.lambdagrid.grc.job.InMemoryJobStore;
import org.lambdagrid.grc.job.JdbcJobStore;
import org.lambdagrid.grc.job.JobCoordinator;
import org.lambdagrid.grc.job.JobStore;
import org.lambdagrid.grc.local.LocalLogin;
import org.lambdagrid.grc.local.LocalSocket;
import org.lambdagrid.grc.reservation.CalendarNetworkResourceManager;
import org.lambdagrid.grc.reservation.CoAllocator;
import org.lambdagrid.grc.reservation.InMemoryReservationStore;
import org.lambdagrid.grc.reservation.JdbcReservationStore;
import org.lambdagrid.grc.reservation.NetworkResourceManager;
import org.lambdagrid.grc.reservation.ReservationService;
import org.lambdagrid.grc.reservation.ReservationStore;
import org.lambdagrid.grc.reservation.testbed.TestbedNetwork;
import org.lambdagrid.grc.reservation.testbed.TestbedNetworkProvider;
import org.lambdagrid.grc.reservation.nsi.JdbcNsiStore;
import org.lambdagrid.grc.reservation.nsi.NsiNetworkProvider;
import org.lambdagrid.grc.reservation.nsi.NsiStore;
import org.lambdagrid.nsi.NsiEvents;
import org.lambdagrid.nsi.NsiRequester;
import org.lambdagrid.nsi.NsiTls;
import org.lambdagrid.grc.site.AddressAllocator;
import org.lambdagrid.grc.site.SiteClient;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.reservation.testbed.Segment;
import org.lambdagrid.grc.timeline.Timeline;
import org.lambdagrid.grc.timeline.TimelinePage;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The GRC daemon: registry, reservations (co-allocator, network provider, two-phase commit),
 * address allocator and job coordinator behind GridService and
 * SiteRegistryService (plus health and reflection). Collaborators come in through the
 * constructor so tests run it in-process with fake sites.
 *
 * <p>Lifecycle: construct, {@link #start}, {@link #close}. Close fails every live job ("the GRC
 * shut down"), releasing its shares at the CRMs (a reservation made for a job ends with it),
 * aborts reservations still in their two-phase commit, then stops the server (graceful, then
 * forced). With a {@link GrcState}, sites, leases, reservations and jobs are durable: close
 * leaves committed reservations as they are, and {@link #start} first recovers what a crashed or
 * stopped GRC left ({@link GrcRecovery}), so they come back. Without one, close ends every
 * reservation (releasing it at every CRM and the network provider), since nothing would bring it
 * back.
 */
public final class GrcServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GrcServer.class);

  private final GrcConfig config;
  private final SiteRegistry registry;
  private final AddressAllocator allocator;
  private final CoAllocator coAllocator;
  private final NetworkResourceManager network;
  private final SiteClients clients;
  private final ReservationService reservations;
  private final JobCoordinator coordinator;
  private final DaemonServer server;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService workers;
  private final GrcState state; // null: nothing is durable (in-process tests)
  private final GrcRecovery recovery;
  private DaemonServer tokenServer; // null without a tokens section
  private LocalSettings local; // null without a local section
  private LocalSocket localSocket; // bound by start
  private final DaemonMetrics metrics = new DaemonMetrics();
  private OpsHttpServer http; // started by start with an http section
  private final Timeline timeline;

  /**
   * @param siteClients makes the client for a CRM endpoint (production:
   *     {@link GrpcSiteClient#factory}); the clients are closed with this server
   * @param builder the transport; the config's {@code listen} is not used by this constructor
   */
  public GrcServer(GrcConfig config, Clock clock, SiteClient.Factory siteClients,
      ServerBuilder<?> builder) {
    this(config, clock, siteClients, builder, null);
  }

  /**
   * @param state the durable state (sites, leases, jobs), or null to keep everything in memory;
   *     closed with this server. {@link #start} recovers from it ({@link GrcRecovery}).
   */
  public GrcServer(GrcConfig config, Clock clock, SiteClient.Factory siteClients,
      ServerBuilder<?> builder, GrcState state) {
    this.config = config;
    this.state = state;
    this.allocator = state == null ? new AddressAllocator() : new AddressAllocator(state.leases());
    // The reservations are made below; the registry asks them only when a site re-registers.
    this.registry = new SiteRegistry(clock, allocator, this::peakNodesFromNow,
        state == null ? site -> { } : state::saveSite);
    this.scheduler = Executors.newSingleThreadScheduledExecutor(threads("grc-timer"));
    this.workers = Executors.newCachedThreadPool(threads("grc-worker"));
    this.coAllocator = new CoAllocator(config.topology().build());
    this.network = network(config.network(), coAllocator, clock, registry, state,
        config.settings().rpcTimeout());
    this.clients = new SiteClients(registry, siteClients);
    CoordinatorSettings s = config.settings();
    JobStore store = state == null ? new InMemoryJobStore()
        : new JdbcJobStore(state.database(), s.outputBufferBytes());
    ReservationStore reservationStore = state == null ? new InMemoryReservationStore()
        : new JdbcReservationStore(state.database());
    this.reservations = new ReservationService(registry, allocator, coAllocator, network, clients,
        reservationStore, clock, scheduler, workers,
        new ReservationService.Settings(s.rpcTimeout(), config.network().holdTimeDuration(),
            s.defaultDuration(), config.limits()));
    this.recovery = new GrcRecovery(registry, allocator, clients, reservations, scheduler,
        workers, s.rpcTimeout().plus(s.callMargin()));
    reservations.setDrainer(recovery);
    this.coordinator = new JobCoordinator(registry, reservations, store,
        clients, clock, scheduler, workers, s);
    List<BindableService> services = List.of(
        new GridServiceImpl(registry, coordinator, reservations),
        new SiteRegistryServiceImpl(registry, reservations::nodesInUse));
    this.server = new DaemonServer("grc", builder, services, AUTHORIZER, metrics.grpc());
    GrcMetrics.register(metrics.registry(), clock, registry, coAllocator, reservations,
        coordinator);
    this.timeline = new Timeline(clock, registry, coAllocator, reservations, coordinator);
  }

  /** What the timeline page on the http port shows, as JSON. */
  public Timeline timeline() {
    return timeline;
  }

  /** This GRC's metrics (served on the http port when configured). */
  public DaemonMetrics metrics() {
    return metrics;
  }

  /** The operations port's bound port, or 0 without an http section. */
  public int httpPort() {
    return http == null ? 0 : http.port();
  }

  private long peakNodesFromNow(String site) {
    return reservations.peakNodesFromNow(site);
  }

  /**
   * The configured network resource manager. {@link #start} has the testbed provider tear down
   * every segment a previous GRC left behind that no recorded reservation still holds.
   */
  private static NetworkResourceManager network(GrcConfig.NetworkConfig n, CoAllocator a,
      Clock clock, SiteRegistry registry, GrcState state, java.time.Duration twoPhaseTimeout) {
    if (n.provider().equals(GrcConfig.NetworkConfig.NSI)) {
      return nsiNetwork(n, a, clock, registry, state, twoPhaseTimeout);
    }
    return dataPlane(n, n.provider(), a, clock, registry);
  }

  /**
   * The nsi provider over its data plane provider: it starts the NSI requester endpoint (on
   * {@code nsi.requester_url}) here, and its connection records live in the state database
   * (in memory without one).
   */
  private static NetworkResourceManager nsiNetwork(GrcConfig.NetworkConfig n, CoAllocator a,
      Clock clock, SiteRegistry registry, GrcState state, java.time.Duration twoPhaseTimeout) {
    GrcConfig.NsiConfig c = n.nsi();
    NetworkResourceManager inner = dataPlane(n, c.dataPlane(), a, clock, registry);
    java.util.concurrent.atomic.AtomicReference<NsiNetworkProvider> self =
        new java.util.concurrent.atomic.AtomicReference<>();
    NsiRequester requester;
    try {
      requester = NsiRequester.start(new NsiRequester.Config(java.net.URI.create(c.providerUrl()),
          c.providerNsa(), c.requesterNsa(), java.net.URI.create(c.requesterUrl()),
          new NsiTls(Path.of(c.tls().key()), Path.of(c.tls().cert()), Path.of(c.tls().ca())),
          c.replyTimeoutDuration(), c.providerIdentity()), new NsiEvents() {
            @Override
            public void reserveTimeout(String connectionId, int timeoutSeconds) {
              log.warn("NSI provider {}: the hold of connection {} timed out after {} s",
                  c.providerNsa(), connectionId, timeoutSeconds);
              NsiNetworkProvider p = self.get();
              if (p != null) {
                p.reserveTimeout(connectionId);
              }
            }

            @Override
            public void dataPlaneStateChange(String connectionId, boolean active) {
              log.info("NSI provider {}: connection {}: data plane {}", c.providerNsa(),
                  connectionId, active ? "up" : "down");
            }

            @Override
            public void errorEvent(String connectionId, String event, String text) {
              log.warn("NSI provider {}: connection {}: {} {}", c.providerNsa(), connectionId,
                  event, text);
            }
          });
    } catch (org.lambdagrid.nsi.NsiException e) {
      throw new org.lambdagrid.common.ConfigException("network." + e.getMessage(), e);
    }
    log.info("NSI provider {} at {}: callbacks on {}, its certificate must name {}, up to {}"
        + " reservations' requests at once", c.providerNsa(), c.providerUrl(), c.requesterUrl(),
        c.providerIdentity().isEmpty() ? java.net.URI.create(c.providerUrl()).getHost()
            + " (provider_url)" : c.providerIdentity() + " (provider_identity)",
        c.maxConcurrent());
    NsiStore store = state == null ? NsiStore.inMemory() : new JdbcNsiStore(state.database());
    NsiNetworkProvider p = new NsiNetworkProvider("network:nsi", inner, requester, store,
        c.stps(), clock, n.holdTimeDuration(), twoPhaseTimeout, c.maxConcurrent());
    self.set(p);
    p.onClose(requester::close);
    return p;
  }

  private static NetworkResourceManager dataPlane(GrcConfig.NetworkConfig n, String provider,
      CoAllocator a, Clock clock, SiteRegistry registry) {
    // Routed sites are those whose CRM registered an overlay endpoint (crm.yaml overlay:); their
    // CRMs build their ends of each reservation's overlay, planned by either provider.
    GrcConfig.OverlayConfig o = n.overlay() == null ? new GrcConfig.OverlayConfig(null) : n.overlay();
    TestbedNetworkProvider.Overlay overlay = new TestbedNetworkProvider.Overlay(o.vniMin(), o.vniMax(),
        site -> registry.get(site).map(Site::overlay).map(e -> new Segment.Endpoint(e.netns(), e.endpoint(),
            e.underlayMtu())));
    if (provider.equals(GrcConfig.NetworkConfig.TESTBED)) {
      return new TestbedNetworkProvider("network:testbed", a, clock,
          n.holdTimeDuration(), TestbedNetwork.onHost(Path.of(n.stateDir())), overlay);
    }
    return new CalendarNetworkResourceManager("network:grc", a, clock, n.holdTimeDuration(),
        new org.lambdagrid.grc.reservation.OverlayPlans(overlay));
  }

  /**
   * Who may call the GRC (with TLS): users and operators GridService, CRMs SiteRegistryService
   * (which also checks that a CRM registers only the site its certificate names).
   */
  static final RoleAuthorizer AUTHORIZER = RoleAuthorizer.builder()
      .allow(GridServiceGrpc.SERVICE_NAME, Role.USER, Role.OPERATOR)
      .allow(SiteRegistryServiceGrpc.SERVICE_NAME, Role.CRM)
      .build();

  /**
   * The production daemon: TCP on the config's {@code listen} with the config's {@code tls}
   * (required), gRPC clients to the CRMs with the same certificate.
   *
   * @param source names the configuration file in errors
   * @throws org.lambdagrid.common.ConfigException without a tls section or with unusable files
   */
  public static GrcServer tcp(String source, GrcConfig config, Clock clock) {
    TlsConfig tls = TlsConfig.require(source, config.tls());
    CoordinatorSettings s = config.settings();
    BearerTokens tokens = config.tokens() == null ? null
        : new BearerTokens(Path.of(config.tokens().file()));
    SessionTokens sessions = config.local() == null ? null
        : config.local().sessions(clock);
    if (config.local() != null && tls.isInsecure()) {
      throw new org.lambdagrid.common.ConfigException(source + ": local: needs TLS (the session"
          + " tokens travel to the token port, which is plaintext with tls: {insecure: true})");
    }
    String caPem = config.local() == null ? null : readCa(source, tls);
    GrcState state = GrcState.open(config);
    try {
      GrcServer grc = new GrcServer(config, clock,
          GrpcSiteClient.factory(source, tls, s.rpcTimeout(), s.callMargin()),
          DaemonServer.netty(source, config.listenEndpoint(), tls), state);
      if (tokens != null) {
        Endpoint at = Endpoint.parse(config.tokens().listen());
        grc.serveTokens(NettyServerBuilder.forAddress(new InetSocketAddress(at.host(), at.port()),
            Tls.serverOnlyCredentials(source, tls)), tokens, sessions);
      }
      if (sessions != null) {
        grc.serveLocal(Path.of(config.local().socket()), sessions, caPem,
            LocalSocket.PEERCRED);
      }
      return grc;
    } catch (RuntimeException e) {
      state.close();
      throw e;
    }
  }

  private static String readCa(String source, TlsConfig tls) {
    try {
      return Files.readString(Path.of(tls.ca()));
    } catch (IOException e) {
      throw new org.lambdagrid.common.ConfigException(source + ": tls.ca: '" + tls.ca()
          + "' cannot be read: " + e.getMessage());
    }
  }

  private static ThreadFactory threads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /**
   * Also serves GridService on a second port to holders of operator-issued bearer tokens
   * ({@link TokenAuthenticator}); a token's user sees only their own jobs, as with a user
   * certificate. Call before {@link #start}.
   */
  public GrcServer serveTokens(ServerBuilder<?> builder, BearerTokens tokens) {
    return serveTokens(builder, tokens, null);
  }

  /** As {@link #serveTokens(ServerBuilder, BearerTokens)}, also admitting local sessions. */
  public GrcServer serveTokens(ServerBuilder<?> builder, BearerTokens tokens,
      SessionTokens sessions) {
    tokenServer = new DaemonServer("grc-tokens", builder,
        List.of(new GridServiceImpl(registry, coordinator, reservations)),
        new TokenAuthenticator(tokens, sessions, java.util.Set.of(GridServiceGrpc.SERVICE_NAME)),
        metrics.grpc());
    return this;
  }

  private record LocalSettings(Path socket, SessionTokens sessions, String caPem,
      LocalSocket.PeerLookup peers) { }

  /**
   * Also answers local logins on the Unix socket {@code socket} ({@link LocalSocket}): the
   * peer's OS user gets a session token of {@code sessions} (which the token port must admit,
   * see {@link #serveTokens(ServerBuilder, BearerTokens, SessionTokens)}), the token port's
   * endpoint and {@code caPem}. Bound by {@link #start} after the token port; call before it.
   */
  public GrcServer serveLocal(Path socket, SessionTokens sessions, String caPem,
      LocalSocket.PeerLookup peers) {
    local = new LocalSettings(socket, sessions, caPem, peers);
    return this;
  }

  /** The local login socket, or null. */
  public Path localSocket() {
    return localSocket == null ? null : localSocket.path();
  }

  /** The token port's host:port as local users should dial it. */
  private String tokenEndpoint() {
    if (config.local() != null && config.local().endpoint() != null) {
      return config.local().endpoint();
    }
    String host = config.tokens() == null ? "127.0.0.1"
        : Endpoint.parse(config.tokens().listen()).host();
    if (host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]") || host.isEmpty()) {
      host = "127.0.0.1";
    }
    return host + ":" + tokenPort();
  }

  /** The token port (-1 in process), or 0 without one. */
  public int tokenPort() {
    return tokenServer == null ? 0 : tokenServer.port();
  }

  /**
   * The operator tokens that may read the timeline page's JSON, or null without a
   * {@code timeline:} section (the JSON is off).
   *
   * @throws org.lambdagrid.common.ConfigException naming {@code timeline.tokens_file} and what
   *     is wrong with it (missing, owner, mode, a line)
   */
  private BearerTokens timelineOperators() {
    if (config.timeline() == null) {
      return null;
    }
    Path file = Path.of(config.timeline().tokensFile());
    if (!Files.exists(file)) {
      throw new org.lambdagrid.common.ConfigException("timeline.tokens_file: " + file + ": no"
          + " such file (create it with grc-server issue-token --file " + file
          + " --operator NAME)");
    }
    try {
      return new BearerTokens(file);
    } catch (org.lambdagrid.common.ConfigException e) {
      throw new org.lambdagrid.common.ConfigException("timeline.tokens_file: " + e.getMessage());
    }
  }

  /** Recovers the recorded state (if durable), then serves. */
  public GrcServer start() throws IOException {
    if (config.http() != null) { // first: a port in use stops the start before anything runs
      http = OpsHttpServer.start("grc", config.http().endpoint(), metrics.registry(),
          new TimelinePage(timeline, timelineOperators()).routes());
    }
    if (state != null) {
      CoordinatorSettings s = config.settings();
      recovery.recover(state, coordinator, s.rpcTimeout().plus(s.callMargin()));
    }
    if (network instanceof NsiNetworkProvider p) {
      List<String> undone = p.recover();
      if (!undone.isEmpty()) {
        log.info("terminated the NSI connections of {} (left by an earlier GRC)", undone);
      }
    }
    // The testbed data plane, alone or under the nsi provider.
    if ((network instanceof NsiNetworkProvider p ? p.inner() : network)
        instanceof TestbedNetworkProvider t) {
      List<String> orphans = t.recover();
      if (!orphans.isEmpty()) {
        log.info("removed the network segments of reservations {} (left by an earlier GRC)",
            orphans);
      }
    }
    server.start();
    if (tokenServer != null) {
      tokenServer.start();
    }
    if (local != null) {
      localSocket = LocalSocket.bind(local.socket(),
          new LocalLogin(local.sessions(), this::tokenEndpoint, local.caPem()), local.peers());
    }
    return this;
  }

  /** Restart recovery: jobs whose shares are still being released. */
  public GrcRecovery recovery() {
    return recovery;
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

  public ReservationService reservations() {
    return reservations;
  }

  public CoAllocator coAllocator() {
    return coAllocator;
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  @Override
  public void close() {
    if (http != null) {
      http.close();
    }
    if (localSocket != null) {
      localSocket.close();
    }
    coordinator.shutdown("the GRC shut down");
    if (state == null) {
      reservations.shutdown("the GRC shut down"); // nothing would bring them back
    } else {
      reservations.stop("the GRC shut down"); // recorded: the next start restores them
    }
    if (tokenServer != null) {
      tokenServer.close();
    }
    server.close();
    scheduler.shutdownNow();
    workers.shutdownNow();
    if (network instanceof NsiNetworkProvider p) {
      p.close();
    }
    coordinator.close();
    recovery.close();
    if (state != null) {
      state.close();
    }
  }
}
