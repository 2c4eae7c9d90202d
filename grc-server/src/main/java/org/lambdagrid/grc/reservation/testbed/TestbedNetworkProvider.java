package org.lambdagrid.grc.reservation.testbed;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.grc.reservation.CalendarNetworkResourceManager;
import org.lambdagrid.grc.reservation.CoAllocator;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.grc.reservation.NetworkResourceManager;
import org.lambdagrid.common.reservation.Vote;
import org.lambdagrid.common.reservation.Window;

/**
 * The testbed's network resource manager: the GRC's link calendars (a
 * {@link CalendarNetworkResourceManager}, so the {@link HoldTable} states, hold expiry and
 * idempotency are exactly those of the calendar provider) plus, for every committed reservation,
 * its own shaped layer-2 {@link Segment} on this host, built by a {@link TestbedNetwork}.
 *
 * <ul>
 *   <li>prepare: plans the segment (refusing what the testbed cannot build: no path, a cycle of
 *       links) and holds the bandwidth on the link calendars. Builds nothing; a PREPARED hold that
 *       expires therefore leaves nothing on the host. The bridge names are fixed from here on
 *       ({@link #siteBridges}).
 *   <li>commit: builds the segment, then commits the hold. If the build fails, the hold stays
 *       PREPARED (a retried commit tries again; otherwise it expires) and the commit fails with
 *       INTERNAL quoting the command. If the hold expired or was aborted meanwhile, what was built
 *       is removed and the commit fails with FAILED_PRECONDITION. Repeating a successful commit
 *       does nothing.
 *   <li>abort: aborts the hold (FAILED_PRECONDITION for a committed one, as the calendar), then
 *       removes any recorded segment. Idempotent; unknown ids succeed.
 *   <li>release: removes the segment, then frees the hold. The hold is freed even if removal
 *       fails (the reservation is over either way); the failure is reported and the record kept,
 *       so repeating release retries the removal. Idempotent; unknown ids succeed.
 * </ul>
 *
 * <p>The segment exists from commit to release, also before the window starts: the GRC calls
 * release at the window's end. Kernel work runs on the caller's thread under this provider's
 * lock (a build is a few dozen commands, about 0.1-0.3 s), so the returned futures are already
 * complete. Thread-safe.
 */
public final class TestbedNetworkProvider implements NetworkResourceManager {
  private final String name;
  private final CoAllocator allocator;
  private final CalendarNetworkResourceManager calendar;
  private final TestbedNetwork network;
  private final Map<String, Segment> planned = new HashMap<>();
  /** Overlay plans sent to the sites ({@link #siteOverlays}) whose prepare has not come yet. */
  private final Map<String, Segment> announced = new HashMap<>();
  private final Overlay overlay;

  /**
   * Routed sites: a site whose {@code endpoints} lookup answers (in the GRC: whose CRM registered
   * an overlay endpoint, crm.yaml {@code overlay:}) is joined to the other sites of a reservation
   * by a VXLAN overlay instead of veth links (planned here, its ends sent to the sites' CRMs in
   * their Prepare ({@link #siteOverlays}) and built by them; this provider only records it);
   * each reservation between routed sites gets its own
   * VNI from {@code vniMin..vniMax} (the lowest one no segment this provider plans or has
   * recorded uses). The lookup is asked at prepare, so a site that registers or changes its
   * endpoint affects the reservations prepared afterwards; built segments keep what they recorded.
   */
  public record Overlay(int vniMin, int vniMax, Function<String, Optional<Segment.Endpoint>> endpoints) {
    public Overlay {
      if (vniMin < 1 || vniMax > 0xFFFFFF || vniMin > vniMax) {
        throw new IllegalArgumentException("overlay.vni_range: " + vniMin + "-" + vniMax
            + " is not a range within 1-16777215");
      }
    }

    /** A fixed set of routed sites (tests). */
    public static Overlay of(int vniMin, int vniMax, Map<String, Segment.Endpoint> endpoints) {
      Map<String, Segment.Endpoint> copy = Map.copyOf(endpoints);
      return new Overlay(vniMin, vniMax, site -> Optional.ofNullable(copy.get(site)));
    }

    /** No routed site. */
    public static Overlay none() {
      return of(1, 0xFFFFFF, Map.of());
    }
  }

  /**
   * {@code allocator} supplies the topology and the link calendars; {@code holdTime} is how long a
   * PREPARED hold waits for its commit (NSI practice: {@link HoldTable#DEFAULT_HOLD_TIME}).
   */
  public TestbedNetworkProvider(String name, CoAllocator allocator, Clock clock, Duration holdTime,
      TestbedNetwork network) {
    this(name, allocator, clock, holdTime, network, Overlay.none());
  }

  /** With routed sites: see {@link Overlay}. */
  public TestbedNetworkProvider(String name, CoAllocator allocator, Clock clock, Duration holdTime,
      TestbedNetwork network, Overlay overlay) {
    this.name = name;
    this.allocator = allocator;
    this.calendar = new CalendarNetworkResourceManager(name, allocator, clock, holdTime);
    this.network = network;
    this.overlay = overlay;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public OptionalLong maxBandwidth(String siteA, String siteB) {
    return calendar.maxBandwidth(siteA, siteB);
  }

  /**
   * Puts back a committed hold of a reservation the GRC recorded durably, with the segment that
   * was built for it (if its record is still on the host; otherwise it is rebuilt from the plan).
   */
  @Override
  public synchronized void restore(String reservationId, Window window, Ask.Bandwidth ask) {
    calendar.restore(reservationId, window, ask);
    Optional<Segment> seg = network.recorded(reservationId);
    if (seg.isPresent()) {
      planned.put(reservationId, seg.get());
    } else {
      Segment s = plan(reservationId, ask.bps());
      network.build(s);
      planned.put(reservationId, s);
    }
  }

  /**
   * Removes every recorded segment whose reservation this provider does not hold (after a GRC
   * restart, those it did not {@link #restore} are orphans). Call once at start-up, after the
   * restores and before any prepare. Returns the reservation ids torn down.
   */
  public synchronized List<String> recover() {
    List<String> done = new ArrayList<>();
    for (Segment s : network.recordedAll()) {
      if (!live(s.reservationId())) {
        network.teardown(s.reservationId());
        done.add(s.reservationId());
      }
    }
    return done;
  }

  @Override
  public synchronized CompletableFuture<Vote> prepare(String reservationId, Window window, Ask ask) {
    prune();
    Segment seg = planned.get(reservationId);
    if (seg == null) {
      seg = announced.remove(reservationId);
    }
    if (seg == null && ask instanceof Ask.Bandwidth b) {
      try {
        seg = plan(reservationId, b.bps());
      } catch (Errors.RequestException e) {
        return CompletableFuture.completedFuture(Vote.refused(e.code(), name + ": " + e.getMessage()));
      }
    }
    Vote v = calendar.table().prepare(reservationId, window, ask);
    if (v.isPrepared() && seg != null) {
      planned.putIfAbsent(reservationId, seg);
    }
    return CompletableFuture.completedFuture(v);
  }

  @Override
  public synchronized CompletableFuture<Void> commit(String reservationId) {
    return run(() -> {
      prune();
      HoldTable table = calendar.table();
      Optional<HoldTable.State> st = table.state(reservationId);
      Segment seg = planned.get(reservationId);
      if (st.isEmpty() || !live(reservationId) || seg == null) {
        table.commit(reservationId); // throws NOT_FOUND or FAILED_PRECONDITION naming the state
        throw new IllegalStateException(name + ": reservation " + reservationId + " is " + st
            + " but has no planned segment");
      }
      network.build(seg);
      try {
        table.commit(reservationId);
      } catch (RuntimeException e) {
        try {
          network.teardown(reservationId);
        } catch (RuntimeException t) {
          e.addSuppressed(t);
        }
        throw e;
      }
    });
  }

  @Override
  public synchronized CompletableFuture<Void> abort(String reservationId) {
    return run(() -> {
      announced.remove(reservationId);
      calendar.table().abort(reservationId);
      network.teardown(reservationId);
      planned.remove(reservationId);
    });
  }

  @Override
  public synchronized CompletableFuture<Void> release(String reservationId) {
    return run(() -> {
      RuntimeException failed = null;
      try {
        network.teardown(reservationId);
      } catch (RuntimeException e) {
        failed = e;
      }
      calendar.table().release(reservationId);
      planned.remove(reservationId);
      if (failed != null) {
        throw failed;
      }
    });
  }

  /**
   * The bridge each site's guests of {@code reservationId} attach to, by site name (transit
   * points of the topology are left out); known from a successful prepare until abort or release,
   * empty otherwise. The bridges exist on the host only while the reservation is committed.
   */
  @Override
  public synchronized Map<String, String> siteBridges(String reservationId) {
    prune();
    Segment s = planned.get(reservationId);
    if (s == null) {
      return Map.of();
    }
    Map<String, String> out = new java.util.TreeMap<>();
    for (Segment.Bridge b : s.bridges()) {
      if (allocator.topology().site(b.node()).map(x -> x.nodes() > 0).orElse(false)) {
        out.put(b.node(), b.device());
      }
    }
    return out;
  }

  /**
   * Plans {@code reservationId}'s segment now (its prepare then uses this plan) and, when it is
   * routed, gives each site its end: the site's bridge, the VNI and MTU, and per peer the
   * tunnel device, the peer's endpoint, the pair's UDP port and rate. The sites' CRMs build
   * these; this provider records the segment but builds nothing of a routed one.
   */
  @Override
  public synchronized Map<String, org.lambdagrid.proto.v1.ReservationOverlay> siteOverlays(String reservationId,
      Map<org.lambdagrid.common.reservation.SitePair, Long> bps) {
    prune();
    Segment s = planned.get(reservationId);
    if (s == null) {
      s = announced.get(reservationId);
    }
    if (s == null) {
      try {
        s = plan(reservationId, bps);
      } catch (Errors.RequestException e) {
        return Map.of(); // the prepare plans again and refuses, naming why
      }
      announced.put(reservationId, s);
    }
    return siteEnds(s);
  }

  /** Each site's end of routed segment {@code s} (empty for a layer-2 one). */
  public static Map<String, org.lambdagrid.proto.v1.ReservationOverlay> siteEnds(Segment s) {
    return org.lambdagrid.grc.reservation.OverlayPlans.siteEnds(s);
  }

  /** The planned segment of {@code reservationId} (PREPARED or COMMITTED), if any. */
  public synchronized Optional<Segment> segment(String reservationId) {
    prune();
    return Optional.ofNullable(planned.get(reservationId));
  }

  /** The hold's state, as the calendar's {@link HoldTable} has it. */
  public Optional<HoldTable.State> state(String reservationId) {
    return calendar.state(reservationId);
  }

  public TestbedNetwork network() {
    return network;
  }

  private boolean live(String id) {
    Optional<HoldTable.State> st = calendar.table().state(id);
    return st.isPresent() && (st.get() == HoldTable.State.PREPARED || st.get() == HoldTable.State.COMMITTED);
  }

  /** Forgets plans of holds that ended (expired ones included); they were never built or are removed. */
  private void prune() {
    planned.keySet().removeIf(id -> !live(id));
  }

  /** The segment for {@code bps}: an overlay when a site of it is routed, else veth links. */
  private Segment plan(String reservationId, Map<org.lambdagrid.common.reservation.SitePair, Long> bps) {
    Map<String, Segment.Endpoint> endpoints = new java.util.TreeMap<>();
    for (org.lambdagrid.common.reservation.SitePair p : bps.keySet()) {
      for (String site : List.of(p.a(), p.b())) {
        overlay.endpoints().apply(site).ifPresent(e -> endpoints.put(site, e));
      }
    }
    if (endpoints.isEmpty()) {
      return Segment.plan(reservationId, freshTag(reservationId), allocator.topology(), bps);
    }
    return Segment.planOverlay(reservationId, freshTag(reservationId), freshVni(reservationId), endpoints, bps);
  }

  private int freshVni(String reservationId) {
    Set<Integer> used = new HashSet<>();
    announced.values().stream().filter(s -> s.overlay() != null).forEach(s -> used.add(s.overlay().vni()));
    planned.values().stream().filter(s -> s.overlay() != null).forEach(s -> used.add(s.overlay().vni()));
    network.recordedAll().stream().filter(s -> s.overlay() != null).forEach(s -> used.add(s.overlay().vni()));
    return SegmentNames.freeVni(reservationId, overlay.vniMin(), overlay.vniMax(), 0, used);
  }

  private String freshTag(String reservationId) {
    Set<String> used = new HashSet<>();
    announced.values().forEach(s -> used.add(s.tag()));
    planned.values().forEach(s -> used.add(s.tag()));
    network.recordedAll().forEach(s -> used.add(s.tag()));
    return SegmentNames.freshTag(reservationId, used);
  }

  private static CompletableFuture<Void> run(Runnable r) {
    try {
      r.run();
      return CompletableFuture.completedFuture(null);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }
}
