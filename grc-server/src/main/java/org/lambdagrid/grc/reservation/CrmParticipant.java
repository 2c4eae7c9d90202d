package org.lambdagrid.grc.reservation;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.Vote;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.ReservationOverlay;

/**
 * A site's CRM as a two-phase-commit participant: {@link ResourceManager} over the CRM's
 * SiteService Prepare/Commit/Abort/Release. One per reservation and site, since the prepare
 * also carries the site's sub-range. Each call runs on {@code executor} with the client's
 * deadline (the GRC's {@code rpc_timeout}); a failed call completes the future exceptionally
 * with the CRM's status, which the coordinator counts as a refusal naming the site.
 */
final class CrmParticipant implements ResourceManager {
  private final String site;
  private final SiteClients clients;
  private final Ipv4Cidr range;
  private final String user;
  private final Executor executor;
  private final ReservationOverlay overlay;

  CrmParticipant(String site, SiteClients clients, Ipv4Cidr range, String user,
      Executor executor) {
    this(site, clients, range, user, executor, null);
  }

  /** {@code overlay}: the site's end of the reservation's VXLAN overlay, sent in Prepare; null: none. */
  CrmParticipant(String site, SiteClients clients, Ipv4Cidr range, String user,
      Executor executor, ReservationOverlay overlay) {
    this.overlay = overlay;
    this.site = site;
    this.clients = clients;
    this.range = range;
    this.user = user;
    this.executor = executor;
  }

  @Override
  public String name() {
    return "site:" + site;
  }

  @Override
  public CompletableFuture<Vote> prepare(String reservationId, Window window, Ask ask) {
    int nodes = ((Ask.Nodes) ask).nodes();
    return CompletableFuture.supplyAsync(() -> {
      PrepareRequest.Builder req = PrepareRequest.newBuilder().setReservationId(reservationId)
          .setNodeCount(nodes).setRange(AddressRange.newBuilder().setCidr(range.toString()))
          .setStart(ProtoTime.toProto(window.start())).setEnd(ProtoTime.toProto(window.end()))
          .setUser(user);
      if (overlay != null) {
        req.setOverlay(overlay);
      }
      clients.forSite(site).prepare(req.build());
      return Vote.prepared();
    }, executor);
  }

  @Override
  public CompletableFuture<Void> commit(String reservationId) {
    return CompletableFuture.runAsync(() -> clients.forSite(site).commit(reservationId), executor);
  }

  @Override
  public CompletableFuture<Void> abort(String reservationId) {
    return CompletableFuture.runAsync(() -> clients.forSite(site).abort(reservationId), executor);
  }

  @Override
  public CompletableFuture<Void> release(String reservationId) {
    return release(reservationId, "reservation " + reservationId + " ended");
  }

  CompletableFuture<Void> release(String reservationId, String reason) {
    return CompletableFuture.runAsync(() -> clients.forSite(site).release(reservationId, reason),
        executor);
  }
}
