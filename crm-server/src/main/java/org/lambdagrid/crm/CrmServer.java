package org.lambdagrid.crm;

import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.ops.DaemonMetrics;
import org.lambdagrid.common.ops.OpsHttpServer;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.RoleAuthorizer;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.pilot.PilotServiceImpl;
import org.lambdagrid.crm.pilot.PilotStarter;
import org.lambdagrid.crm.site.SiteServiceImpl;
import org.lambdagrid.crm.site.SiteLedger;
import org.lambdagrid.crm.site.SiteShares;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.PilotServiceGrpc;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.SiteOverlay;
import org.lambdagrid.proto.v1.SiteInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A site's CRM daemon: one gRPC server serving both SiteService (for the GRC) and PilotService
 * (for the pilots) on one port, the site core behind them, and registration with the GRC.
 *
 * <p>{@link #start} binds, then registers with the GRC in the background, retrying with
 * exponential backoff (and a warning per attempt) while the GRC is unreachable; a refusal by the
 * GRC stops the retries and fails {@link #registration()}. Once registered it registers again
 * every {@value #REREGISTER_SECONDS} s (idempotent), so a GRC that restarted learns the site
 * again without the CRM restarting. {@link #close} releases every share
 * (so no pilot is left running), then shuts the server down.
 */
public final class CrmServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CrmServer.class);
  private static final Set<Status.Code> RETRYABLE = EnumSet.of(Status.Code.UNAVAILABLE,
      Status.Code.DEADLINE_EXCEEDED, Status.Code.RESOURCE_EXHAUSTED, Status.Code.UNKNOWN);
  static final Duration FIRST_BACKOFF = Duration.ofMillis(200);
  static final Duration MAX_BACKOFF = Duration.ofSeconds(10);

  private final CrmConfig config;
  private final Clock clock;
  private final GrcRegistrar registrar;
  private final SiteShares shares;
  /** This routed site's overlay ends; null when crm.yaml has no overlay: section. */
  private final org.lambdagrid.crm.overlay.SiteOverlay overlay;
  private final JdbcSiteLedger ledger;
  private final DaemonServer server;
  private final CompletableFuture<SiteInfo> registration = new CompletableFuture<>();
  private volatile Endpoint advertised;
  private volatile Thread registerThread;
  private volatile boolean closed;
  /** The node capacity last registered with the GRC; -1 before the first registration. */
  private volatile int registeredCapacity = -1;
  private final DaemonMetrics metrics = new DaemonMetrics();
  private OpsHttpServer http; // started by start with an http section

  /**
   * @param starter how pilots are started ({@code LocalPilotStarter} in production)
   * @param serverBuilder TCP ({@code NettyServerBuilder}) or in-process; must not use a direct
   *     executor, because phase calls block until their barrier completes
   * @param registrar how to register with the GRC
   */
  public CrmServer(CrmConfig config, PilotStarter starter, ServerBuilder<?> serverBuilder,
      GrcRegistrar registrar) {
    this(config, starter, serverBuilder, registrar, null);
  }

  /**
   * @param ledger records holds and shares durably, or null for memory only; {@link #start} first
   *     recovers from it ({@link SiteShares#recover}); closed with this server
   */
  public CrmServer(CrmConfig config, PilotStarter starter, ServerBuilder<?> serverBuilder,
      GrcRegistrar registrar, JdbcSiteLedger ledger) {
    this(config, starter, serverBuilder, registrar, ledger, Clock.systemUTC());
  }

  /**
   * @param clock what the site core reads the time from: hold expiry, credential expiry, phase
   *     deadlines, the reconnect grace, event times
   */
  public CrmServer(CrmConfig config, PilotStarter starter, ServerBuilder<?> serverBuilder,
      GrcRegistrar registrar, JdbcSiteLedger ledger, Clock clock) {
    this(config, starter, BatchReservations.NONE, serverBuilder, registrar, ledger, clock);
  }

  /**
   * @param batch the batch system's reservations ({@code SlurmReservations} with the Slurm
   *     starter): each prepared reservation reserves its window there, and the capacity this
   *     CRM registers is at most what the batch system can host
   */
  public CrmServer(CrmConfig config, PilotStarter starter, BatchReservations batch,
      ServerBuilder<?> serverBuilder, GrcRegistrar registrar, JdbcSiteLedger ledger,
      Clock clock) {
    this(config, starter, batch, serverBuilder, registrar, ledger, clock,
        org.lambdagrid.common.net.CommandRunner.system());
  }

  /** @param overlayRunner runs a routed site's {@code ip}/{@code tc} commands (tests: a fake kernel) */
  CrmServer(CrmConfig config, PilotStarter starter, BatchReservations batch,
      ServerBuilder<?> serverBuilder, GrcRegistrar registrar, JdbcSiteLedger ledger,
      Clock clock, org.lambdagrid.common.net.CommandRunner overlayRunner) {
    this.config = config;
    this.clock = clock;
    this.registrar = registrar;
    this.ledger = ledger;
    this.advertised = config.advertiseEndpoint();
    PilotStarter counted = CrmMetrics.register(metrics.registry(), clock,
        () -> registeredCapacity, this::shares, this::overlayRecordsLost, starter);
    this.shares = new SiteShares(config.siteSettings(), counted, () -> advertised,
        clock, ledger == null ? SiteLedger.NONE : ledger, batch);
    this.overlay = config.overlay() == null ? null : new org.lambdagrid.crm.overlay.SiteOverlay(config.site(),
        config.overlay().endpoint(), config.overlay().netns(),
        java.nio.file.Path.of(config.stateDir(), "overlay"), overlayRunner,
        org.lambdagrid.crm.overlay.SiteOverlay.DEFAULT_TIMEOUT);
    this.server = new DaemonServer("crm-" + config.site(), serverBuilder,
        List.of(new SiteServiceImpl(shares, overlay), new PilotServiceImpl(shares)),
        authorizer(config.site()), metrics.grpc());
  }

  /** This CRM's metrics (served on the http port when configured). */
  public DaemonMetrics metrics() {
    return metrics;
  }

  /** The operations port's bound port, or 0 without an http section. */
  public int httpPort() {
    return http == null ? 0 : http.port();
  }

  /**
   * Who may call a CRM (with TLS): the GRC SiteService; NodeManagers of this site, and only of
   * this site, PilotService (each pilot still needs its one-time credential).
   */
  static RoleAuthorizer authorizer(String site) {
    return RoleAuthorizer.builder()
        .allow(SiteServiceGrpc.SERVICE_NAME, Role.GRC)
        .allowBound(PilotServiceGrpc.SERVICE_NAME, Role.NODEMANAGER, site)
        .build();
  }

  public CrmServer start() throws IOException {
    if (config.http() != null) { // first: a port in use stops the start before anything runs
      http = OpsHttpServer.start("crm-" + config.site(), config.http().endpoint(),
          metrics.registry(), java.util.Map.of());
    }
    shares.recover();
    if (overlay != null) {
      overlay.recover(this::holdLive, id -> shares.reservations().state(id)
          .equals(java.util.Optional.of(org.lambdagrid.common.reservation.HoldTable.State.COMMITTED)),
          shares.reservations().withOverlay());
    }
    server.start();
    Endpoint a = config.advertiseEndpoint();
    if (a.port() == 0 && server.port() > 0) {
      advertised = new Endpoint(a.host(), server.port()); // "port 0": the one we were given
    }
    log.info("CRM of site '{}' serving SiteService and PilotService; advertised as {}",
        config.site(), advertised);
    Thread t = new Thread(this::registerLoop, "crm-" + config.site() + "-register");
    t.setDaemon(true);
    registerThread = t;
    t.start();
    return this;
  }

  private boolean holdLive(String id) {
    java.util.Optional<org.lambdagrid.common.reservation.HoldTable.State> st = shares.reservations().state(id);
    return st.isPresent() && (st.get() == org.lambdagrid.common.reservation.HoldTable.State.PREPARED
        || st.get() == org.lambdagrid.common.reservation.HoldTable.State.COMMITTED);
  }

  private int overlayRecordsLost() {
    return overlay == null ? 0 : overlay.recordsLostAtStart();
  }

  /** This routed site's overlay ends (null when not routed), for tests and diagnostics. */
  public org.lambdagrid.crm.overlay.SiteOverlay overlay() {
    return overlay;
  }

  /** Completes with the GRC's view of the site once registered; fails if the GRC refused. */
  public CompletableFuture<SiteInfo> registration() {
    return registration;
  }

  /** The endpoint the GRC and the pilots dial (with the bound port when configured as 0). */
  public Endpoint advertisedEndpoint() {
    return advertised;
  }

  /** The bound TCP port, or -1 in process. */
  public int port() {
    return server.port();
  }

  /** The site core, for tests and diagnostics. */
  public SiteShares shares() {
    return shares;
  }

  /**
   * The registration: the node count is {@code node_capacity}, or less when the batch system
   * has fewer usable nodes ({@link org.lambdagrid.crm.site.SiteReservations#registrableCapacity}).
   */
  RegisterSiteRequest registerRequest() {
    RegisterSiteRequest.Builder b = RegisterSiteRequest.newBuilder().setName(config.site())
        .setCrmEndpoint(advertised.toString())
        .setNodeCapacity(shares.reservations().registrableCapacity(clock.instant()))
        .addAllRanges(config.ranges().stream()
            .map(r -> AddressRange.newBuilder().setCidr(r).build()).toList())
        .setSlotsPerNode(config.slotsPerNode());
    if (config.overlay() != null) {
      b.setOverlay(SiteOverlay.newBuilder().setEndpoint(config.overlay().endpoint())
          .setNetns(config.overlay().netns()).setUnderlayMtu(config.overlay().underlayMtu()));
    }
    return b.build();
  }

  /** How often a registered CRM registers again (idempotent), to survive a GRC restart. */
  static final int REREGISTER_SECONDS = 20;
  static final Duration REREGISTER_INTERVAL = Duration.ofSeconds(REREGISTER_SECONDS);
  private volatile Duration reregisterInterval = REREGISTER_INTERVAL;

  /** For tests: registers again this often (call before {@link #start}). */
  CrmServer reregisterEvery(Duration interval) {
    this.reregisterInterval = interval;
    return this;
  }

  private void registerLoop() {
    Duration backoff = FIRST_BACKOFF;
    int registered = -1; // the node count last registered
    for (int attempt = 1; !closed; attempt++) {
      try {
        RegisterSiteRequest request = registerRequest();
        SiteInfo info = registrar.register(request).getSite();
        registeredCapacity = request.getNodeCapacity();
        if (request.getNodeCapacity() != registered) {
          if (registered >= 0 || request.getNodeCapacity() != config.nodeCapacity()) {
            log.info("site '{}' registers {} nodes (node_capacity {}; the batch system can"
                + " host {})", config.site(), request.getNodeCapacity(), config.nodeCapacity(),
                request.getNodeCapacity() < config.nodeCapacity() ? "fewer" : "them all");
          }
          registered = request.getNodeCapacity();
        }
        if (registration.complete(info)) {
          log.info("registered site '{}' with the GRC at {} ({} nodes, ranges {})", config.site(),
              config.grc(), request.getNodeCapacity(), config.ranges());
        } else if (attempt > 1) {
          log.info("registered site '{}' with the GRC at {} again", config.site(), config.grc());
        }
        // Registering is idempotent: repeat it, so a GRC that restarted learns the site again.
        attempt = 0;
        if (overlay != null) {
          overlay.sweep(this::holdLive); // overlays of holds that expired
        }
        backoff = FIRST_BACKOFF;
        try {
          Thread.sleep(reregisterInterval.toMillis());
        } catch (InterruptedException e) {
          return;
        }
        continue;
      } catch (StatusRuntimeException e) {
        Status s = e.getStatus();
        if (!RETRYABLE.contains(s.getCode()) && !registration.isDone()) {
          log.error("the GRC at {} refused to register site '{}': {}: {}", config.grc(),
              config.site(), s.getCode(), s.getDescription());
          registration.completeExceptionally(e);
          return;
        }
        Throwable root = e;
        while (root.getCause() != null) {
          root = root.getCause();
        }
        log.warn("cannot register site '{}' with the GRC at {} (attempt {}): {}{}{}; retrying in"
            + " {} ms", config.site(), config.grc(), attempt, s.getCode(),
            s.getDescription() == null ? "" : ": " + s.getDescription().lines().findFirst()
                .orElse(""), root == e ? "" : " (" + root.getMessage() + ")", backoff.toMillis());
      } catch (RuntimeException e) {
        log.warn("cannot register site '{}' with the GRC at {} (attempt {}): {}; retrying in {} ms",
            config.site(), config.grc(), attempt, e.toString(), backoff.toMillis());
      }
      try {
        Thread.sleep(backoff.toMillis());
      } catch (InterruptedException e) {
        return;
      }
      backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0
          ? MAX_BACKOFF : backoff.multipliedBy(2);
    }
  }

  /** Releases every share, stops registering, shuts the server down. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    Thread t = registerThread;
    if (t != null) {
      t.interrupt();
    }
    shares.close();
    server.close();
    if (http != null) {
      http.close();
    }
    registration.cancel(false);
    if (ledger != null) {
      ledger.close();
    }
    log.info("CRM of site '{}' stopped", config.site());
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }
}
