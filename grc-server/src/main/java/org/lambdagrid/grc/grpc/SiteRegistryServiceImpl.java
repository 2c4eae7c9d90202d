package org.lambdagrid.grc.grpc;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.stream.Collectors;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.security.PeerIdentity;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SiteRegistryService: CRMs register their sites. Thin adapter over {@link SiteRegistry}. With
 * TLS, a CRM registers only the site its certificate's CN names (PERMISSION_DENIED otherwise).
 */
public final class SiteRegistryServiceImpl extends SiteRegistryServiceGrpc.SiteRegistryServiceImplBase {
  private static final Logger log = LoggerFactory.getLogger(SiteRegistryServiceImpl.class);
  private final SiteRegistry registry;
  private final java.util.function.ToIntFunction<String> nodesInUse;

  /** @param nodesInUse a site's nodes held now, for the answer */
  public SiteRegistryServiceImpl(SiteRegistry registry,
      java.util.function.ToIntFunction<String> nodesInUse) {
    this.registry = registry;
    this.nodesInUse = nodesInUse;
  }

  @Override
  public void registerSite(RegisterSiteRequest req, StreamObserver<RegisterSiteResponse> out) {
    try {
      PeerIdentity peer = PeerIdentity.current();
      if (peer != null && peer.role() == Role.CRM && !peer.name().equals(req.getName())) {
        throw new Errors.RequestException(Status.Code.PERMISSION_DENIED, "this crm certificate"
            + " is for site '" + peer.name() + "'; it cannot register site '" + req.getName()
            + "'");
      }
      List<String> ranges = req.getRangesList().stream().map(AddressRange::getCidr)
          .collect(Collectors.toList());
      Site site = registry.register(req.getName(), req.getCrmEndpoint(), req.getNodeCapacity(),
          ranges, req.getSlotsPerNode(), req.hasOverlay() ? new Site.Overlay(req.getOverlay().getEndpoint(),
              req.getOverlay().getNetns(), req.getOverlay().getUnderlayMtu()) : null);
      log.info("site '{}' registered: CRM {}, {} nodes, ranges {}{}", site.name(),
          site.crmEndpoint(), site.nodeCapacity(), site.ranges(),
          site.overlay() == null ? "" : ", overlay endpoint " + site.overlay().endpoint());
      out.onNext(RegisterSiteResponse.newBuilder()
          .setSite(Protos.siteInfo(site, nodesInUse.applyAsInt(site.name()))).build());
      out.onCompleted();
    } catch (RuntimeException e) {
      if (e instanceof Errors.RequestException r) {
        log.info("site registration refused: {}", r.getMessage());
      }
      out.onError(Errors.toStatus(e));
    }
  }
}
