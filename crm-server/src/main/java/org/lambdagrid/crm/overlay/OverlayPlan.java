package org.lambdagrid.crm.overlay;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.lambdagrid.common.Errors;
import org.lambdagrid.proto.v1.OverlayTunnel;
import org.lambdagrid.proto.v1.ReservationOverlay;

/**
 * This site's end of one reservation's VXLAN overlay, as the GRC planned it (Prepare's
 * {@code overlay}): a bridge the site's guests attach to and, per peer site, a point-to-point
 * tunnel enslaved to it. Immutable; Jackson reads and writes it as is (the {@link SiteOverlay}
 * record).
 *
 * @param reservationId the reservation
 * @param vni its VXLAN network identifier, the same at every site
 * @param mtu of the bridge and the tunnels
 * @param bridge the bridge device
 * @param localEndpoint this site's VTEP address (crm.yaml overlay.endpoint)
 * @param tunnels one per peer site, in the GRC's order
 */
public record OverlayPlan(String reservationId, int vni, int mtu, String bridge, String localEndpoint,
    List<Tunnel> tunnels) {
  /**
   * The only names this site creates, the GRC's ({@code SegmentNames}): {@code lgn<tag>b<i>} for
   * the bridge, {@code lgn<tag>x<k>} for a tunnel (tag: six lower-case hex digits, index 0..999).
   * Nothing else on the host (the site's underlay uplink lgrt-..., lgbr-..., NodeManager links
   * lgv.../lgm...) can ever be named.
   */
  static final Pattern BRIDGE = Pattern.compile("lgn[0-9a-f]{6}b(0|[1-9][0-9]{0,2})");
  static final Pattern TUNNEL = Pattern.compile("lgn[0-9a-f]{6}x(0|[1-9][0-9]{0,2})");
  static final Pattern IPV4 = Pattern.compile(
      "((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])");
  static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");

  /** The tunnel to {@code peerSite}: {@code device}, to {@code peerEndpoint} on UDP {@code port}, shaped to {@code rateBps} (0: not). */
  public record Tunnel(String peerSite, String peerEndpoint, int port, long rateBps, String device) {}

  public OverlayPlan {
    tunnels = List.copyOf(tunnels);
  }

  /** Every device, the bridge first. */
  public List<String> devices() {
    List<String> d = new ArrayList<>();
    d.add(bridge);
    tunnels.forEach(t -> d.add(t.device()));
    return d;
  }

  /**
   * The devices a build of this plan may create and so the only ones a record of it may own
   * ({@code SiteOverlay.Owned}): {@link #devices} that are of the GRC's form (the bridge
   * {@code lgn<tag>b<i>}, the tunnels {@code lgn<tag>x<k>}), the bridge first. A plan that came
   * through {@link #from} has only such names; one read back from a damaged record may not.
   */
  public List<String> ownableDevices() {
    List<String> d = new ArrayList<>();
    if (bridge != null && BRIDGE.matcher(bridge).matches()) {
      d.add(bridge);
    }
    tunnels.stream().map(Tunnel::device).filter(t -> t != null && TUNNEL.matcher(t).matches())
        .forEach(d::add);
    return d;
  }

  /**
   * The plan in {@code req}, checked: INVALID_ARGUMENT naming the field and value for a VNI
   * outside 1..16777215, an MTU below 1280, a device name that is not {@code lg...} (at most 15
   * of A-Z a-z 0-9 _ . -) or appears twice, an address that is not IPv4, a port outside
   * 1..65535, a negative rate, or no tunnel at all.
   */
  public static OverlayPlan from(String reservationId, ReservationOverlay req) {
    if (reservationId == null || !ID.matcher(reservationId).matches()) {
      throw Errors.invalid("reservation_id", reservationId, "is not 1-128 of A-Z a-z 0-9 _ . - (not starting with . _ -)");
    }
    long vni = Integer.toUnsignedLong(req.getVni());
    if (vni < 1 || vni > 0xFFFFFF) {
      throw Errors.invalid("overlay.vni", vni, "must be 1..16777215");
    }
    if (req.getMtu() < 1280 || req.getMtu() > 65535) {
      throw Errors.invalid("overlay.mtu", req.getMtu(), "must be 1280..65535");
    }
    Set<String> names = new HashSet<>();
    device("overlay.bridge", req.getBridge(), BRIDGE, "lgn<6 hex>b<0-999>", names);
    if (!IPV4.matcher(req.getLocalEndpoint()).matches()) {
      throw Errors.invalid("overlay.local_endpoint", req.getLocalEndpoint(), "is not an IPv4 address");
    }
    if (req.getTunnelsCount() == 0) {
      throw Errors.invalid("overlay.tunnels", "[]", "is empty; a routed site's end has a tunnel per peer site");
    }
    List<Tunnel> tunnels = new ArrayList<>();
    for (int i = 0; i < req.getTunnelsCount(); i++) {
      OverlayTunnel t = req.getTunnels(i);
      String f = "overlay.tunnels[" + i + "].";
      device(f + "device", t.getDevice(), TUNNEL, "lgn<6 hex>x<0-999>", names);
      if (!IPV4.matcher(t.getPeerEndpoint()).matches()) {
        throw Errors.invalid(f + "peer_endpoint", t.getPeerEndpoint(), "is not an IPv4 address");
      }
      if (t.getPeerEndpoint().equals(req.getLocalEndpoint())) {
        throw Errors.invalid(f + "peer_endpoint", t.getPeerEndpoint(), "is this site's own endpoint");
      }
      if (t.getPort() < 1 || t.getPort() > 65535) {
        throw Errors.invalid(f + "port", t.getPort(), "must be 1..65535");
      }
      if (t.getRateBps() < 0) {
        throw Errors.invalid(f + "rate_bps", t.getRateBps(), "must be 0 (not shaped) or a positive bit/s");
      }
      tunnels.add(new Tunnel(t.getPeerSite(), t.getPeerEndpoint(), t.getPort(), t.getRateBps(), t.getDevice()));
    }
    return new OverlayPlan(reservationId, (int) vni, req.getMtu(), req.getBridge(), req.getLocalEndpoint(), tunnels);
  }

  private static void device(String field, String name, Pattern form, String shape, Set<String> seen) {
    if (name == null || !form.matcher(name).matches()) {
      throw Errors.invalid(field, name, "is not a name the GRC generates (" + shape + ")");
    }
    if (!seen.add(name)) {
      throw Errors.invalid(field, name, "names a device of this overlay twice");
    }
  }
}
