package org.lambdagrid.grc.cli;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.ListResourceBundle;
import java.util.Map;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.proto.v1.GetReservationRequest;
import org.lambdagrid.proto.v1.GuestsState;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationState;
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
        "Prints the reservation id (r-...); run jobs in it with 'grc submit --reservation ID'.",
        "Its guests are built when the window starts (see --prebuild); 'grc reservations ID'"
            + " shows their state."})
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

  @Mixin
  ShapeOptions shape;

  @Option(names = "--deadline", paramLabel = "TIME",
      description = "The window must end by then (same forms as --start). Default: no limit;"
          + " the earliest window that fits is taken.")
  String deadline;

  @Option(names = "--prebuild", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Build the guests when the window starts, so the first job submitted into"
          + " the reservation finds them ready and only runs its command (default). With"
          + " --no-prebuild every job builds its own guests at its start.")
  boolean prebuild;

  @Option(names = "--wait",
      description = "Return only when the guests are built (after the window's start), or"
          + " exit 1 if building them failed. Needs --prebuild.")
  boolean await;

  @Mixin
  FormatOption output;

  /** How often --wait asks the GRC. */
  static final Duration POLL = Duration.ofMillis(200);

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
    if (await && !prebuild) {
      throw new UserError("--wait waits for pre-built guests; it cannot be combined with"
          + " --no-prebuild", 2);
    }
    ReservationSpec.Builder b = ReservationSpec.newBuilder().putAllSiteNodes(sites)
        .setUser(connection().specUser()).setPrebuild(prebuild);
    if (total != null) {
      b.setTotalNodes(total);
    }
    bandwidth.bps().ifPresent(b::setBandwidthBps);
    shape.cpus().ifPresent(b::setCpus);
    shape.memoryBytes().ifPresent(b::setMemoryBytes);
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
      if (!json) {
        out().println(r.getId());
        out().flush();
        err().println("grc: reserved " + r.getId() + ": " + Output.perSite(r.getSiteNodesMap())
            + (r.getBandwidthBps() == 0 ? "" : ", " + Quantities.formatRate(r.getBandwidthBps()))
            + Output.shape(r.getSpec().getCpus(), r.getSpec().getMemoryBytes())
            + ", " + Output.window(r.getStart(), r.getEnd()));
        err().flush();
      }
      if (await) {
        r = awaitGuests(g, r);
      }
      if (json) {
        out().println(Output.json(r));
      }
      out().flush();
      return 0;
    }
  }

  /**
   * Polls the reservation until its guests are READY; a failed build, or a reservation that
   * ended first, is a UserError (exit 1) with the GRC's message.
   */
  private Reservation awaitGuests(GrcChannel g, Reservation r) {
    GuestsState last = GuestsState.GUESTS_STATE_UNSPECIFIED;
    while (true) {
      GuestsState s = r.getGuests().getState();
      if (s != last && s != GuestsState.GUESTS_STATE_UNSPECIFIED) {
        err().println("grc: guests " + ProtoNames.shortName(s) + ": " + r.getGuests().getMessage());
        err().flush();
        last = s;
      }
      if (s == GuestsState.GUESTS_READY) {
        return r;
      }
      boolean notBuilt = s == GuestsState.GUESTS_STATE_UNSPECIFIED
          && r.getState() == ReservationState.RESERVATION_ACTIVE
          && !r.getGuests().getMessage().isEmpty(); // e.g. a job was bound first
      if (notBuilt || s == GuestsState.GUESTS_FAILED || s == GuestsState.GUESTS_RELEASED
          || s == GuestsState.GUESTS_IN_USE || r.getState() == ReservationState.RESERVATION_ENDED
          || r.getState() == ReservationState.RESERVATION_CANCELLED) {
        throw new UserError("reservation " + r.getId() + ": its guests are not ready ("
            + ProtoNames.shortName(r.getState()) + ", guests " + ProtoNames.shortName(s)
            + (r.getGuests().getMessage().isEmpty() ? "" : ": " + r.getGuests().getMessage())
            + ")", 1);
      }
      try {
        Thread.sleep(POLL.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new UserError("interrupted while waiting for the guests of " + r.getId(), 130);
      }
      r = g.call().getReservation(GetReservationRequest.newBuilder().setReservationId(r.getId())
          .build()).getReservation();
    }
  }
}
