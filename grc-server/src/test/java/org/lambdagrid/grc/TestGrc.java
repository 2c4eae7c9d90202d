package org.lambdagrid.grc;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.lambdagrid.grc.job.CoordinatorSettings;
import org.lambdagrid.grc.job.InMemoryJobStore;
import org.lambdagrid.grc.job.JdbcJobStore;
import org.lambdagrid.grc.job.JobCoordinator;
import org.lambdagrid.grc.reservation.CalendarNetworkResourceManager;
import org.lambdagrid.grc.reservation.CoAllocator;
import org.lambdagrid.grc.reservation.InMemoryReservationStore;
import org.lambdagrid.grc.reservation.JdbcReservationStore;
import org.lambdagrid.grc.reservation.ReservationService;
import org.lambdagrid.grc.reservation.Topology;
import org.lambdagrid.grc.site.AddressAllocator;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.testing.FakeSite;
import org.lambdagrid.grc.testing.FakeSites;

/**
 * The GRC's cores wired together without a server, over {@link FakeSites}: sites "a" and "b"
 * (registered by the test) joined through "core" by two 1 Gbit/s links, the calendar network
 * provider, the reservation service and the job coordinator. Close it after the test.
 */
public final class TestGrc implements AutoCloseable {
  public static final long G = 1_000_000_000L;
  /** Short phases so timeout tests are quick; generous enough for a loaded machine. */
  public static final CoordinatorSettings SETTINGS = new CoordinatorSettings(
      Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(2),
      Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofMillis(200), Duration.ofHours(1),
      1 << 20);

  public final FakeSites fakes = new FakeSites();
  public final GrcState state; // null: in memory
  public final AddressAllocator addresses;
  public final SiteRegistry registry;
  public final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();
  public final ExecutorService workers = Executors.newCachedThreadPool();
  public final CoAllocator coAllocator = new CoAllocator(Topology.of(
      List.of(new Topology.Site("a", 0), new Topology.Site("b", 0), new Topology.Site("core", 0)),
      List.of(new Topology.Link("a", "core", G), new Topology.Link("b", "core", G))));
  public final CalendarNetworkResourceManager network;
  public final SiteClients clients;
  public final ReservationService reservations;
  public final JobCoordinator coordinator;

  public TestGrc(Clock clock, Duration callTimeout, Duration holdTime,
      CoordinatorSettings settings) {
    this(clock, callTimeout, holdTime, settings, null);
  }

  /** With {@code state}: leases, sites, reservations and jobs are durable in it. */
  public TestGrc(Clock clock, Duration callTimeout, Duration holdTime, CoordinatorSettings settings,
      GrcState state) {
    this.state = state;
    addresses = state == null ? new AddressAllocator() : new AddressAllocator(state.leases());
    registry = new SiteRegistry(Clock.systemUTC(), addresses,
        this::peakNodesFromNow,
        state == null ? site -> { } : state::saveSite);
    clients = new SiteClients(registry, fakes.factory());
    // As GrcServer: routed sites (registered with an overlay) get overlay ends in their Prepare.
    network = new CalendarNetworkResourceManager("network:grc", coAllocator, clock, holdTime,
        new org.lambdagrid.grc.reservation.OverlayPlans(new org.lambdagrid.grc.reservation.testbed
            .TestbedNetworkProvider.Overlay(4096, 8191, site -> registry.get(site)
            .map(org.lambdagrid.grc.site.Site::overlay).map(e -> new org.lambdagrid.grc.reservation.testbed
            .Segment.Endpoint(e.netns(), e.endpoint(), e.underlayMtu())))));
    reservations = new ReservationService(registry, addresses, coAllocator, network, clients,
        state == null ? new InMemoryReservationStore()
            : new JdbcReservationStore(state.database()), clock, timers, workers,
        new ReservationService.Settings(callTimeout, holdTime, settings.defaultDuration()));
    coordinator = new JobCoordinator(registry, reservations, state == null
        ? new InMemoryJobStore() : new JdbcJobStore(state.database(), settings.outputBufferBytes()),
        clients, clock, timers, workers, settings);
  }

  /** A fake CRM for {@code name}, registered with 4 nodes, pool 10.10.0.0/16, 1 slot each. */
  public FakeSite site(String name) {
    FakeSite s = fakes.add(name);
    registry.register(name, FakeSites.endpoint(name), 4, List.of("10.10.0.0/16"), 1);
    return s;
  }

  /** A routed fake CRM: as {@link #site}, registered with overlay endpoint {@code endpoint}. */
  public FakeSite routedSite(String name, String endpoint, int underlayMtu) {
    FakeSite s = fakes.add(name);
    registry.register(name, FakeSites.endpoint(name), 4, List.of("10.10.0.0/16"), 1,
        new org.lambdagrid.grc.site.Site.Overlay(endpoint, "", underlayMtu));
    return s;
  }

  private long peakNodesFromNow(String site) {
    return reservations.peakNodesFromNow(site);
  }

  @Override
  public void close() {
    timers.shutdownNow();
    workers.shutdownNow();
  }
}
