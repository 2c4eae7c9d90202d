package org.lambdagrid.crm.site;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Errors.RequestException;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.pilot.PilotListener;
import org.lambdagrid.crm.pilot.PilotRegistry;
import org.lambdagrid.crm.pilot.PilotSession;
import org.lambdagrid.crm.pilot.PilotStarter;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.PilotHello;
import org.lambdagrid.proto.v1.TrustBundle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The site core: every job's share of this site, its capacity accounting, and the barrier phases
 * the GRC drives. Plain Java; {@link SiteServiceImpl} and the PilotService adapt it to gRPC.
 *
 * <p>Errors are {@link RequestException}s with the status code to return and a description
 * naming the job, node and phase. Thread-safe: calls for different jobs run in parallel; the
 * phase calls of one job are serialised and block until their barrier completes.
 */
public final class SiteShares implements PilotRegistry, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SiteShares.class);
  private static final long GRACE_POLL_MILLIS = 100;

  private final SiteSettings settings;
  private final PilotStarter starter;
  private final Supplier<Endpoint> pilotEndpoint;
  private final Clock clock;
  private final ExecutorService executor;
  private final Map<String, Share> shares = new LinkedHashMap<>(); // guarded by this
  private final SiteReservations reservations;
  private final SiteLedger ledger;
  private final BatchReservations batch;
  /** Deletes batch reservations of ended holds ({@link SiteReservations#sweepBatch}). */
  private volatile java.util.concurrent.ScheduledExecutorService sweeper;
  private final java.util.Set<String> started = new java.util.HashSet<>(); // guarded by this
  /** Reservations being released: OpenShare refuses them (guarded by this). */
  private final java.util.Set<String> releasing = new java.util.HashSet<>();
  /** This process's id in WatchShare updates. */
  private final String incarnation = java.util.HexFormat.of().formatHex(
      java.nio.ByteBuffer.allocate(8).putLong(new java.security.SecureRandom().nextLong())
          .array());

  /**
   * @param pilotEndpoint where pilots dial in; read at each launch (the bound port may only be
   *     known once the server started)
   */
  public SiteShares(SiteSettings settings, PilotStarter starter, Supplier<Endpoint> pilotEndpoint,
      Clock clock) {
    this(settings, starter, pilotEndpoint, clock, SiteLedger.NONE);
  }

  /** @param ledger records every hold and share durably (see {@link #recover}) */
  public SiteShares(SiteSettings settings, PilotStarter starter, Supplier<Endpoint> pilotEndpoint,
      Clock clock, SiteLedger ledger) {
    this(settings, starter, pilotEndpoint, clock, ledger, BatchReservations.NONE);
  }

  /**
   * @param batch the batch system's reservations: each prepared hold reserves its window there
   *     and the pilots run in it (see {@link SiteReservations})
   */
  public SiteShares(SiteSettings settings, PilotStarter starter, Supplier<Endpoint> pilotEndpoint,
      Clock clock, SiteLedger ledger, BatchReservations batch) {
    this.ledger = ledger;
    this.settings = settings;
    this.starter = starter;
    this.pilotEndpoint = pilotEndpoint;
    this.clock = clock;
    this.batch = batch;
    this.reservations = new SiteReservations(settings, clock, settings.holdTime(), ledger,
        batch);
    AtomicInteger n = new AtomicInteger();
    this.executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "crm-" + settings.site() + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  /** The reservations held on this site (two-phase commit participant). */
  public SiteReservations reservations() {
    return reservations;
  }

  /**
   * Ends a reservation: releases every share bound to it (stopping its command and pilots),
   * then frees its hold. Idempotent. Blocks until the shares are torn down.
   */
  public void releaseReservation(String reservationId, String reason) {
    List<String> bound = new ArrayList<>();
    synchronized (this) {
      releasing.add(reservationId); // from here no share binds to it (see reserve)
      shares.values().forEach(s -> {
        if (s.spec.reservationId().equals(reservationId)) {
          bound.add(s.spec.jobId());
        }
      });
    }
    String why = reason == null || reason.isBlank()
        ? "reservation " + reservationId + " was released" : reason;
    try {
      bound.forEach(job -> release(job, why));
      reservations.release(reservationId);
    } finally {
      synchronized (this) {
        releasing.remove(reservationId); // released: committed() refuses it from now on
      }
    }
    log.info("reservation {}: released ({})", reservationId, why);
  }

  /**
   * Binds a job's share to the committed reservation: the share gets the reservation's nodes,
   * sub-range and window. Idempotent: the same job and reservation again is OK.
   *
   * @throws RequestException NOT_FOUND (reservation unknown here), FAILED_PRECONDITION (not
   *     committed, another live job uses it, or the site's accounts give {@code user} no local
   *     account), ALREADY_EXISTS (the job holds another share)
   */
  public void openShare(String jobId, String reservationId, String user) {
    if (jobId == null || jobId.isBlank()) {
      throw Errors.invalid("job_id", "", "is empty");
    }
    if (user != null && !user.isEmpty()) {
      settings.accounts().localAccount(user); // e.g. crm.yaml changed since Prepare
    }
    SiteReservations.Held h = reservations.committed(reservationId);
    ShareSpec spec = new ShareSpec(jobId, h.nodes(), h.range(), h.window().start(),
        h.window().end(), user, reservationId);
    synchronized (this) {
      for (Share s : shares.values()) {
        if (s.spec.reservationId().equals(reservationId) && !s.spec.jobId().equals(jobId)) {
          throw Errors.precondition("reservation " + reservationId + " on site '"
              + settings.site() + "' is in use by job " + s.spec.jobId());
        }
      }
    }
    reserve(spec, true);
  }

  /**
   * Holds nodes and a sub-range for a job. Idempotent: the same spec again is OK.
   *
   * @throws RequestException INVALID_ARGUMENT (bad count, range outside the site's pools or too
   *     small, window ends before it starts), ALREADY_EXISTS (the job holds a different share),
   *     FAILED_PRECONDITION (not enough free nodes, or the range overlaps a live share's)
   */
  void reserve(ShareSpec spec) {
    reserve(spec, false);
  }

  /**
   * @param bound the share is bound to its committed reservation: refused if that is being
   *     released or no longer committed (checked under the same lock as the release takes)
   */
  private void reserve(ShareSpec spec, boolean bound) {
    validate(spec);
    synchronized (this) {
      Share existing = shares.get(spec.jobId());
      if (existing != null) {
        if (existing.spec.equals(spec)) {
          return;
        }
        throw Errors.alreadyExists("job " + spec.jobId() + " already holds a share on site '"
            + settings.site() + "' (" + existing.spec.describe() + "); asked again with "
            + spec.describe() + ". Release it first");
      }
      int used = 0;
      for (Share s : shares.values()) {
        if (s.spec.overlapsInTime(spec)) {
          used += s.nodeCount();
          if (s.spec.range().overlaps(spec.range())) {
            throw Errors.precondition("range: '" + spec.range() + "' overlaps range "
                + s.spec.range() + " that job " + s.spec.jobId() + " holds on site '"
                + settings.site() + "' in an overlapping window");
          }
        }
      }
      int free = Math.max(0, settings.nodeCapacity() - used);
      if (spec.nodeCount() > free) {
        throw Errors.precondition("site '" + settings.site() + "' has " + free + " free node"
            + (free == 1 ? "" : "s") + "; job " + spec.jobId() + " asked for " + spec.nodeCount());
      }
      if (bound && (releasing.contains(spec.reservationId())
          || reservations.state(spec.reservationId()).filter(
              st -> st == org.lambdagrid.common.reservation.HoldTable.State.COMMITTED).isEmpty())) {
        throw Errors.precondition("reservation " + spec.reservationId() + " on site '"
            + settings.site() + "' is being released; no job can start in it");
      }
      ledger.shareOpened(spec); // committed before the GRC is told
      shares.put(spec.jobId(), new Share(spec, this));
    }
    log.info("job {}: share opened ({})", spec.jobId(), spec.describe());
  }

  private void validate(ShareSpec spec) {
    if (spec.jobId() == null || spec.jobId().isBlank()) {
      throw Errors.invalid("job_id", "", "is empty");
    }
    if (spec.nodeCount() < 1) {
      throw Errors.invalid("node_count", spec.nodeCount(), "must be at least 1");
    }
    if (spec.range() == null) {
      throw Errors.invalid("range", "", "is missing");
    }
    if (settings.ranges().stream().noneMatch(r -> r.contains(spec.range()))) {
      throw Errors.invalid("range", spec.range(), "is not inside any range site '"
          + settings.site() + "' publishes (" + settings.ranges().stream().map(Object::toString)
          .collect(Collectors.joining(", ")) + ")");
    }
    if (spec.range().usableHosts() < spec.nodeCount()) {
      throw Errors.invalid("range", spec.range(), "has " + spec.range().usableHosts()
          + " usable addresses but node_count is " + spec.nodeCount());
    }
    if (spec.start() != null && spec.end() != null && !spec.end().isAfter(spec.start())) {
      throw Errors.invalid("end", spec.end(), "is not after start " + spec.start());
    }
  }

  /**
   * Tears the job's share down and frees its hold. Idempotent: an unknown or released job is OK.
   * Blocks until every pilot was stopped.
   */
  public void release(String jobId, String reason) {
    Share share;
    synchronized (this) {
      share = shares.get(jobId);
    }
    if (share == null) {
      return;
    }
    share.release(reason == null || reason.isBlank() ? "released" : reason);
    synchronized (this) {
      if (shares.remove(jobId, share)) {
        started.remove(jobId);
        ledger.shareReleased(jobId);
      }
    }
  }

  /**
   * Puts back what a previous run of this CRM recorded; call once, before serving.
   *
   * <ul>
   *   <li>Holds: see {@link SiteReservations#recover} (a PREPARED hold still expires at its
   *       original instant, a COMMITTED one stays until released).
   *   <li>A share that was only opened (no SetupNodes yet) is bound to its reservation again, if
   *       that is still committed: the GRC's job is still waiting for its start time.
   *   <li>A share that was running (StartGuests had completed) is built again with its nodes
   *       READY and waits for its pilots: a pilot whose stream broke keeps its guest and redials
   *       with its reconnect credential, and is re-adopted. A node not back within the reconnect
   *       grace is LOST; a share the GRC did not watch again within it is released.
   *   <li>A share that was started but not running is forgotten: the phase the GRC was driving
   *       failed with the old process, so the GRC fails the job; its pilots, if they redial, are
   *       refused and tear their guests down. Its reservation stays committed until the GRC
   *       releases it.
   * </ul>
   *
   * @return the job ids whose shares are bound again or wait for their pilots
   */
  public List<String> recover() {
    reservations.recover(clock.instant());
    startSweeper();
    List<String> kept = new ArrayList<>();
    for (SiteLedger.BoundShare r : ledger.loadShares()) {
      String id = r.jobId();
      if (r.started() && r.running() == null) {
        log.warn("job {}: the CRM restarted while its guests were being set up; the share is"
            + " forgotten (the GRC fails the job, its pilots are refused)", id);
        ledger.shareReleased(id);
        continue;
      }
      SiteReservations.Held h;
      try {
        h = reservations.committed(r.reservationId());
      } catch (RequestException e) {
        log.info("job {}: its reservation is gone after the restart ({}); the share is dropped",
            id, e.getMessage());
        ledger.shareReleased(id);
        continue;
      }
      ShareSpec spec = new ShareSpec(id, h.nodes(), h.range(), h.window().start(),
          h.window().end(), r.user(), r.reservationId());
      if (r.running() != null) {
        Share share = new Share(spec, this, r.running());
        synchronized (this) {
          shares.put(id, share);
          started.add(id);
        }
        Duration grace = settings.reconnectGrace();
        atGraceEnd(share, clock.instant().plus(grace));
        log.info("job {}: its guests were running; waiting up to {} for its {} pilot(s) to"
            + " redial", id, grace, spec.nodeCount());
      } else {
        synchronized (this) {
          shares.put(id, new Share(spec, this));
        }
      }
      kept.add(id);
    }
    if (!kept.isEmpty()) {
      log.info("restart: the shares of {} job(s) are bound again: {}", kept.size(), kept);
    }
    return kept;
  }

  /** How often the batch reservations of ended holds are looked for (with a batch system). */
  static final Duration SWEEP_INTERVAL = Duration.ofSeconds(10);

  /**
   * With a batch system: every {@link #SWEEP_INTERVAL}, expires due holds and deletes the batch
   * reservations of ended ones (a delete that failed is tried again; an expiry is not left
   * waiting for the next call). Once; stopped by {@link #close}.
   */
  private synchronized void startSweeper() {
    if (batch == BatchReservations.NONE || sweeper != null || executor.isShutdown()) {
      return;
    }
    sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "crm-" + settings.site() + "-batch-sweep");
      t.setDaemon(true);
      return t;
    });
    reservations.deleteIn(sweeper); // ended holds' deletes: not on the RPC threads
    sweeper.scheduleWithFixedDelay(() -> {
      try {
        reservations.sweepBatch();
      } catch (RuntimeException e) {
        log.warn("sweeping batch reservations: {}", e.toString());
      }
    }, SWEEP_INTERVAL.toMillis(), SWEEP_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * Calls {@link Share#reconnectGraceEnded} on a worker thread once the clock reaches
   * {@code end}, looking at the clock every {@value #GRACE_POLL_MILLIS} ms at most (so a clock
   * that jumps is noticed too). Stops looking once the share is gone or this core is closed.
   */
  private void atGraceEnd(Share share, Instant end) {
    long left = Math.max(0, Duration.between(clock.instant(), end).toMillis());
    CompletableFuture.delayedExecutor(Math.min(left, GRACE_POLL_MILLIS), TimeUnit.MILLISECONDS,
        executor).execute(() -> {
          synchronized (this) {
            if (executor.isShutdown() || shares.get(share.spec.jobId()) != share) {
              return;
            }
          }
          if (clock.instant().isBefore(end)) {
            atGraceEnd(share, end);
          } else {
            share.reconnectGraceEnded();
          }
        });
  }

  /** PHASE_LAUNCH + PHASE_SETUP; see SiteService.SetupNodes. */
  public List<NodeEntry> setupNodes(String jobId, SetupParams params) {
    Share s = share(jobId);
    ledger.shareStarted(jobId); // from here on pilots may exist: a restart cannot continue them
    synchronized (this) {
      started.add(jobId);
    }
    return s.setupNodes(params);
  }

  /** PHASE_KEYS; see SiteService.CollectKeys. */
  public List<NodeKeys> collectKeys(String jobId, Duration timeout) {
    return share(jobId).collectKeys(timeout);
  }

  /** PHASE_SET_KEYS; see SiteService.InstallTrust. */
  public void installTrust(String jobId, TrustBundle bundle, Duration timeout) {
    share(jobId).installTrust(bundle, timeout);
  }

  /** PHASE_RUN; see SiteService.StartGuests. */
  public void startGuests(String jobId, Duration timeout) {
    share(jobId).startGuests(timeout);
  }

  /** PHASE_EXEC; see SiteService.ExecCommand. */
  public void execCommand(String jobId, String hostname, ExecSpec exec) {
    if (exec.getArgvCount() == 0) {
      throw Errors.invalid("exec.argv", "[]", "is empty");
    }
    share(jobId).execCommand(hostname, exec);
  }

  /**
   * Subscribes to the share's events, output and exit; history first. Returns a handle that
   * unsubscribes. NOT_FOUND for an unknown job.
   */
  public Runnable watch(String jobId, ShareWatcher watcher) {
    return share(jobId).watch(watcher);
  }

  /** Nodes held by live shares now (whatever their windows). */
  public synchronized int nodesInUse() {
    return shares.values().stream().mapToInt(Share::nodeCount).sum();
  }

  /** Nodes of the live shares, by state (metrics). */
  public Map<NodeState, Integer> nodesByState() {
    List<Share> live;
    synchronized (this) {
      live = List.copyOf(shares.values());
    }
    Map<NodeState, Integer> out = new java.util.EnumMap<>(NodeState.class);
    live.forEach(s -> s.countNodes(out));
    return out;
  }

  /** Shares open now (metrics). */
  public synchronized int shareCount() {
    return shares.size();
  }

  public String siteName() {
    return settings.site();
  }

  public synchronized List<String> jobIds() {
    return List.copyOf(shares.keySet());
  }

  @Override
  public PilotListener accept(PilotHello hello, PilotSession session) {
    Share share;
    synchronized (this) {
      share = shares.get(hello.getJobId());
    }
    if (share == null) {
      throw PilotAdmission.refused(noShare(hello.getJobId()));
    }
    return share.accept(hello, session);
  }

  /**
   * Stops the site core for good or for a restart. Without a durable ledger every share is
   * released (its pilots and guests torn down). With one, a CRM stopped cleanly and started
   * again continues where it was: shares that were only reserved stay recorded, running shares
   * (every guest started) are suspended ({@link Share#suspend}: their pilots keep the guests and
   * redial, the GRC waits), and shares still being set up are released. Releases run in
   * parallel; then the worker threads stop.
   */
  @Override
  public void close() {
    List<String> candidates;
    synchronized (this) {
      candidates = ledger == SiteLedger.NONE ? List.copyOf(shares.keySet())
          : List.copyOf(started);
    }
    List<String> ids = new ArrayList<>();
    String why = "the CRM of site '" + settings.site() + "' is stopping; a running job continues"
        + " when it is back";
    for (String id : candidates) {
      Share s;
      synchronized (this) {
        s = shares.get(id);
      }
      if (s == null || ledger == SiteLedger.NONE || !s.suspend(why)) {
        ids.add(id);
      }
    }
    List<Future<?>> done = new ArrayList<>();
    for (String id : ids) {
      done.add(executor.submit(() -> release(id, "the CRM of site '" + settings.site()
          + "' is shutting down")));
    }
    for (Future<?> f : done) {
      try {
        f.get();
      } catch (Exception e) {
        log.warn("releasing a share on shutdown failed: {}", e.toString());
      }
    }
    executor.shutdown();
    var sw = sweeper;
    if (sw != null) {
      sw.shutdown(); // the deletes the releases queued still run (a bounded while)
      try {
        if (!sw.awaitTermination(SiteReservations.DELETE_TIME.toMillis() + 1000,
            TimeUnit.MILLISECONDS)) {
          log.warn("batch reservation deletes still under way at shutdown; the next start's"
              + " sweep deletes what is left");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      sw.shutdownNow();
    }
  }

  private Share share(String jobId) {
    synchronized (this) {
      Share s = shares.get(jobId);
      if (s == null) {
        throw Errors.notFound(noShare(jobId));
      }
      return s;
    }
  }

  private String noShare(String jobId) {
    return "job '" + jobId + "' holds no share on site '" + settings.site() + "'";
  }

  // For Share.
  SiteSettings settings() {
    return settings;
  }

  SiteLedger ledger() {
    return ledger;
  }

  String incarnation() {
    return incarnation;
  }

  PilotStarter starter() {
    return starter;
  }

  /** The batch system reservation the pilots of {@code reservationId} run in, or null. */
  String batchReservation(String reservationId) {
    return reservations.batchName(reservationId);
  }

  Endpoint pilotEndpoint() {
    return pilotEndpoint.get();
  }

  Clock clock() {
    return clock;
  }

  ExecutorService executor() {
    return executor;
  }

  Duration timeoutOr(Duration requested) {
    return requested == null || requested.isZero() || requested.isNegative()
        ? settings.phaseTimeout() : requested;
  }
}
