package org.lambdagrid.grc.job;

import static org.lambdagrid.proto.v1.JobState.JOB_EXCHANGING;
import static org.lambdagrid.proto.v1.JobState.JOB_FAILED;
import static org.lambdagrid.proto.v1.JobState.JOB_RUNNING;
import static org.lambdagrid.proto.v1.JobState.JOB_SETTING_UP;
import static org.lambdagrid.proto.v1.JobState.JOB_STARTING;
import static org.lambdagrid.proto.v1.JobState.JOB_SUCCEEDED;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.reservation.ReservationRecord;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.site.TrustBundles;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.TrustBundle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives one job through the barrier phases on every site, from its start to its command's
 * exit (see {@link JobCoordinator} for the sequence; the phases are {@link ShareBuild}'s). A job
 * whose reservation pre-built its guests ({@link Prebuilds}) adopts their share first, and the
 * same phases then return at once. The first failure ends the job FAILED naming the site and
 * the phase. Every ending goes through the {@link JobTerminator}; the runner returns
 * quietly once the job is ending.
 */
final class JobRunner {
  private static final Logger log = LoggerFactory.getLogger(JobRunner.class);

  private final SiteClients clients;
  private final Clock clock;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService workers;
  private final CoordinatorSettings settings;
  private final ShareBuild build;
  private final Prebuilds prebuilds;
  private final JobTerminator terminator;

  JobRunner(SiteClients clients, Clock clock, ScheduledExecutorService scheduler,
      ExecutorService workers, CoordinatorSettings settings, ShareBuild build,
      Prebuilds prebuilds, JobTerminator terminator) {
    this.clients = clients;
    this.clock = clock;
    this.scheduler = scheduler;
    this.workers = workers;
    this.settings = settings;
    this.build = build;
    this.prebuilds = prebuilds;
    this.terminator = terminator;
  }

  /** The job's start time came: runs it on a worker thread unless it is ending already. */
  void start(JobRecord job) {
    if (!job.isEnding()) {
      job.runner = workers.submit(() -> run(job));
    }
  }

  private void run(JobRecord job) {
    job.runnerThread = Thread.currentThread();
    String id = job.id();
    List<String> sites = new ArrayList<>(job.siteRanges().keySet());
    try {
      ReservationRecord r = job.reservation;
      job.setCurrentPhase(Phase.PHASE_SETUP);
      Prebuilds.Adopted warm = prebuilds.take(r, job, prebuilds.buildBudget());
      if (!job.advance(JOB_SETTING_UP, Phase.PHASE_SETUP, warm != null
          ? "adopting the " + warm.built() + " at the start of reservation " + r.id()
          : "setting up " + total(job) + " nodes on " + String.join(", ", sites),
          clock.instant())) {
        return;
      }
      ShareBuild.Target t = new ShareBuild.Target(job.shareId(), r, job.spec().getUser());
      // Each CRM binds the job's share to the reservation's committed hold.
      build.open(t);
      for (String s : sites) {
        new ShareFeed(job, s, clients, clock, scheduler, workers, settings.crmGrace(),
            terminator, warm == null ? ShareFeed.Position.START
                : warm.seen().getOrDefault(s, ShareFeed.Position.START)).open();
      }
      // PHASE_LAUNCH + PHASE_SETUP
      List<NodeEntry> nodes = build.setUp(t);
      job.setNodes(nodes);
      if (!job.advance(JOB_EXCHANGING, Phase.PHASE_KEYS, addressesAggregated(nodes),
          clock.instant())) {
        return;
      }
      // PHASE_KEYS, then PHASE_SET_KEYS
      TrustBundle bundle = build.collectKeys(t, nodes);
      job.setCurrentPhase(Phase.PHASE_SET_KEYS);
      build.installTrust(t, bundle);
      if (!job.advance(JOB_STARTING, Phase.PHASE_RUN, "keys installed on every node; starting"
          + " guests", clock.instant())) {
        return;
      }
      // PHASE_RUN
      build.startGuests(t);
      NodeEntry first = nodes.get(0);
      job.setFirstNode(first.getHostname());
      if (!job.advance(JOB_RUNNING, Phase.PHASE_EXEC, "running " + String.join(" ",
          job.spec().getArgvList()) + " on " + first.getHostname(), clock.instant())) {
        return;
      }
      // PHASE_EXEC
      ExecSpec exec = ExecSpec.newBuilder().addAllArgv(job.spec().getArgvList())
          .putAllEnv(job.spec().getEnvMap())
          .setWorkingDirectory(job.spec().getWorkingDirectory())
          .setUser(job.spec().getUser()).build();
      build.phase(Phase.PHASE_EXEC, settings.execTimeout(), List.of(first.getSite()), s -> {
        clients.forSite(s).execCommand(job.shareId(), first.getHostname(), exec,
            settings.execTimeout());
        return Boolean.TRUE;
      });
      CommandExit exit = job.exit.get();
      if (exit.getExitCode() == 0) {
        terminator.terminate(job, JOB_SUCCEEDED, Phase.PHASE_UNSPECIFIED,
            "command exited with code 0", 0);
      } else {
        terminator.terminate(job, JOB_FAILED, Phase.PHASE_UNSPECIFIED, "command exited with code "
            + exit.getExitCode() + (exit.getMessage().isEmpty() ? "" : ": " + exit.getMessage()),
            exit.getExitCode());
      }
    } catch (PhaseFailure f) {
      terminator.terminate(job, JOB_FAILED, f.phase, f.getMessage(), null);
    } catch (InterruptedException | CancellationException e) {
      if (!job.isEnding()) {
        terminator.terminate(job, JOB_FAILED, job.currentPhase(),
            "the GRC stopped the job: interrupted", null);
      }
    } catch (RuntimeException | ExecutionException e) {
      log.error("job {}: unexpected error", id, e);
      terminator.terminate(job, JOB_FAILED, job.currentPhase(), "internal error in the GRC: " + e,
          null);
    }
  }

  /** Sites named in {@link #addressesAggregated}; the rest are counted. */
  static final int SITES_NAMED = 20;

  /**
   * The event at the end of SETUP: nodes per site, e.g. "addresses aggregated: 12 nodes on 2
   * sites (alpha 8, bravo 4)", sites in host list order, at most {@link #SITES_NAMED} named (then
   * "and N more sites"), so its length does not grow with the grid. Every node's hostname and
   * address are in the host list (GetHosts, {@code grc hosts}), not in the event.
   */
  static String addressesAggregated(List<NodeEntry> nodes) {
    Map<String, Integer> perSite = new java.util.LinkedHashMap<>();
    nodes.forEach(n -> perSite.merge(n.getSite(), 1, Integer::sum));
    String named = perSite.entrySet().stream().limit(SITES_NAMED)
        .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", "));
    int rest = perSite.size() - SITES_NAMED;
    return "addresses aggregated: " + count(nodes.size(), "node") + " on "
        + count(perSite.size(), "site") + " (" + named
        + (rest > 0 ? ", and " + count(rest, "more site") : "") + ")";
  }

  private static String count(int n, String what) {
    return n + " " + what + (n == 1 ? "" : "s");
  }

  private static long total(JobRecord job) {
    return job.spec().getSiteNodesMap().values().stream().mapToLong(Integer::longValue).sum();
  }
}
