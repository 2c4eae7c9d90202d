package org.lambdagrid.grc.grpc;

import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.SiteInfo;

/** Conversions from the GRC's plain types to the wire's, at the edge only. */
final class Protos {
  private Protos() {}

  static SiteInfo siteInfo(Site site, int nodesInUse) {
    SiteInfo.Builder b = SiteInfo.newBuilder().setName(site.name())
        .setCrmEndpoint(site.crmEndpoint().toString()).setNodeCapacity(site.nodeCapacity())
        .setNodesInUse(nodesInUse).setRegisteredAt(ProtoTime.toProto(site.registeredAt()));
    site.ranges().forEach(r -> b.addRanges(AddressRange.newBuilder().setCidr(r.toString())));
    if (site.overlay() != null) {
      b.setOverlay(org.lambdagrid.proto.v1.SiteOverlay.newBuilder().setEndpoint(site.overlay().endpoint())
          .setNetns(site.overlay().netns()).setUnderlayMtu(site.overlay().underlayMtu()));
    }
    return b.build();
  }
}
