package org.lambdagrid.grc.cli;

import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.ListResourceBundle;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.StreamOutputRequest;
import org.lambdagrid.proto.v1.StreamOutputResponse;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.WatchJobRequest;
import org.lambdagrid.proto.v1.WatchJobResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code grc submit [--wait] -- COMMAND...}: prints the job id; with {@code --wait} shows the
 * job's progress on stderr, streams its output, and exits with the command's exit code (saying
 * on stderr why the job failed when that code is not 0), 1 if the job failed before its command
 * ran, 130 if it was cancelled. An interrupted wait cancels the job.
 */
@Command(name = "submit", resourceBundle = "org.lambdagrid.grc.cli.SubmitCommand$Help",
    description = "Submit a job; with --wait, run it to the end.")
final class SubmitCommand extends Subcommand {
  @Option(names = "--site", paramLabel = "NAME=COUNT",
      description = "Nodes on a site (repeatable), e.g. --site tokyo=2 --site osaka=2."
          + " Required without --reservation.")
  Map<String, Integer> sites = new LinkedHashMap<>();

  @Option(names = "--reservation", paramLabel = "ID",
      description = "Run in this reservation (r-...; see 'grc reserve'): its sites, nodes,"
          + " window and bandwidth. Without it the GRC reserves for the job itself.")
  String reservation;

  @Mixin
  BandwidthOption bandwidth;

  @Mixin
  WindowOptions window;

  @Mixin
  ShapeOptions shape;

  @Option(names = "--env", paramLabel = "K=V", description = "Environment for the command.")
  Map<String, String> env = new LinkedHashMap<>();

  @Option(names = "--workdir", paramLabel = "DIR",
      description = "Working directory of the command (default: the current directory).")
  String workdir;

  @Option(names = "--wait", description = "Show progress, stream the output, and exit with "
      + "the command's exit code.")
  boolean await;

  @Mixin
  FormatOption output;

  @Parameters(arity = "1..*", paramLabel = "COMMAND", description = "The command and its "
      + "arguments (put them after --).")
  List<String> command;

  /** The help of the shared options, in this command's words. */
  public static final class Help extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
          {"bandwidth", "Bandwidth between the sites, e.g. 200M, 1G (default: best effort)."},
          {"start", "Start time: ISO instant (2030-01-02T10:00:00Z), local date-time "
              + "(2030-01-02T10:00), or +DURATION (+10m). Default: now."},
          {"duration", "Length of the job's window, e.g. 30m, 2h (default: the GRC's, 1h)."}};
    }
  }

  JobSpec buildSpec() {
    if (reservation == null && sites.isEmpty()) {
      throw new UserError("give --site NAME=COUNT (repeatable) or --reservation ID", 2);
    }
    if (reservation != null && (bandwidth.given() || window.given())) {
      throw new UserError("--reservation cannot be combined with --bandwidth, --start or"
          + " --duration: the job runs in the reservation's window with its bandwidth", 2);
    }
    JobSpec.Builder b = JobSpec.newBuilder().putAllSiteNodes(sites).addAllArgv(command)
        .putAllEnv(env).setUser(connection().specUser())
        .setWorkingDirectory(workdir != null ? Path.of(workdir).toAbsolutePath().normalize()
            .toString() : System.getProperty("user.dir"));
    bandwidth.bps().ifPresent(b::setBandwidthBps);
    shape.cpus().ifPresent(b::setCpus);
    shape.memoryBytes().ifPresent(b::setMemoryBytes);
    window.duration().map(ProtoTime::toProto).ifPresent(b::setDuration);
    window.start().map(ProtoTime::toProto).ifPresent(b::setStart);
    if (reservation != null) {
      b.setReservationId(reservation);
    }
    return b.build();
  }

  @Override
  public Integer call() throws Exception {
    boolean json = output.json();
    JobSpec jobSpec = buildSpec();
    try (GrcChannel g = connection().open()) {
      Job job = g.call().submitJob(SubmitJobRequest.newBuilder().setSpec(jobSpec).build())
          .getJob();
      if (!await) {
        out().println(json ? Output.json(job) : job.getId());
        out().flush();
        return 0;
      }
      err().println("grc: submitted " + job.getId() + " ("
          + Output.perSite(job.getSpec().getSiteNodesMap()) + "), starts "
          + ProtoTime.fromProto(job.getStart()));
      err().flush();
      return waitFor(g, job.getId(), json);
    }
  }

  private int waitFor(GrcChannel g, String id, boolean json) throws InterruptedException {
    CountDownLatch outputDone = new CountDownLatch(1);
    g.async().streamOutput(StreamOutputRequest.newBuilder().setJobId(id).setFollow(true)
        .build(), new StreamObserver<StreamOutputResponse>() {
          @Override
          public void onNext(StreamOutputResponse r) {
            synchronized (SubmitCommand.this) {
              Output.print(r, out(), err());
            }
          }

          @Override
          public void onError(Throwable t) {
            outputDone.countDown();
          }

          @Override
          public void onCompleted() {
            outputDone.countDown();
          }
        });
    // Ctrl-C (or SIGTERM) while waiting cancels the job, as srun does: the user is watching
    // it, so an interrupted wait means "stop it", not "leave it running unseen".
    AtomicBoolean finished = new AtomicBoolean();
    Thread cancelOnInterrupt = new Thread(() -> {
      if (!finished.get()) {
        try {
          g.call().cancelJob(CancelJobRequest.newBuilder().setJobId(id).build());
          System.err.println("grc: interrupted: cancelled job " + id);
        } catch (RuntimeException e) {
          System.err.println("grc: interrupted; cancelling job " + id + " failed: "
              + e.getMessage());
        }
      }
    }, "grc-cancel-on-interrupt");
    Runtime.getRuntime().addShutdownHook(cancelOnInterrupt);
    try {
      return watchUntilDone(g, id, json, outputDone);
    } finally {
      finished.set(true);
      try {
        Runtime.getRuntime().removeShutdownHook(cancelOnInterrupt);
      } catch (IllegalStateException e) {
        // shutting down: the hook runs
      }
    }
  }

  private int watchUntilDone(GrcChannel g, String id, boolean json, CountDownLatch outputDone)
      throws InterruptedException {
    Iterator<WatchJobResponse> events = g.stream().watchJob(WatchJobRequest.newBuilder()
        .setJobId(id).build());
    while (events.hasNext()) {
      Event e = events.next().getEvent();
      if (e.hasJobState() && e.getJobState() != JobState.JOB_PENDING
          && !terminal(e.getJobState())) {
        synchronized (this) {
          err().println("grc: " + id + " " + ProtoNames.shortName(e.getJobState())
              + (e.getMessage().isEmpty() ? "" : ": " + e.getMessage()));
          err().flush();
        }
      }
    }
    outputDone.await(30, TimeUnit.SECONDS);
    Job job = g.call().getJob(GetJobRequest.newBuilder().setJobId(id).build()).getJob();
    if (json) {
      out().println(Output.json(job));
      out().flush();
    }
    switch (job.getState()) {
      case JOB_SUCCEEDED:
        return 0;
      case JOB_CANCELLED:
        err().println("grc: job " + id + " was cancelled");
        return 130;
      default:
        if (job.getHasExitCode()) {
          // As srun does: say why, once (e.g. that the job exceeded its memory limit).
          err().println("grc: job " + id + " failed: " + job.getMessage());
          return job.getExitCode();
        }
        err().println("grc: job " + id + " failed"
            + (job.getFailedPhase() == Phase.PHASE_UNSPECIFIED ? ""
                : " in phase " + ProtoNames.shortName(job.getFailedPhase())) + ": "
            + job.getMessage());
        return 1;
    }
  }

  private static boolean terminal(JobState s) {
    return s == JobState.JOB_SUCCEEDED || s == JobState.JOB_FAILED || s == JobState.JOB_CANCELLED;
  }
}
