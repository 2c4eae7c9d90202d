package org.lambdagrid.grc.cli;

import java.util.Iterator;
import org.lambdagrid.proto.v1.StreamOutputRequest;
import org.lambdagrid.proto.v1.StreamOutputResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code grc logs [-f] JOB}: the job's stdout and stderr, to this process's. */
@Command(name = "logs", description = "Print a job's output.")
final class LogsCommand extends Subcommand {
  @Option(names = {"-f", "--follow"}, description = "Keep printing until the job ends.")
  boolean follow;

  @Parameters(paramLabel = "JOB")
  String jobId;

  @Override
  public Integer call() {
    try (GrcChannel g = connection().open()) {
      Iterator<StreamOutputResponse> it = (follow ? g.stream() : g.call()).streamOutput(
          StreamOutputRequest.newBuilder().setJobId(jobId).setFollow(follow).build());
      while (it.hasNext()) {
        Output.print(it.next(), out(), err());
      }
      return 0;
    }
  }
}
