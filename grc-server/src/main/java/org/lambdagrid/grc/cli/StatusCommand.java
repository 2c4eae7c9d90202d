package org.lambdagrid.grc.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.ListJobsRequest;
import org.lambdagrid.proto.v1.ListJobsResponse;
import org.lambdagrid.proto.v1.Phase;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code grc status [JOB]}: a table of your (or, with --all, every user's) jobs, or one job. */
@Command(name = "status", description = "List jobs, or show one.")
final class StatusCommand extends Subcommand {
  @Parameters(arity = "0..1", paramLabel = "JOB")
  String jobId;

  @Option(names = "--all", description = "List every user's jobs, not only yours.")
  boolean all;

  @Mixin
  FormatOption output;

  @Override
  public Integer call() {
    boolean json = output.json();
    try (GrcChannel g = connection().open()) {
      if (jobId != null) {
        Job j = g.call().getJob(GetJobRequest.newBuilder().setJobId(jobId).build()).getJob();
        if (json) {
          out().println(Output.json(j));
        } else {
          show(j);
        }
        out().flush();
        return 0;
      }
      ListJobsResponse r = everyPage(g, ListJobsRequest.newBuilder()
          .setUser(all ? "" : connection().me()).setIncludeFinished(true));
      if (json) {
        out().println(Output.json(r));
        out().flush();
        return 0;
      }
      List<String[]> rows = new ArrayList<>();
      rows.add(new String[] {"JOB", "STATE", "USER", "SITES", "START", "MESSAGE"});
      for (Job j : r.getJobsList()) {
        rows.add(new String[] {j.getId(), ProtoNames.shortName(j.getState()),
            j.getSpec().getUser(), Output.perSite(j.getSpec().getSiteNodesMap()),
            ProtoTime.fromProto(j.getStart()).toString(), j.getMessage()});
      }
      Output.table(out(), rows);
      out().flush();
      return 0;
    }
  }

  /** Every page of the list, as one response (each page a call with its own deadline). */
  static ListJobsResponse everyPage(GrcChannel g, ListJobsRequest.Builder req) {
    return ListJobsResponse.newBuilder().addAllJobs(Pager.all(
        token -> g.call().listJobs(req.setPageToken(token).build()),
        ListJobsResponse::getJobsList, ListJobsResponse::getNextPageToken)).build();
  }

  private void show(Job j) {
    PrintWriter o = out();
    o.println("job:        " + j.getId());
    o.println("state:      " + ProtoNames.shortName(j.getState()));
    o.println("user:       " + j.getSpec().getUser());
    o.println("command:    " + String.join(" ", j.getSpec().getArgvList()));
    o.println("workdir:    " + j.getSpec().getWorkingDirectory());
    o.println("sites:      " + Output.perSite(j.getSpec().getSiteNodesMap()));
    String shape = new NodeShape(j.getSpec().getCpus(), j.getSpec().getMemoryBytes()).describe();
    if (!shape.isEmpty()) {
      o.println("per node:   " + shape);
    }
    o.println("reservation: " + j.getReservationId());
    o.println("ranges:     " + Output.ranges(j.getSiteRangesMap()));
    o.println("window:     " + Output.window(j.getStart(), j.getEnd()));
    if (!j.getFirstNode().isEmpty()) {
      o.println("first node: " + j.getFirstNode());
    }
    if (j.getHasExitCode()) {
      o.println("exit code:  " + j.getExitCode());
    }
    if (j.getFailedPhase() != Phase.PHASE_UNSPECIFIED) {
      o.println("failed in:  " + ProtoNames.shortName(j.getFailedPhase()));
    }
    o.println("message:    " + j.getMessage());
  }
}
