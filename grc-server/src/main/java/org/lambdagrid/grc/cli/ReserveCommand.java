package org.lambdagrid.grc.cli;

import java.util.LinkedHashMap;
import java.util.ListResourceBundle;
import java.util.Map;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReserveRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code grc reserve}: nodes on sites and bandwidth between them for one window. */
@Command(name = "reserve", resourceBundle = "org.lambdagrid.grc.cli.ReserveCommand$Help",
    description = {"Reserve nodes on sites and bandwidth between them"
        + " for one window (all or nothing), e.g.",
        "  grc reserve --site alpha=2 --site bravo=2 --bandwidth 200M --duration 30m",
        "Prints the reservation id (r-...); run jobs in it with 'grc submit --reservation ID'."})
final class ReserveCommand extends Subcommand {
  @Option(names = "--site", paramLabel = "NAME=COUNT",
      description = "Nodes on a site (repeatable).")
  Map<String, Integer> sites = new LinkedHashMap<>();

  @Option(names = "--nodes", paramLabel = "COUNT",
      description = "A total node count instead of --site: the GRC picks the fewest sites.")
  Integer total;

  @Mixin
  BandwidthOption bandwidth;

  @Mixin
  WindowOptions window;

  @Option(names = "--deadline", paramLabel = "TIME",
      description = "The window must end by then (same forms as --start). Default: no limit;"
          + " the earliest window that fits is taken.")
  String deadline;

  @Mixin
  FormatOption output;

  /** The help of the shared options, in this command's words. */
  public static final class Help extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
          {"bandwidth", "Bandwidth between every pair of the sites, e.g. 200M, 1G (default:"
              + " none)."},
          {"start", "Earliest start: +10m, 2030-01-02T10:00 (local), 2030-01-02T10:00:00Z."
              + " Default: now."},
          {"duration", "Length of the window, e.g. 30m, 2h (default: the GRC's, 1h)."}};
    }
  }

  ReservationSpec buildSpec() {
    if (sites.isEmpty() == (total == null)) {
      throw new UserError("give either --site NAME=COUNT (repeatable) or --nodes COUNT", 2);
    }
    ReservationSpec.Builder b = ReservationSpec.newBuilder().putAllSiteNodes(sites)
        .setUser(connection().specUser());
    if (total != null) {
      b.setTotalNodes(total);
    }
    bandwidth.bps().ifPresent(b::setBandwidthBps);
    window.duration().map(ProtoTime::toProto).ifPresent(b::setDuration);
    window.start().map(ProtoTime::toProto).ifPresent(b::setStart);
    if (deadline != null) {
      b.setDeadline(ProtoTime.toProto(WindowOptions.parseTime("--deadline", deadline)));
    }
    return b.build();
  }

  @Override
  public Integer call() {
    boolean json = output.json();
    ReservationSpec rs = buildSpec();
    try (GrcChannel g = connection().open()) {
      Reservation r = g.call().reserve(ReserveRequest.newBuilder().setSpec(rs).build())
          .getReservation();
      if (json) {
        out().println(Output.json(r));
      } else {
        out().println(r.getId());
        err().println("grc: reserved " + r.getId() + ": " + Output.perSite(r.getSiteNodesMap())
            + (r.getBandwidthBps() == 0 ? "" : ", " + Quantities.formatRate(r.getBandwidthBps()))
            + ", " + Output.window(r.getStart(), r.getEnd()));
        err().flush();
      }
      out().flush();
      return 0;
    }
  }
}
