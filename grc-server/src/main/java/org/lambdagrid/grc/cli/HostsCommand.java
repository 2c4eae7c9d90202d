package org.lambdagrid.grc.cli;

import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.proto.v1.GetHostsRequest;
import org.lambdagrid.proto.v1.GetHostsResponse;
import org.lambdagrid.proto.v1.NodeEntry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code grc hosts JOB}: the job's nodes, their addresses, sites and slots, and the local account
 * the job runs as on each node's site.
 */
@Command(name = "hosts", description = "Print a job's nodes, addresses and local accounts.")
final class HostsCommand extends Subcommand {
  @Parameters(paramLabel = "JOB")
  String jobId;

  @Mixin
  FormatOption output;

  @Override
  public Integer call() {
    boolean json = output.json();
    try (GrcChannel g = connection().open()) {
      GetHostsResponse r = g.call().getHosts(GetHostsRequest.newBuilder().setJobId(jobId)
          .build());
      if (json) {
        out().println(Output.json(r));
      } else {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"HOSTNAME", "ADDRESS", "SITE", "SLOTS", "USER"});
        for (NodeEntry n : r.getNodesList()) {
          // USER: the local account the guest runs as on its site (sites may name you
          // differently); "-" for a job recorded before the GRC knew it.
          rows.add(new String[] {n.getHostname(), n.getAddress() + "/" + n.getPrefixLength(),
              n.getSite(), String.valueOf(n.getSlots()),
              n.getLocalUser().isEmpty() ? "-" : n.getLocalUser()});
        }
        Output.table(out(), rows);
      }
      out().flush();
      return 0;
    }
  }
}
