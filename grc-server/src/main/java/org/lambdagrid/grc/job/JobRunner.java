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
 * exit (see {@link JobCoordinator} for the sequence). Each phase calls every site in parallel
 * ({@link SiteFanOut}) with its own timeout; the first failure ends the job FAILED naming the
 * site and the phase. Every ending goes through the {@link JobTerminator}; the runner returns
 * quietly once the job is ending.
 */
final class JobRunner {
  private static final Logger log = LoggerFactory.getLogger(JobRunner.class);

  private final SiteRegistry registry;
  private final SiteClients clients;
  private final Clock clock;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService workers;
  private final CoordinatorSettings settings;
  private final SiteFanOut fanOut;
  private final JobTerminator terminator;

  JobRunner(SiteRegistry registry, SiteClients clients, Clock clock,
      ScheduledExecutorService scheduler, ExecutorService workers, CoordinatorSettings settings,
      SiteFanOut fanOut, JobTerminator terminator) {
    this.registry = registry;
    this.clients = clients;
    this.clock = clock;
    this.scheduler = scheduler;
    this.workers = workers;
    this.settings = settings;
    this.fanOut = fanOut;
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
      if (!job.advance(JOB_SETTING_UP, Phase.PHASE_SETUP, "setting up "
          + total(job) + " nodes on " + String.join(", ", sites), clock.instant())) {
        return;
      }
      ReservationRecord r = job.reservation;
      // Each CRM binds the job's share to the reservation's committed hold.
      phase(job, Phase.PHASE_SETUP, settings.rpcTimeout(), sites, s -> {
        clients.forSite(s).openShare(id, r.id(), job.spec().getUser());
        return Boolean.TRUE;
      });
      for (String s : sites) {
        new ShareFeed(job, s, clients, clock, scheduler, workers, settings.crmGrace(),
            terminator).open();
      }
      // PHASE_LAUNCH + PHASE_SETUP
      Map<String, List<NodeEntry>> bySite = phase(job, Phase.PHASE_SETUP,
          settings.setupTimeout(), sites, s -> {
            List<String> peers = new ArrayList<>();
            job.siteRanges().forEach((other, range) -> {
              if (!other.equals(s)) {
                peers.add(range.toString());
              }
            });
            SetupNodesRequest.Builder req = SetupNodesRequest.newBuilder().setJobId(id)
                .setSite(s).setUser(job.spec().getUser())
                .setTimeout(ProtoTime.toProto(settings.setupTimeout()))
                .setSlotsPerNode(registry.require(s).slotsPerNode())
                .setBridge(r.bridges().getOrDefault(s, ""));
            peers.forEach(p -> req.addPeerRanges(AddressRange.newBuilder().setCidr(p)));
            List<NodeEntry> nodes = clients.forSite(s).setupNodes(req.build());
            int asked = job.spec().getSiteNodesOrThrow(s);
            if (nodes.size() != asked) {
              throw Errors.aborted("site '" + s + "' set up " + nodes.size() + " nodes, the job"
                  + " asked for " + asked);
            }
            return nodes;
          });
      List<NodeEntry> nodes = TrustBundles.order(bySite);
      job.setNodes(nodes);
      if (!job.advance(JOB_EXCHANGING, Phase.PHASE_KEYS, "addresses aggregated: "
          + nodes.stream().map(n -> n.getHostname() + "=" + n.getAddress())
              .collect(Collectors.joining(" ")), clock.instant())) {
        return;
      }
      // PHASE_KEYS
      Map<String, List<NodeKeys>> keys = phase(job, Phase.PHASE_KEYS, settings.keysTimeout(),
          sites, s -> clients.forSite(s).collectKeys(id, settings.keysTimeout()));
      TrustBundle bundle;
      try {
        bundle = TrustBundles.build(nodes,
            keys.values().stream().flatMap(List::stream).collect(Collectors.toList()));
      } catch (Errors.RequestException e) {
        throw new PhaseFailure(Phase.PHASE_KEYS, e.getMessage());
      }
      // PHASE_SET_KEYS
      phase(job, Phase.PHASE_SET_KEYS, settings.trustTimeout(), sites, s -> {
        clients.forSite(s).installTrust(id, bundle, settings.trustTimeout());
        return Boolean.TRUE;
      });
      if (!job.advance(JOB_STARTING, Phase.PHASE_RUN, "keys installed on every node; starting"
          + " guests", clock.instant())) {
        return;
      }
      // PHASE_RUN
      phase(job, Phase.PHASE_RUN, settings.runTimeout(), sites, s -> {
        clients.forSite(s).startGuests(id, settings.runTimeout());
        return Boolean.TRUE;
      });
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
      phase(job, Phase.PHASE_EXEC, settings.execTimeout(), List.of(first.getSite()), s -> {
        clients.forSite(s).execCommand(id, first.getHostname(), exec, settings.execTimeout());
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

  private static long total(JobRecord job) {
    return job.spec().getSiteNodesMap().values().stream().mapToLong(Integer::longValue).sum();
  }

  /**
   * One barrier: the call on every site in parallel; returns when all answered. The first
   * failure (or the phase deadline) becomes a PhaseFailure naming the site and carrying the
   * CRM's description; the other calls are cancelled.
   */
  private <T> Map<String, T> phase(JobRecord job, Phase phase, Duration timeout,
      List<String> sites, Function<String, T> call) throws InterruptedException {
    job.setCurrentPhase(phase);
    try {
      return fanOut.callAll(sites, timeout.plus(settings.callMargin())
          .plus(settings.callMargin()), call);
    } catch (SiteFanOut.SiteFailure f) {
      String name = ProtoNames.shortName(phase);
      throw new PhaseFailure(phase, f.timedOut
          ? "site '" + f.site + "' did not finish phase " + name + " within " + timeout
          : "site '" + f.site + "' failed phase " + name + ": " + f.detail);
    }
  }

  /** A phase failed; the message names the site, the node (from the CRM) and the phase. */
  private static final class PhaseFailure extends RuntimeException {
    final Phase phase;

    PhaseFailure(Phase phase, String message) {
      super(message);
      this.phase = phase;
    }
  }
}
