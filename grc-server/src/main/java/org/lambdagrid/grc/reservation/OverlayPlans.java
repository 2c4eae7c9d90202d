package org.lambdagrid.grc.reservation;

import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.grc.reservation.testbed.Segment;
import org.lambdagrid.grc.reservation.testbed.SegmentNames;
import org.lambdagrid.grc.reservation.testbed.TestbedNetworkProvider;
import org.lambdagrid.proto.v1.ReservationOverlay;

/**
 * The {@link CalendarNetworkResourceManager}'s VXLAN overlays for routed sites (those whose CRM
 * registered an overlay endpoint): for every reservation with bandwidth between routed sites, a
 * plan ({@link Segment#planOverlay}: a bridge per site, a tunnel per pair at its rate, the MTU)
 * whose site ends go to the CRMs in their Prepare; the CRMs build them. Nothing is built here.
 *
 * <p>The VNI is taken from the range starting at a point the reservation id hashes to (the next
 * free one when that is taken by a plan kept here), so after a GRC restart a restored
 * reservation gets the VNI it had (its sites recorded it) unless a clash had moved it; a clash
 * at a site is refused there, naming {@code overlay.vni}. A plan is kept from
 * {@link #plan} until {@link #forget} (the hold's end). A reservation that mixes routed and
 * layer-2 sites is remembered as refused, so its prepare is refused naming the site. Thread-safe.
 *
 * <p>The VNIs and tags in use are kept beside the plans (added when a plan is made, removed when
 * it is forgotten), so planning one reservation costs the same however many are held. Nothing
 * here is durable: after a restart the plans, and with them the used sets, are rebuilt as the
 * restored reservations are planned again ({@link CalendarNetworkResourceManager#restore}).
 */
public final class OverlayPlans {
  private final TestbedNetworkProvider.Overlay config;
  private final Map<String, Segment> plans = new TreeMap<>();
  private final Map<String, Errors.RequestException> refused = new TreeMap<>();
  /** The VNI of every plan; a VNI is in at most one plan. */
  private final Set<Integer> usedVnis = new HashSet<>();
  /** The tag of every plan. */
  private final Set<String> usedTags = new HashSet<>();

  public OverlayPlans(TestbedNetworkProvider.Overlay config) {
    this.config = config;
  }

  /**
   * Each site's end of {@code reservationId}'s overlay for {@code bps}, planned now or earlier;
   * empty when no site of it is routed or it cannot be planned ({@link #refusal} then says why).
   */
  public synchronized Map<String, ReservationOverlay> plan(String reservationId, Map<SitePair, Long> bps) {
    Segment s = plans.get(reservationId);
    if (s == null) {
      Map<String, Segment.Endpoint> endpoints = new TreeMap<>();
      for (SitePair p : bps.keySet()) {
        for (String site : new String[] {p.a(), p.b()}) {
          config.endpoints().apply(site).ifPresent(e -> endpoints.put(site, e));
        }
      }
      if (endpoints.isEmpty()) {
        return Map.of();
      }
      try {
        s = Segment.planOverlay(reservationId, freshTag(reservationId), freshVni(reservationId), endpoints, bps);
      } catch (Errors.RequestException e) {
        refused.put(reservationId, e);
        return Map.of();
      }
      plans.put(reservationId, s);
      usedVnis.add(s.overlay().vni());
      usedTags.add(s.tag());
    }
    return siteEnds(s);
  }

  /** Why {@code reservationId}'s overlay could not be planned, if it could not. */
  public synchronized Optional<Errors.RequestException> refusal(String reservationId) {
    return Optional.ofNullable(refused.get(reservationId));
  }

  /** Site -> bridge of {@code reservationId}'s overlay (empty when it has none). */
  public synchronized Map<String, String> bridges(String reservationId) {
    Segment s = plans.get(reservationId);
    return s == null ? Map.of() : s.bridgeMap();
  }

  /** The hold of {@code reservationId} ended (or never began): its VNI and names are free. */
  public synchronized void forget(String reservationId) {
    Segment s = plans.remove(reservationId);
    if (s != null) {
      usedVnis.remove(s.overlay().vni());
      usedTags.remove(s.tag());
    }
    refused.remove(reservationId);
  }

  /** Each site's end of routed segment {@code s} (empty for a layer-2 one). */
  public static Map<String, ReservationOverlay> siteEnds(Segment s) {
    if (s.overlay() == null) {
      return Map.of();
    }
    Map<String, ReservationOverlay.Builder> out = new TreeMap<>();
    for (Segment.Bridge b : s.bridges()) {
      out.put(b.node(), ReservationOverlay.newBuilder().setVni(s.overlay().vni()).setMtu(s.overlay().mtu())
          .setBridge(b.device()));
    }
    for (Segment.Vtep v : s.overlay().vteps()) {
      out.get(v.site()).setLocalEndpoint(v.endpoint()).addTunnels(org.lambdagrid.proto.v1.OverlayTunnel.newBuilder()
          .setPeerSite(v.peer()).setPeerEndpoint(v.peerEndpoint()).setPort(v.port()).setRateBps(v.rateBps())
          .setDevice(v.device()));
    }
    Map<String, ReservationOverlay> done = new TreeMap<>();
    out.forEach((site, b) -> done.put(site, b.build()));
    return done;
  }

  private int freshVni(String reservationId) {
    return SegmentNames.freeVni(reservationId, config.vniMin(), config.vniMax(), reservationId.hashCode(),
        usedVnis);
  }

  private String freshTag(String reservationId) {
    return SegmentNames.freshTag(reservationId, usedTags);
  }
}
