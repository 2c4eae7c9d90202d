package org.lambdagrid.grc;

import static org.lambdagrid.proto.v1.JobState.JOB_CANCELLED;
import static org.lambdagrid.proto.v1.JobState.JOB_EXCHANGING;
import static org.lambdagrid.proto.v1.JobState.JOB_FAILED;
import static org.lambdagrid.proto.v1.JobState.JOB_RUNNING;
import static org.lambdagrid.proto.v1.JobState.JOB_SETTING_UP;
import static org.lambdagrid.proto.v1.JobState.JOB_STARTING;
import static org.lambdagrid.proto.v1.JobState.JOB_SUCCEEDED;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.TrustBundle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs jobs: validates and binds to a reservation at submission, then drives every site
 * through the barrier phases at the job's start time, and tears everything down when the job
 * ends.
 *
 * <p>Sequence per job (each phase on all sites in parallel, a barrier with its own timeout):
 * OpenShare -> SetupNodes -> aggregate addresses (EXCHANGING) -> CollectKeys -> build the TrustBundle ->
 * InstallTrust -> STARTING: StartGuests -> RUNNING: ExecCommand on the first node -> wait for
 * its CommandExit on WatchShare -> SUCCEEDED / FAILED. The <em>first node</em> is the first
 * entry of the hostfile: the lowest-index node of the site whose name sorts first.
 *
 * <p>Every job runs in a reservation ({@link ReservationService}): the one the spec names, or
 * one made at submission for the spec's sites, bandwidth and window. At the reservation's start
 * each site's share is bound to the reservation's committed hold (OpenShare), and guests attach
 * to the reservation's bridge when the network provider built one.
 *
 * <p>Ending: whatever ends a job (the command's exit, a phase failure, a lost node, a cancel,
 * the end or cancel of its reservation) goes through {@link #terminate}: exactly once per job it
 * stops the runner, calls ReleaseShare on every site, closes the share streams, ends a
 * reservation made for the job (releasing its participants, leases and holds), and only then
 * enters the terminal state, so a watcher that sees the terminal event knows nothing is left
 * held.
 *
 * <p>A site's CRM that goes away while the job is RUNNING (its WatchShare stream breaks) does
 * not end the job at once: the coordinator watches the share again until {@code crm_grace}
 * passes, and the job goes on if the CRM comes back with the share ({@code ShareWatch}).
 *
 * <p>Thread-safe. Each running job occupies one worker thread (its runner); phase calls run on
 * further worker threads.
 */
public final class JobCoordinator implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(JobCoordinator.class);
  private static final Pattern LOGIN = Pattern.compile("[a-z_][a-z0-9_.-]{0,31}\\$?");
  private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
  private static final Duration START_SLACK = Duration.ofMinutes(1);

  private final SiteRegistry registry;
  private final ReservationService reservations;
  private final JobStore store;
  private final SiteClients clients;
  private final Clock clock;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService workers;
  private final CoordinatorSettings settings;
  private final SecureRandom random = new SecureRandom();

  /**
   * @param reservations makes the reservation of a job submitted without one, binds jobs to
   *     reservations, and ends a job whose reservation ends (this constructor registers the
   *     coordinator as its {@link ReservationService.JobStopper})
   * @param clients the CRMs' clients; closed by {@link #close}
   * @param scheduler runs start timers
   * @param workers runs job runners and phase calls; must not bound its threads below
   *     (running jobs + sites per phase)
   */
  public JobCoordinator(SiteRegistry registry, ReservationService reservations, JobStore store,
      SiteClients clients, Clock clock,
      ScheduledExecutorService scheduler, ExecutorService workers, CoordinatorSettings settings) {
    this.registry = registry;
    this.reservations = reservations;
    this.store = store;
    this.clients = clients;
    this.clock = clock;
    this.scheduler = scheduler;
    this.workers = workers;
    this.settings = settings;
    reservations.setJobStopper(this::stopForReservation);
  }

  // ------------------------------------------------------------------ user-facing operations

  /**
   * Validates the spec and binds the job to its reservation: the one named in the spec, or one
   * made now for the spec's sites, bandwidth, start and duration (it then ends with the job).
   * Returns the PENDING job; it runs at its reservation's start on its own. With a client token,
   * a repeat returns the job created first.
   *
   * @throws Errors.RequestException INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION for the
   *     spec or the reservation; a participant's refusal of the reservation keeps its code and
   *     names the participant
   */
  public Job submit(JobSpec spec) {
    validate(spec);
    Optional<JobRecord> again = store.byClientToken(spec.getUser(), spec.getClientToken());
    if (again.isPresent()) {
      return again.get().toProto();
    }
    Instant now = clock.instant();
    String id = newId();
    ReservationRecord bindTo;
    if (spec.getReservationId().isEmpty()) {
      Instant start = spec.hasStart() && ProtoTime.fromProto(spec.getStart()).isAfter(now)
          ? ProtoTime.fromProto(spec.getStart()) : now;
      Duration duration = spec.hasDuration() ? ProtoTime.fromProto(spec.getDuration())
          : settings.defaultDuration();
      ReservationSpec.Builder rs = ReservationSpec.newBuilder()
          .putAllSiteNodes(spec.getSiteNodesMap()).setStart(ProtoTime.toProto(start))
          .setDuration(ProtoTime.toProto(duration)).setUser(spec.getUser());
      if (spec.getBandwidthBps() > 0) {
        rs.setBandwidthBps(spec.getBandwidthBps());
      }
      bindTo = reservations.reserveForJob(id, rs.build());
      reservations.bindJob(bindTo.id(), id, spec.getUser());
    } else {
      bindTo = reservations.bindJob(spec.getReservationId(), id, spec.getUser());
      if (spec.getSiteNodesCount() > 0 && !new TreeMap<>(spec.getSiteNodesMap())
          .equals(bindTo.siteNodes())) {
        reservations.jobEnded(bindTo, id);
        throw Errors.invalid("spec.site_nodes", nodes(spec.getSiteNodesMap()), "does not match"
            + " reservation " + bindTo.id() + " (" + nodes(bindTo.siteNodes()) + "); leave it"
            + " empty to use the reservation's nodes");
      }
    }
    ReservationRecord r = bindTo;
    JobSpec bound = spec.toBuilder().clearSiteNodes().putAllSiteNodes(r.siteNodes())
        .setReservationId(r.id()).build();
    Instant start = r.window().start().isAfter(now) ? r.window().start() : now;
    Instant end = r.window().end();
    Map<String, Ipv4Cidr> ranges = r.ranges();
    JobRecord job = new JobRecord(id, bound, now, start, end, ranges,
        settings.outputBufferBytes());
    job.reservation = r;
    String where = ranges.keySet().stream()
        .map(s -> s + ": " + r.siteNodes().get(s) + (r.siteNodes().get(s) == 1 ? " node in "
            : " nodes in ") + ranges.get(s))
        .collect(Collectors.joining(", "));
    // The PENDING event is sequence 1; advance() from PENDING is not used for it.
    job.appendPending("reserved " + where + " (reservation " + r.id() + "); starts " + start,
        now);
    store.add(job);
    log.info("job {} in reservation {} ({}), starts {}, ends {}", id, r.id(), where, start, end);
    job.startTimer = scheduler.schedule(() -> startRunner(job), millisUntil(start),
        TimeUnit.MILLISECONDS);
    return job.toProto();
  }

  private static String nodes(Map<String, Integer> m) {
    return new TreeMap<>(m).entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
        .collect(Collectors.joining(","));
  }

  public Job get(String jobId) {
    return job(jobId).toProto();
  }

  /** Jobs, newest first; {@code user} empty = everyone's. */
  public List<Job> list(String user, boolean includeFinished) {
    List<Job> out = new ArrayList<>();
    for (JobRecord j : store.list()) {
      if (!user.isEmpty() && !user.equals(j.spec().getUser())) {
        continue;
      }
      if (!includeFinished && JobStates.MACHINE.isTerminal(j.state())) {
        continue;
      }
      out.add(j.toProto());
    }
    return out;
  }

  /** The job's record, for streaming its events and output. NOT_FOUND if unknown. */
  public JobRecord job(String jobId) {
    return store.get(jobId).orElseThrow(() -> Errors.notFound("job '" + jobId + "' not found"));
  }

  /**
   * Cancels a job and waits (bounded) until it is torn down. Idempotent for a cancelled job;
   * FAILED_PRECONDITION for one that already succeeded or failed.
   */
  public Job cancel(String jobId) {
    JobRecord job = job(jobId);
    JobState s = job.state();
    if (s == JOB_SUCCEEDED || s == JOB_FAILED) {
      throw Errors.precondition("job " + jobId + " already " + (s == JOB_SUCCEEDED ? "succeeded"
          : "failed") + "; there is nothing to cancel");
    }
    terminate(job, JOB_CANCELLED, Phase.PHASE_UNSPECIFIED, "cancelled by the user", null);
    awaitEnded(job);
    return job.toProto();
  }

  /** The aggregated host list; FAILED_PRECONDITION before phase SETUP has finished. */
  public List<NodeEntry> hosts(String jobId) {
    JobRecord job = job(jobId);
    List<NodeEntry> nodes = job.nodes();
    if (nodes == null) {
      throw Errors.precondition("job " + jobId + " has no host list yet: it is "
          + JobStates.label(job.state()) + "; addresses are known after phase SETUP");
    }
    return nodes;
  }

  // ------------------------------------------------------------------ validation

  private void validate(JobSpec spec) {
    if (!spec.getReservationId().isEmpty()) {
      if (spec.hasStart() || spec.hasDuration() || spec.getBandwidthBps() != 0) {
        throw Errors.invalid("spec.reservation_id", spec.getReservationId(), "cannot be given"
            + " with spec.start, spec.duration or spec.bandwidth_bps: the job runs in the"
            + " reservation's window with its bandwidth");
      }
    } else if (spec.getSiteNodesCount() == 0) {
      throw Errors.invalid("spec.site_nodes", "", "is empty; ask for nodes on at least one site");
    }
    for (Map.Entry<String, Integer> e : new TreeMap<>(spec.getSiteNodesMap()).entrySet()) {
      if (e.getValue() < 1) {
        throw Errors.invalid("spec.site_nodes[" + e.getKey() + "]", e.getValue(),
            "must be at least 1");
      }
      if (registry.get(e.getKey()).isEmpty()) {
        String known = registry.list().stream().map(Site::name).collect(Collectors.joining(", "));
        throw Errors.notFound("site '" + e.getKey() + "' is not registered (known sites: "
            + (known.isEmpty() ? "none" : known) + ")");
      }
    }
    if (spec.getArgvCount() == 0 || spec.getArgv(0).isEmpty()) {
      throw Errors.invalid("spec.argv", String.join(" ", spec.getArgvList()),
          "is empty; give the command to run");
    }
    if (!spec.getWorkingDirectory().startsWith("/")) {
      throw Errors.invalid("spec.working_directory", spec.getWorkingDirectory(),
          "is not an absolute path");
    }
    if (!LOGIN.matcher(spec.getUser()).matches()) {
      throw Errors.invalid("spec.user", spec.getUser(), "is not a login name");
    }
    if (spec.getUser().equals("root")) {
      throw Errors.invalid("spec.user", spec.getUser(), "may not run jobs; jobs never run as root");
    }
    if (spec.hasDuration()) {
      Duration d = ProtoTime.fromProto(spec.getDuration());
      if (d.isNegative() || d.isZero()) {
        throw Errors.invalid("spec.duration", d, "must be positive");
      }
    }
    if (spec.hasStart()) {
      Instant start;
      try {
        start = ProtoTime.fromProto(spec.getStart());
      } catch (java.time.DateTimeException e) {
        throw Errors.invalid("spec.start", spec.getStart().getSeconds() + "s",
            "is not a representable time");
      }
      if (start.isBefore(clock.instant().minus(START_SLACK))) {
        throw Errors.invalid("spec.start", start, "is in the past");
      }
    }
    if (spec.getBandwidthBps() < 0) {
      throw Errors.invalid("spec.bandwidth_bps", spec.getBandwidthBps(), "must not be negative");
    }
    for (String k : new TreeSet<>(spec.getEnvMap().keySet())) {
      if (!ENV_NAME.matcher(k).matches()) {
        throw Errors.invalid("spec.env", k, "is not an environment variable name");
      }
    }
  }

  private Site site(String name) {
    return registry.get(name)
        .orElseThrow(() -> Errors.notFound("site '" + name + "' is not registered"));
  }

  private String newId() {
    while (true) {
      String id = String.format("j-%08x", random.nextInt());
      if (!store.contains(id)) {
        return id;
      }
    }
  }

  private long millisUntil(Instant t) {
    return Math.max(0, Duration.between(clock.instant(), t).toMillis());
  }

  private SiteClient client(String siteName) {
    return clients.forSite(siteName);
  }

  // ------------------------------------------------------------------ shares

  private void releaseShares(String id, List<String> sites, String reason) {
    try {
      callAll(sites, settings.rpcTimeout().plus(settings.callMargin()), site -> {
        try {
          client(site).releaseShare(id, reason);
        } catch (RuntimeException e) {
          log.warn("job {}: ReleaseShare on site '{}' failed: {}", id, site, describe(e));
        }
        return Boolean.TRUE;
      });
    } catch (SiteFailure f) {
      log.warn("job {}: releasing shares: {}", id, f.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // ------------------------------------------------------------------ running

  private void startRunner(JobRecord job) {
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
        client(s).openShare(id, r.id(), job.spec().getUser());
        return Boolean.TRUE;
      });
      for (String s : sites) {
        new ShareWatch(job, s).open();
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
                .setSlotsPerNode(site(s).slotsPerNode())
                .setBridge(r.bridges().getOrDefault(s, ""));
            peers.forEach(p -> req.addPeerRanges(AddressRange.newBuilder().setCidr(p)));
            List<NodeEntry> nodes = client(s).setupNodes(req.build());
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
          sites, s -> client(s).collectKeys(id, settings.keysTimeout()));
      TrustBundle bundle;
      try {
        bundle = TrustBundles.build(nodes,
            keys.values().stream().flatMap(List::stream).collect(Collectors.toList()));
      } catch (Errors.RequestException e) {
        throw new PhaseFailure(Phase.PHASE_KEYS, e.getMessage());
      }
      // PHASE_SET_KEYS
      phase(job, Phase.PHASE_SET_KEYS, settings.trustTimeout(), sites, s -> {
        client(s).installTrust(id, bundle, settings.trustTimeout());
        return Boolean.TRUE;
      });
      if (!job.advance(JOB_STARTING, Phase.PHASE_RUN, "keys installed on every node; starting"
          + " guests", clock.instant())) {
        return;
      }
      // PHASE_RUN
      phase(job, Phase.PHASE_RUN, settings.runTimeout(), sites, s -> {
        client(s).startGuests(id, settings.runTimeout());
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
        client(s).execCommand(id, first.getHostname(), exec, settings.execTimeout());
        return Boolean.TRUE;
      });
      CommandExit exit = job.exit.get();
      if (exit.getExitCode() == 0) {
        terminate(job, JOB_SUCCEEDED, Phase.PHASE_UNSPECIFIED, "command exited with code 0", 0);
      } else {
        terminate(job, JOB_FAILED, Phase.PHASE_UNSPECIFIED, "command exited with code "
            + exit.getExitCode() + (exit.getMessage().isEmpty() ? "" : ": " + exit.getMessage()),
            exit.getExitCode());
      }
    } catch (PhaseFailure f) {
      terminate(job, JOB_FAILED, f.phase, f.getMessage(), null);
    } catch (InterruptedException | CancellationException e) {
      if (!job.isEnding()) {
        terminate(job, JOB_FAILED, job.currentPhase(), "the GRC stopped the job: interrupted",
            null);
      }
    } catch (RuntimeException | ExecutionException e) {
      log.error("job {}: unexpected error", id, e);
      terminate(job, JOB_FAILED, job.currentPhase(), "internal error in the GRC: " + e, null);
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
      return callAll(sites, timeout.plus(settings.callMargin()).plus(settings.callMargin()),
          call);
    } catch (SiteFailure f) {
      String name = phase.name().substring("PHASE_".length());
      throw new PhaseFailure(phase, f.timedOut
          ? "site '" + f.site + "' did not finish phase " + name + " within " + timeout
          : "site '" + f.site + "' failed phase " + name + ": " + f.detail);
    }
  }

  private <T> Map<String, T> callAll(List<String> sites, Duration wait,
      Function<String, T> call) throws InterruptedException, SiteFailure {
    ExecutorCompletionService<Map.Entry<String, T>> ecs =
        new ExecutorCompletionService<>(workers);
    Map<String, Future<Map.Entry<String, T>>> futures = new LinkedHashMap<>();
    for (String s : sites) {
      futures.put(s, ecs.submit(() -> {
        try {
          return Map.entry(s, call.apply(s));
        } catch (RuntimeException e) {
          throw new SiteCallException(s, e);
        }
      }));
    }
    long deadline = System.nanoTime() + wait.toNanos();
    Map<String, T> results = new HashMap<>();
    try {
      for (int i = 0; i < sites.size(); i++) {
        Future<Map.Entry<String, T>> f = ecs.poll(deadline - System.nanoTime(),
            TimeUnit.NANOSECONDS);
        if (f == null) {
          String late = sites.stream().filter(s -> !results.containsKey(s)).findFirst()
              .orElse("?");
          throw new SiteFailure(late, Status.Code.DEADLINE_EXCEEDED, "no answer", true);
        }
        try {
          Map.Entry<String, T> r = f.get();
          results.put(r.getKey(), r.getValue());
        } catch (ExecutionException e) {
          if (e.getCause() instanceof SiteCallException sce) {
            Throwable c = sce.getCause();
            throw new SiteFailure(sce.site, codeOf(c), describe(c), false);
          }
          throw new SiteFailure("?", Status.Code.INTERNAL, String.valueOf(e.getCause()), false);
        }
      }
      return results;
    } finally {
      futures.values().forEach(f -> f.cancel(true));
    }
  }

  static Status.Code codeOf(Throwable t) {
    if (t instanceof StatusRuntimeException s) {
      return s.getStatus().getCode();
    }
    if (t instanceof Errors.RequestException r) {
      return r.code();
    }
    return Status.Code.INTERNAL;
  }

  /** The CRM's description, or the code when it gave none. */
  static String describe(Throwable t) {
    if (t instanceof StatusRuntimeException s) {
      String d = s.getStatus().getDescription();
      return d == null || d.isEmpty() ? s.getStatus().getCode().toString() : d;
    }
    if (t instanceof Errors.RequestException r) {
      return r.getMessage();
    }
    return String.valueOf(t);
  }

  // ------------------------------------------------------------------ ending

  /** The job's reservation is ending (window over, or cancelled): stop its job, wait for it. */
  private void stopForReservation(ReservationRecord r, boolean cancelled, String why) {
    String jobId = r.liveJob();
    if (jobId == null) {
      return;
    }
    store.get(jobId).ifPresent(job -> {
      terminate(job, cancelled ? JOB_CANCELLED : JOB_FAILED, job.currentPhase(), why, null);
      awaitEnded(job);
    });
  }

  /**
   * Ends the job once: stops the runner, releases every site's share, the leases and the node
   * holds, then enters {@code state} and appends its event. Later calls return at once.
   */
  void terminate(JobRecord job, JobState state, Phase phase, String why, Integer exitCode) {
    if (!job.beginEnding()) {
      return;
    }
    String id = job.id();
    log.info("job {} ending as {}: {}", id, JobStates.label(state), why);
    cancel(job.startTimer);
    if (job.runnerThread != Thread.currentThread()) {
      cancel(job.runner);
    }
    try {
      releaseShares(id, new ArrayList<>(job.siteRanges().keySet()), why);
    } finally {
      job.closeShareWatches();
      try {
        if (job.reservation != null) {
          reservations.jobEnded(job.reservation, id); // ends a reservation made for this job
        }
      } finally {
        job.finish(state, phase, why, exitCode, clock.instant());
        job.ended.complete(null);
      }
    }
  }

  private void awaitEnded(JobRecord job) {
    Duration bound = settings.rpcTimeout().plus(settings.callMargin()).multipliedBy(2);
    try {
      job.ended.get(bound.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      log.warn("job {}: teardown still running after {}", job.id(), bound);
    }
  }

  private static void cancel(Future<?> f) {
    if (f != null) {
      f.cancel(true);
    }
  }

  /** Fails every live job with this message, releasing its shares. For daemon shutdown. */
  public void shutdown(String why) {
    for (JobRecord job : store.list()) {
      if (!job.isEnding()) {
        terminate(job, JOB_FAILED, job.currentPhase(), why, null);
      }
    }
  }

  @Override
  public void close() {
    clients.close();
  }

  /** How long a lost WatchShare waits before the next attempt (never past the grace). */
  static final Duration WATCH_RETRY = Duration.ofSeconds(1);

  /**
   * Feeds one site's WatchShare stream into the job, across a restart of that site's CRM.
   *
   * <p>A stream that breaks while the job is RUNNING (every guest started, so a CRM restarted
   * from its state directory re-adopts them) with UNAVAILABLE (the CRM died or cannot be
   * reached), CANCELLED (the CRM's server reset it while stopping) or a normal completion does
   * not fail the job: one event says the CRM was lost, and WatchShare is tried again every
   * {@link #WATCH_RETRY} until {@code crm_grace} has passed since the loss. The first thing the
   * new stream delivers (event, output or exit) ends the outage (one event says so; a later
   * loss starts a new grace). The job fails naming the site when the grace passes, or when the
   * CRM answers the new WatchShare with anything but UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED
   * (NOT_FOUND: it came back without the share). A stream that breaks in any other state fails
   * the job at once. Each attempt's handle is registered with the job, so {@link #terminate}
   * closes the live one; attempts stop once the job is ending. A new stream from the same CRM
   * process replays the share's history; what was already delivered is dropped by its
   * (incarnation, seq) stamp ({@link Stream#fresh}), so no event or output is taken twice.
   */
  private final class ShareWatch {
    private final JobRecord job;
    private final String site;
    // Guarded by this.
    private int generation; // of the newest stream; callbacks of older ones are ignored
    private int outage; // counts losses, so a grace timer knows whether its outage is over
    private Instant lostAt; // non-null while the CRM is away
    private Instant deadline;
    private String cause = "";
    private String incarnation = ""; // of the CRM process the last new update came from
    private long lastSeq; // the last new update's number in that incarnation

    ShareWatch(JobRecord job, String site) {
      this.job = job;
      this.site = site;
    }

    /** The first WatchShare, from the runner; a synchronous failure propagates. */
    void open() {
      watch(false);
    }

    private void watch(boolean retry) {
      Stream s;
      synchronized (this) {
        s = new Stream(++generation);
      }
      AutoCloseable h;
      try {
        h = client(site).watchShare(job.id(), s);
      } catch (RuntimeException e) {
        if (!retry) {
          throw e;
        }
        s.onClosed(e);
        return;
      }
      if (job.addShareWatch(h)) {
        boolean closed;
        synchronized (this) {
          s.handle = h;
          closed = s.closed;
        }
        if (closed) {
          job.removeShareWatch(h); // it broke before watchShare returned
        }
      }
    }

    /** Something arrived on {@code s}; false for a stale stream. Ends an outage. */
    private boolean arrived(Stream s) {
      boolean back;
      synchronized (this) {
        if (s.generation != generation) {
          return false;
        }
        back = lostAt != null;
        lostAt = null;
        deadline = null;
      }
      if (back) {
        log.info("job {}: the CRM of site '{}' is back", job.id(), site);
        siteEvent("the CRM of site '" + site + "' is back; its share continues");
      }
      return true;
    }

    private void closed(Stream s, Throwable error) {
      AutoCloseable dead;
      synchronized (this) {
        s.closed = true;
        dead = s.handle;
      }
      if (job.isEnding()) {
        return; // the ending closes every handle
      }
      if (dead != null) {
        job.removeShareWatch(dead); // a retry registers the next one
      }
      Status.Code code = error == null ? null : codeOf(error);
      String what = error == null ? "the CRM ended the stream"
          : code + (describe(error).equals(code.toString()) ? "" : ": " + describe(error));
      String fail = null;
      boolean retry = false;
      int graceOf = -1;
      Duration wait = WATCH_RETRY;
      synchronized (this) {
        if (s.generation != generation) {
          return;
        }
        Instant now = clock.instant();
        if (lostAt == null) {
          // A live stream broke.
          if (job.state() == JOB_RUNNING && (error == null || code == Status.Code.UNAVAILABLE
              || code == Status.Code.CANCELLED)) {
            lostAt = now;
            deadline = now.plus(settings.crmGrace());
            cause = what;
            graceOf = ++outage;
            retry = true;
          } else {
            fail = "lost the event stream of site '" + site + "': " + (error == null
                ? "the CRM closed it" : describe(error));
          }
        } else if (error != null && (code == Status.Code.UNAVAILABLE
            || code == Status.Code.DEADLINE_EXCEEDED || code == Status.Code.CANCELLED)) {
          // Still away.
          if (!now.isBefore(deadline)) {
            fail = notBack();
          } else {
            retry = true;
            Duration left = Duration.between(now, deadline);
            wait = left.compareTo(WATCH_RETRY) < 0 ? left : WATCH_RETRY;
          }
        } else if (code == Status.Code.NOT_FOUND || error == null) {
          fail = "the CRM of site '" + site + "' came back without the job's share (" + what
              + ")";
        } else {
          fail = "the CRM of site '" + site + "' came back but refused to stream the job's"
              + " share (" + what + ")";
        }
      }
      if (fail != null) {
        failJob(fail);
        return;
      }
      if (graceOf >= 0) {
        log.warn("job {}: lost the CRM of site '{}' ({}); waiting up to {} for it", job.id(),
            site, what, settings.crmGrace());
        siteEvent("lost contact with the CRM of site '" + site + "' (" + what + "); waiting up"
            + " to " + format(settings.crmGrace()) + " for it to come back");
        int o = graceOf;
        scheduler.schedule(() -> graceOver(o), settings.crmGrace().toMillis(),
            TimeUnit.MILLISECONDS);
      }
      if (retry) {
        scheduler.schedule(() -> workers.execute(() -> {
          if (!job.isEnding()) {
            watch(true);
          }
        }), wait.toMillis(), TimeUnit.MILLISECONDS);
      }
    }

    /** The grace of loss number {@code o} ran out: fails the job unless the CRM came back. */
    private void graceOver(int o) {
      String fail;
      synchronized (this) {
        if (o != outage || lostAt == null) {
          return;
        }
        fail = notBack();
      }
      failJob(fail);
    }

    private String notBack() {
      return "the CRM of site '" + site + "' did not come back within "
          + format(settings.crmGrace()) + " (lost: " + cause + ")";
    }

    private void failJob(String why) {
      if (job.isEnding()) {
        return;
      }
      Phase p = job.currentPhase();
      workers.execute(() -> terminate(job, JOB_FAILED, p, why, null));
    }

    private void siteEvent(String message) {
      job.appendNodeEvent(Event.newBuilder().setSite(site).setPhase(job.currentPhase())
          .setMessage(message).build(), clock.instant());
    }

    /** One WatchShare call. */
    private final class Stream implements SiteClient.ShareListener {
      final int generation;
      AutoCloseable handle; // guarded by the ShareWatch
      boolean closed; // guarded by the ShareWatch

      Stream(int generation) {
        this.generation = generation;
      }

      /**
       * New unless a watch again replays what an earlier stream of the same CRM process already
       * delivered. A replay still shows the CRM is there (it ends an outage) but is dropped.
       */
      @Override
      public boolean fresh(String inc, long seq) {
        if (inc.isEmpty()) {
          return true; // unstamped (a CRM without numbering)
        }
        boolean isNew;
        synchronized (ShareWatch.this) {
          if (generation != ShareWatch.this.generation) {
            return false;
          }
          isNew = !inc.equals(incarnation) || seq > lastSeq;
          if (isNew) {
            incarnation = inc;
            lastSeq = seq;
          }
        }
        if (!isNew) {
          arrived(this);
        }
        return isNew;
      }

      @Override
      public void onEvent(Event event) {
        if (!arrived(this)) {
          return;
        }
        Event e = event.getSite().isEmpty() ? event.toBuilder().setSite(site).build() : event;
        job.appendNodeEvent(e, clock.instant());
        if (e.getNodeState() == NodeState.NODE_LOST && JobStates.isActive(job.state())
            && !job.isEnding()) {
          Phase p = job.currentPhase();
          String node = e.getHostname().isEmpty() ? "a node of site '" + site + "'"
              : "node " + e.getHostname();
          String phase = p.name().substring("PHASE_".length());
          // The CRM's message usually names the node already: don't say it twice.
          String why = !e.getHostname().isEmpty() && e.getMessage().contains(e.getHostname())
              ? e.getMessage() + " during phase " + phase
              : node + " was lost in phase " + phase
                  + (e.getMessage().isEmpty() ? "" : ": " + e.getMessage());
          workers.execute(() -> terminate(job, JOB_FAILED, p, why, null));
        }
      }

      @Override
      public void onOutput(OutputChunk chunk) {
        if (arrived(this)) {
          job.output().append(chunk);
        }
      }

      @Override
      public void onExit(CommandExit exit) {
        if (!arrived(this)) {
          return;
        }
        if (exit.getHostname().isEmpty() || exit.getHostname().equals(job.firstNode())) {
          // A CRM that resent the exit after a restart completes it again: ignored.
          job.exit.complete(exit);
        }
      }

      @Override
      public void onClosed(Throwable error) {
        closed(this, error);
      }
    }
  }

  /** As grc.yaml spells durations ({@link org.lambdagrid.common.Quantities#formatDuration}). */
  static String format(Duration d) {
    return org.lambdagrid.common.Quantities.formatDuration(d);
  }

  /** A phase failed; the message names the site, the node (from the CRM) and the phase. */
  private static final class PhaseFailure extends RuntimeException {
    final Phase phase;

    PhaseFailure(Phase phase, String message) {
      super(message);
      this.phase = phase;
    }
  }

  private static final class SiteCallException extends RuntimeException {
    final String site;

    SiteCallException(String site, Throwable cause) {
      super(cause);
      this.site = site;
    }
  }

  private static final class SiteFailure extends Exception {
    final String site;
    final Status.Code code;
    final String detail;
    final boolean timedOut;

    SiteFailure(String site, Status.Code code, String detail, boolean timedOut) {
      super("site '" + site + "': " + detail);
      this.site = site;
      this.code = code;
      this.detail = detail;
      this.timedOut = timedOut;
    }
  }
}
