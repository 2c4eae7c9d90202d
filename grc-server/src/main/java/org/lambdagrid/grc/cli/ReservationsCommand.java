package org.lambdagrid.grc.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.proto.v1.GetReservationRequest;
import org.lambdagrid.proto.v1.GuestsState;
import org.lambdagrid.proto.v1.ListReservationsRequest;
import org.lambdagrid.proto.v1.ListReservationsResponse;
import org.lambdagrid.proto.v1.Reservation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code grc reservations [ID]}: a table of your (or every user's) reservations, or one. */
@Command(name = "reservations", description = "List your reservations, or show one.")
final class ReservationsCommand extends Subcommand {
  @Parameters(arity = "0..1", paramLabel = "ID")
  String id;

  @Option(names = "--all", description = "Every user's (operators), not only yours.")
  boolean all;

  @Mixin
  FormatOption output;

  @Override
  public Integer call() {
    boolean json = output.json();
    try (GrcChannel g = connection().open()) {
      if (id != null) {
        Reservation r = g.call().getReservation(GetReservationRequest.newBuilder()
            .setReservationId(id).build()).getReservation();
        if (json) {
          out().println(Output.json(r));
        } else {
          show(out(), r);
        }
        out().flush();
        return 0;
      }
      ListReservationsResponse r = everyPage(g, ListReservationsRequest.newBuilder()
          .setUser(all ? "" : connection().me()).setIncludeFinished(true));
      if (json) {
        out().println(Output.json(r));
        out().flush();
        return 0;
      }
      List<String[]> rows = new ArrayList<>();
      rows.add(new String[] {"RESERVATION", "STATE", "USER", "SITES", "BANDWIDTH", "START",
          "END", "MESSAGE"});
      for (Reservation x : r.getReservationsList()) {
        rows.add(new String[] {x.getId(), ProtoNames.shortName(x.getState()),
            x.getSpec().getUser(), Output.perSite(x.getSiteNodesMap()),
            x.getBandwidthBps() == 0 ? "-"
                : Quantities.formatRate(x.getBandwidthBps()).replace(" ", ""),
            ProtoTime.fromProto(x.getStart()).toString(),
            ProtoTime.fromProto(x.getEnd()).toString(), x.getMessage()});
      }
      Output.table(out(), rows);
      out().flush();
      return 0;
    }
  }

  /** Every page of the list, as one response (each page a call with its own deadline). */
  static ListReservationsResponse everyPage(GrcChannel g, ListReservationsRequest.Builder req) {
    return ListReservationsResponse.newBuilder().addAllReservations(Pager.all(
        token -> g.call().listReservations(req.setPageToken(token).build()),
        ListReservationsResponse::getReservationsList,
        ListReservationsResponse::getNextPageToken)).build();
  }

  private static void show(PrintWriter o, Reservation r) {
    o.println("reservation: " + r.getId());
    o.println("state:       " + ProtoNames.shortName(r.getState()));
    o.println("user:        " + r.getSpec().getUser());
    o.println("sites:       " + Output.perSite(r.getSiteNodesMap()));
    String shape = new NodeShape(r.getSpec().getCpus(), r.getSpec().getMemoryBytes()).describe();
    if (!shape.isEmpty()) {
      o.println("per node:    " + shape);
    }
    o.println("window:      " + Output.window(r.getStart(), r.getEnd()));
    o.println("ranges:      " + Output.ranges(r.getSiteRangesMap()));
    o.println("bandwidth:   " + (r.getBandwidthBps() == 0 ? "none"
        : Quantities.formatRate(r.getBandwidthBps()) + " between every pair of sites"));
    if (r.getSiteBridgesCount() > 0) {
      o.println("bridges:     " + Output.perSite(r.getSiteBridgesMap()));
    }
    if (r.getGuests().getState() != GuestsState.GUESTS_STATE_UNSPECIFIED) {
      o.println("guests:      " + ProtoNames.shortName(r.getGuests().getState())
          + (r.getGuests().getMessage().isEmpty() ? "" : " (" + r.getGuests().getMessage() + ")"));
    } else if (r.getSpec().hasPrebuild() && !r.getSpec().getPrebuild()) {
      o.println("guests:      built by each job (--no-prebuild)");
    }
    if (r.getJobIdsCount() > 0) {
      o.println("jobs:        " + String.join(",", r.getJobIdsList()));
    }
    o.println("message:     " + r.getMessage());
  }
}
