package org.lambdagrid.grc.cli;

import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.CancelReservationRequest;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.Reservation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code grc cancel ID}: ids carry their kind, so one command serves both without ambiguity:
 * {@code j-...} cancels a job, {@code r-...} a reservation (and the job running in it).
 */
@Command(name = "cancel", description = {"Cancel a job (j-...) or a reservation (r-...).",
    "Cancelling a reservation also stops the job running in it."})
final class CancelCommand extends Subcommand {
  @Parameters(paramLabel = "ID", description = "A job id (j-...) or a reservation id (r-...).")
  String id;

  @Override
  public Integer call() {
    try (GrcChannel g = connection().open()) {
      if (id.startsWith("r-")) {
        Reservation r = g.call().cancelReservation(CancelReservationRequest.newBuilder()
            .setReservationId(id).build()).getReservation();
        out().println(r.getId() + " " + ProtoNames.shortName(r.getState()));
      } else if (id.startsWith("j-")) {
        Job j = g.call().cancelJob(CancelJobRequest.newBuilder().setJobId(id).build())
            .getJob();
        out().println(j.getId() + " " + ProtoNames.shortName(j.getState()));
      } else {
        throw new UserError("'" + id + "' is neither a job id (j-...) nor a reservation id"
            + " (r-...)", 2);
      }
      out().flush();
      return 0;
    }
  }
}
