package org.lambdagrid.grc.reservation;

import java.util.OptionalLong;

/**
 * A resource manager for inter-site bandwidth. The GRC ships {@link CalendarNetworkResourceManager}
 * over its own link calendars; an optical-path or NSI circuit provider plugs in here, taking
 * {@link Ask.Bandwidth} asks (site pairs and bit/s) in {@link #prepare}.
 */
public interface NetworkResourceManager extends ResourceManager {
  /**
   * The most bit/s this provider could ever carry between two sites when idle, or empty when it
   * cannot join them; the GRC uses it to refuse impossible requests before any prepare.
   */
  OptionalLong maxBandwidth(String siteA, String siteB);

  /**
   * Site name -> the bridge this reservation's guests on that site attach to, known from a
   * successful prepare on; empty when the provider gives guests no network of their own (they
   * stay on each node's configured bridge). Called after commit, before the window starts.
   */
  default java.util.Map<String, String> siteBridges(String reservationId) {
    return java.util.Map.of();
  }

  /**
   * For a reservation between routed sites (their CRMs registered overlay endpoints): site name
   * -> that site's end of the reservation's VXLAN overlay (VNI, MTU, bridge, a tunnel per peer),
   * which the GRC sends in that site's Prepare so its CRM builds it. Called before the prepares;
   * the plan is kept for {@code reservationId}'s prepare (and forgotten at its abort). Empty when
   * no site of {@code bps} is routed, or when the provider builds no overlays; when the sites
   * cannot be joined, empty too (the provider's prepare then refuses, naming why).
   */
  default java.util.Map<String, org.lambdagrid.proto.v1.ReservationOverlay> siteOverlays(
      String reservationId, java.util.Map<org.lambdagrid.common.reservation.SitePair, Long> bps) {
    return java.util.Map.of();
  }

  /**
   * Puts back a hold the GRC had committed before it restarted (its durable reservation): the
   * bandwidth is held on the link calendars again and the hold is COMMITTED, without checks.
   * Call at start-up, before any prepare.
   */
  void restore(String reservationId, org.lambdagrid.common.reservation.Window window,
      org.lambdagrid.common.reservation.Ask.Bandwidth ask);
}
