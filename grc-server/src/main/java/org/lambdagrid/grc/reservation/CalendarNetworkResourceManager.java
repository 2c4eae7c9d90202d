package org.lambdagrid.grc.reservation;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.reservation.Vote;

/**
 * The GRC's own bandwidth provider: holds {@link Ask.Bandwidth} asks on the link calendars of a
 * {@link CoAllocator} (so what it holds is what the allocator's searches see), behind a
 * {@link HoldTable} for the two-phase states. Hold ids in the allocator are
 * {@code "net:" + reservationId}. Answers synchronously. Thread-safe.
 *
 * <p>A real network (optical path, NSI circuit service) would be another
 * {@link NetworkResourceManager}; the testbed provider
 * ({@link org.lambdagrid.grc.reservation.testbed.TestbedNetworkProvider}) wraps this one and
 * builds a shaped layer-2 segment on commit, removing it on abort and release.
 */
public final class CalendarNetworkResourceManager implements NetworkResourceManager {
  private final String name;
  private final CoAllocator allocator;
  private final HoldTable table;
  private final OverlayPlans overlays;

  public CalendarNetworkResourceManager(String name, CoAllocator allocator, Clock clock, Duration holdTime) {
    this(name, allocator, clock, holdTime, null);
  }

  /**
   * With routed sites: {@code overlays} plans each reservation's VXLAN overlay between routed
   * sites, whose ends the sites' CRMs build ({@link #siteOverlays}); null: no overlays.
   */
  public CalendarNetworkResourceManager(String name, CoAllocator allocator, Clock clock, Duration holdTime,
      OverlayPlans overlays) {
    this.overlays = overlays;
    this.name = name;
    this.allocator = allocator;
    this.table = new HoldTable(name, clock, holdTime, new HoldTable.Resource() {
      @Override
      public void hold(String id, Window w, Ask ask) {
        if (!(ask instanceof Ask.Bandwidth b)) {
          throw Errors.invalid("ask", ask, "is not a bandwidth ask");
        }
        allocator.holdBandwidth(holdId(id), w, b.bps());
      }

      @Override
      public void free(String id) {
        allocator.release(holdId(id));
        if (overlays != null) {
          overlays.forget(id);
        }
      }
    });
  }

  static String holdId(String reservationId) {
    return "net:" + reservationId;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public OptionalLong maxBandwidth(String siteA, String siteB) {
    Optional<List<Topology.Link>> path = allocator.topology().route(siteA, siteB);
    return path.isEmpty() ? OptionalLong.empty() : OptionalLong.of(Topology.bottleneck(path.get()));
  }

  @Override
  public CompletableFuture<Vote> prepare(String reservationId, Window window, Ask ask) {
    if (overlays != null && ask instanceof Ask.Bandwidth b && table.state(reservationId).isEmpty()) {
      overlays.plan(reservationId, b.bps()); // kept from siteOverlays, or planned now
      Optional<Errors.RequestException> no = overlays.refusal(reservationId);
      if (no.isPresent()) {
        overlays.forget(reservationId);
        return CompletableFuture.completedFuture(Vote.refused(no.get().code(), name + ": " + no.get().getMessage()));
      }
    }
    Vote v = table.prepare(reservationId, window, ask);
    if (!v.isPrepared() && overlays != null && table.state(reservationId).isEmpty()) {
      overlays.forget(reservationId);
    }
    return CompletableFuture.completedFuture(v);
  }

  /** Routed sites: each site's end of the reservation's overlay ({@link OverlayPlans}). */
  @Override
  public java.util.Map<String, org.lambdagrid.proto.v1.ReservationOverlay> siteOverlays(String reservationId,
      java.util.Map<org.lambdagrid.common.reservation.SitePair, Long> bps) {
    return overlays == null ? java.util.Map.of() : overlays.plan(reservationId, bps);
  }

  /** The bridges of a routed reservation's overlay, which its sites' CRMs build. */
  @Override
  public java.util.Map<String, String> siteBridges(String reservationId) {
    return overlays == null ? java.util.Map.of() : overlays.bridges(reservationId);
  }

  @Override
  public CompletableFuture<Void> commit(String reservationId) {
    return CalendarSiteResourceManager.run(() -> table.commit(reservationId));
  }

  @Override
  public CompletableFuture<Void> abort(String reservationId) {
    return CalendarSiteResourceManager.run(() -> {
      table.abort(reservationId);
      if (overlays != null) {
        overlays.forget(reservationId); // also a plan whose prepare never came
      }
    });
  }

  @Override
  public CompletableFuture<Void> release(String reservationId) {
    return CalendarSiteResourceManager.run(() -> table.release(reservationId));
  }

  @Override
  public void restore(String reservationId, Window window, Ask.Bandwidth ask) {
    allocator.holdBandwidth(holdId(reservationId), window, ask.bps());
    table.restore(reservationId, HoldTable.State.COMMITTED, window, ask, null, null);
    if (overlays != null) {
      overlays.plan(reservationId, ask.bps()); // its VNI and bridges, as its sites recorded them
    }
  }

  public Optional<HoldTable.State> state(String reservationId) {
    return table.state(reservationId);
  }

  public HoldTable table() {
    return table;
  }
}
