package org.lambdagrid.grc.cli;

import java.util.Iterator;
import org.lambdagrid.proto.v1.WatchJobRequest;
import org.lambdagrid.proto.v1.WatchJobResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code grc watch JOB}: one {@link Output#eventLine} per event, from the first to the end. */
@Command(name = "watch", description = "Print a job's events until it ends.")
final class WatchCommand extends Subcommand {
  @Parameters(paramLabel = "JOB")
  String jobId;

  @Override
  public Integer call() {
    try (GrcChannel g = connection().open()) {
      Iterator<WatchJobResponse> it = g.stream().watchJob(WatchJobRequest.newBuilder()
          .setJobId(jobId).build());
      while (it.hasNext()) {
        out().println(Output.eventLine(it.next().getEvent()));
        out().flush();
      }
      return 0;
    }
  }
}
