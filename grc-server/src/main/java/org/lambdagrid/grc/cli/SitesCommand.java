package org.lambdagrid.grc.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.ListSitesRequest;
import org.lambdagrid.proto.v1.ListSitesResponse;
import org.lambdagrid.proto.v1.SiteInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code grc sites}: the registered sites, their capacity and address ranges, and a routed site's
 * overlay endpoint and underlay MTU.
 */
@Command(name = "sites", description = "List the registered sites.")
final class SitesCommand extends Subcommand {
  @Mixin
  FormatOption output;

  @Override
  public Integer call() {
    boolean json = output.json();
    try (GrcChannel g = connection().open()) {
      ListSitesResponse r = g.call().listSites(ListSitesRequest.getDefaultInstance());
      if (json) {
        out().println(Output.json(r));
        return 0;
      }
      // The OVERLAY column (a routed site's VTEP endpoint) only when some site is routed.
      boolean routed = r.getSitesList().stream().anyMatch(SiteInfo::hasOverlay);
      List<String[]> rows = new ArrayList<>();
      rows.add(routed ? new String[] {"NAME", "CRM", "NODES", "IN USE", "RANGES", "OVERLAY"}
          : new String[] {"NAME", "CRM", "NODES", "IN USE", "RANGES"});
      for (SiteInfo s : r.getSitesList()) {
        String[] row = {s.getName(), s.getCrmEndpoint(),
            String.valueOf(s.getNodeCapacity()), String.valueOf(s.getNodesInUse()),
            s.getRangesList().stream().map(AddressRange::getCidr)
                .collect(Collectors.joining(","))};
        if (routed) {
          row = java.util.Arrays.copyOf(row, 6);
          row[5] = s.hasOverlay() ? s.getOverlay().getEndpoint() + " mtu " + s.getOverlay().getUnderlayMtu()
              : "-";
        }
        rows.add(row);
      }
      Output.table(out(), rows);
      out().flush();
      return 0;
    }
  }
}
