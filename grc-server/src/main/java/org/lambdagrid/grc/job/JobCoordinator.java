package org.lambdagrid.grc.job;

import static org.lambdagrid.proto.v1.JobState.JOB_CANCELLED;
import static org.lambdagrid.proto.v1.JobState.JOB_FAILED;
import static org.lambdagrid.proto.v1.JobState.JOB_PENDING;
import static org.lambdagrid.proto.v1.JobState.JOB_SUCCEEDED;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.grc.reservation.ReservationRecord;
import org.lambdagrid.grc.reservation.ReservationService;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.support.Ids;
import org.lambdagrid.grc.support.Paging;
import org.lambdagrid.grc.support.Timers;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs jobs: validates ({@link JobSpecValidator}) and binds to a reservation at submission,
 * then drives every site through the barrier phases at the job's start time, and tears
 * everything down when the job ends.
 *
 * <p>Sequence per job ({@link JobRunner}; each phase on all sites in parallel, a barrier with its
 * own timeout): OpenShare -> SetupNodes -> aggregate addresses (EXCHANGING) -> CollectKeys ->
 * build the TrustBundle -> InstallTrust -> STARTING: StartGuests -> RUNNING: ExecCommand on the
 * first node -> wait for its CommandExit on WatchShare -> SUCCEEDED / FAILED. The <em>first
 * node</em> is the first entry of the hostfile: the lowest-index node of the site whose name
 * sorts first.
 *
 * <p>Every job runs in a reservation ({@link ReservationService}): the one the spec names, or
 * one made at submission for the spec's sites, bandwidth and window. At the reservation's start
 * each site's share is bound to the reservation's committed hold (OpenShare), and guests attach
 * to the reservation's bridge when the network provider built one. A reservation made with
 * {@code grc reserve} builds its guests at its window's start ({@link Prebuilds}); the first job
 * submitted into it adopts them, and its phases up to RUNNING return at once.
 *
 * <p>Ending: whatever ends a job (the command's exit, a phase failure, a lost node, a cancel,
 * the end or cancel of its reservation) goes through {@link #terminate}: exactly once per job it
 * stops the runner, calls ReleaseShare on every site, closes the share streams (after a
 * WatchShare call under way returns; none starts once the job is ending), ends a
 * reservation made for the job (releasing its participants, leases and holds), and only then
 * enters the terminal state, so a watcher that sees the terminal event knows nothing is left
 * held.
 *
 * <p>A site's CRM that goes away while the job is RUNNING (its WatchShare stream breaks) does
 * not end the job at once: the coordinator watches the share again until {@code crm_grace}
 * passes, and the job goes on if the CRM comes back with the share ({@link ShareFeed}).
 *
 * <p>Thread-safe. Each running job occupies one worker thread (its runner); phase calls run on
 * further worker threads.
 */
public final class JobCoordinator implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(JobCoordinator.class);

  private final ReservationService reservations;
  private final JobStore store;
  private final SiteClients clients;
  private final Clock clock;
  private final ScheduledExecutorService scheduler;
  private final CoordinatorSettings settings;
  private final JobSpecValidator validator;
  private final ShareBuild build;
  private final Prebuilds prebuilds;
  private final JobRunner runner;
  private volatile JobRecord.Observer observer = JobRecord.Observer.NONE;

  /**
   * @param reservations makes the reservation of a job submitted without one, binds jobs to
   *     reservations; this constructor registers the coordinator as its
   *     {@link ReservationService.Lifecycle}: a reservation's start pre-builds its guests, its
   *     end stops its job and guests
   * @param clients the CRMs' clients; closed by {@link #close}
   * @param scheduler runs start timers and the retries of a lost WatchShare
   * @param workers runs job runners and phase calls; must not bound its threads below
   *     (running jobs + sites per phase)
   */
  public JobCoordinator(SiteRegistry registry, ReservationService reservations, JobStore store,
      SiteClients clients, Clock clock,
      ScheduledExecutorService scheduler, ExecutorService workers, CoordinatorSettings settings) {
    this.reservations = reservations;
    this.store = store;
    this.clients = clients;
    this.clock = clock;
    this.scheduler = scheduler;
    this.settings = settings;
    this.validator = new JobSpecValidator(registry, clock);
    SiteFanOut fanOut = new SiteFanOut(workers);
    this.build = new ShareBuild(registry, clients, settings, fanOut);
    this.prebuilds = new Prebuilds(build, clients, workers, settings);
    this.runner = new JobRunner(clients, clock, scheduler, workers, settings, build, prebuilds,
        this::terminate);
    reservations.setLifecycle(new ReservationService.Lifecycle() {
      @Override
      public void started(ReservationRecord r) {
        prebuilds.started(r);
      }

      @Override
      public void ending(ReservationRecord r, boolean cancelled, String why) {
        stopForReservation(r, cancelled, why);
        prebuilds.ending(r);
      }
    });
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
    validator.check(spec);
    Optional<JobRecord> again = store.byClientToken(spec.getUser(), spec.getClientToken());
    if (again.isPresent()) {
      return again.get().toProto();
    }
    Instant now = clock.instant();
    String id = Ids.fresh("j", store::contains);
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
      if (spec.hasCpus()) {
        rs.setCpus(spec.getCpus());
      }
      if (spec.hasMemoryBytes()) {
        rs.setMemoryBytes(spec.getMemoryBytes());
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
      try {
        checkShapeMatches(spec, bindTo);
      } catch (Errors.RequestException e) {
        reservations.jobEnded(bindTo, id);
        throw e;
      }
    }
    ReservationRecord r = bindTo;
    JobSpec.Builder boundSpec = spec.toBuilder().clearSiteNodes().putAllSiteNodes(r.siteNodes())
        .setReservationId(r.id()).clearCpus().clearMemoryBytes();
    if (r.spec().hasCpus()) {
      boundSpec.setCpus(r.spec().getCpus());
    }
    if (r.spec().hasMemoryBytes()) {
      boundSpec.setMemoryBytes(r.spec().getMemoryBytes());
    }
    JobSpec bound = boundSpec.build();
    Instant start = r.window().start().isAfter(now) ? r.window().start() : now;
    Instant end = r.window().end();
    Map<String, Ipv4Cidr> ranges = r.ranges();
    JobRecord job = new JobRecord(id, bound, now, start, end, ranges,
        settings.outputBufferBytes());
    job.reservation = r;
    job.observe(observer);
    String where = r.placement();
    // The PENDING event is sequence 1; advance() from PENDING is not used for it.
    job.appendPending("reserved " + where + " (reservation " + r.id() + "); starts " + start,
        now);
    store.add(job);
    log.info("job {} in reservation {} ({}), starts {}, ends {}", id, r.id(), where, start, end);
    Job pending = job.toProto(); // before the timer: a job due now may start at once
    job.startTimer = Timers.at(scheduler, clock, start, () -> runner.start(job));
    return pending;
  }

  /**
   * A job in a reservation runs with the reservation's shape (its guests may be built already):
   * a job that names a shape must name that one.
   */
  private static void checkShapeMatches(JobSpec spec, ReservationRecord r) {
    if (spec.hasCpus() && spec.getCpus() != r.spec().getCpus()) {
      throw Errors.invalid("spec.cpus", spec.getCpus(), "does not match reservation " + r.id()
          + " (" + (r.spec().hasCpus() ? r.spec().getCpus() + " per node"
              : "all of each node's CPUs") + "); leave it unset to use the reservation's");
    }
    if (spec.hasMemoryBytes() && spec.getMemoryBytes() != r.spec().getMemoryBytes()) {
      throw Errors.invalid("spec.memory_bytes", spec.getMemoryBytes(), "does not match"
          + " reservation " + r.id() + " (" + (r.spec().hasMemoryBytes()
              ? Quantities.formatSize(r.spec().getMemoryBytes()) + " per node" : "no limit")
          + "); leave it unset to use the reservation's");
    }
  }

  private static String nodes(Map<String, Integer> m) {
    return new TreeMap<>(m).entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
        .collect(Collectors.joining(","));
  }

  public Job get(String jobId) {
    return job(jobId).toProto();
  }

  /** Jobs, newest first; {@code user} empty = everyone's. Every one: in process only. */
  public List<Job> list(String user, boolean includeFinished) {
    return store.list().stream().filter(listed(user, includeFinished))
        .map(JobRecord::toProto).toList();
  }

  /**
   * One page of {@link #list}: see {@link Paging} (order, tokens, INVALID_ARGUMENT naming
   * {@code page_size} or {@code page_token}), cut from the store's in-memory read side.
   */
  public Paging.Page<Job> page(String user, boolean includeFinished, int pageSize,
      String pageToken) {
    return Paging.page(store, "jobs user=" + user + " include_finished=" + includeFinished,
        pageSize, pageToken, listed(user, includeFinished), JobRecord::toProto);
  }

  private static Predicate<JobRecord> listed(String user, boolean includeFinished) {
    return j -> (user.isEmpty() || user.equals(j.spec().getUser()))
        && (includeFinished || !JobStates.MACHINE.isTerminal(j.state()));
  }

  /**
   * Every job's record, newest first (then by id): a copy of the list, not of the records, so
   * a reader can filter before building any snapshot ({@link JobRecord#toProto}).
   */
  public List<JobRecord> records() {
    return store.list();
  }

  /**
   * Tells {@code o} of every state change of the jobs submitted from now on, and of the end of
   * those a restart fails ({@link #failUnfinishedAfterRestart}); the GRC's metrics.
   */
  public void observe(JobRecord.Observer o) {
    observer = o;
  }

  /** How many jobs are in each non-terminal state now. */
  public Map<JobState, Integer> liveJobsByState() {
    Map<JobState, Integer> out = new java.util.EnumMap<>(JobState.class);
    for (JobRecord j : store.list()) {
      JobState s = j.state();
      if (!JobStates.MACHINE.isTerminal(s)) {
        out.merge(s, 1, Integer::sum);
      }
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
          + ProtoNames.shortName(job.state()) + "; addresses are known after phase SETUP");
    }
    return nodes;
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
    log.info("job {} ending as {}: {}", id, ProtoNames.shortName(state), why);
    Timers.cancel(job.startTimer, true);
    if (job.runnerThread != Thread.currentThread()) {
      Timers.cancel(job.runner, true);
    }
    try {
      build.release(job.shareId(), new ArrayList<>(job.siteRanges().keySet()), why);
      if (!job.shareId().equals(id) && job.reservation != null) {
        prebuilds.released(job.reservation, id);
      }
    } finally {
      job.closeShareWatches(settings.callMargin()); // a call under way only starts a stream
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

  /**
   * Fails every live job with this message, releasing its shares, and releases the pre-built
   * guests no job took. For daemon shutdown.
   */
  public void shutdown(String why) {
    for (JobRecord job : store.list()) {
      if (!job.isEnding()) {
        terminate(job, JOB_FAILED, job.currentPhase(), why, null);
      }
    }
    prebuilds.stopAll(why);
  }

  /**
   * After a GRC restart, before it serves: ends FAILED every job the store holds unfinished (its
   * runner, timers and share streams died with the old process), with an event naming the phase
   * it was in. Returns those jobs; their shares at the CRMs are still to be released.
   */
  public List<JobRecord> failUnfinishedAfterRestart() {
    List<JobRecord> failed = new ArrayList<>();
    for (JobRecord job : store.list()) {
      JobState s = job.state();
      if (JobStates.MACHINE.isTerminal(s)) {
        continue;
      }
      Phase p = job.currentPhase();
      String during = s == JOB_PENDING || p == Phase.PHASE_UNSPECIFIED
          ? "before the job started (" + ProtoNames.shortName(s) + ")"
          : "during phase " + ProtoNames.shortName(p);
      job.observe(observer); // counted as failed; its last state lasted until now
      job.finish(JOB_FAILED, p, "the GRC restarted " + during
          + "; the job cannot continue and its shares are released", null, clock.instant());
      job.ended.complete(null);
      failed.add(job);
    }
    return failed;
  }

  @Override
  public void close() {
    clients.close();
  }
}
