package org.lambdagrid.grc;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.grc.job.JobCoordinator;
import org.lambdagrid.grc.job.JobRecord;
import org.lambdagrid.grc.reservation.ReservationService;
import org.lambdagrid.grc.site.AddressAllocator;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.support.CallErrors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a GRC does with its recorded state when it starts again after a crash or a stop.
 *
 * <ol>
 *   <li>Sites and address leases (keyed by reservation id) are put back as recorded (no
 *       re-registration needed; a lease is never handed out twice).
 *   <li>Committed reservations are put back ({@link ReservationService#recover}: calendars,
 *       timers, commit sent again; ended ones released).
 *   <li>A job that was not finished cannot continue: its runner, timers and share streams died
 *       with the old process. It is ended FAILED with the event "the GRC restarted during phase
 *       X" (PENDING jobs: "before it started"), which is written before the GRC serves
 *       ({@link JobCoordinator#failUnfinishedAfterRestart}). Its shares are <em>drained</em>:
 *       ReleaseShare on every site it used (idempotent at the CRMs).
 *   <li>A lease that belongs to no live recorded reservation (the GRC died during the two-phase
 *       commit, before the reservation was recorded, or while ending one) is drained too:
 *       Release of the reservation id at every site of the lease (a PREPARED hold is aborted, a
 *       COMMITTED one released, an unknown id is a no-op) and at the network manager. Only when
 *       every site confirmed is the lease freed, so a range is not leased again while a CRM may
 *       still hold it. Sites that cannot be reached are retried with backoff until they answer
 *       (their prepared holds expire by themselves meanwhile).
 * </ol>
 *
 * <p>Finished jobs keep their records, events and output. The same draining serves a running
 * GRC ({@link #drainLater}): a reservation that ended while a site could not confirm its
 * release keeps its lease until the site does. Thread-safe.
 */
public final class GrcRecovery implements AutoCloseable, ReservationService.Drainer {
  private static final Logger log = LoggerFactory.getLogger(GrcRecovery.class);
  private static final Duration FIRST_RETRY = Duration.ofSeconds(2);
  private static final Duration MAX_RETRY = Duration.ofSeconds(60);

  private final SiteRegistry registry;
  private final AddressAllocator allocator;
  private final SiteClients clients;
  private final ReservationService reservations;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService workers;
  private final Duration callTimeout;
  /**
   * job id (j-...) or reservation id (r-...) -> sites whose ReleaseShare (job) or Release
   * (reservation) has not been confirmed yet.
   */
  private final Map<String, Set<String>> draining = new ConcurrentHashMap<>();
  /** Ids drained for a running GRC (not a restart): their Release says so. */
  private final Set<String> endedWhileAway = ConcurrentHashMap.newKeySet();
  /** Whether a retry round is scheduled (one loop at a time). */
  private final java.util.concurrent.atomic.AtomicBoolean looping =
      new java.util.concurrent.atomic.AtomicBoolean();
  private volatile boolean closed;

  GrcRecovery(SiteRegistry registry, AddressAllocator allocator, SiteClients clients,
      ReservationService reservations, ScheduledExecutorService scheduler,
      ExecutorService workers, Duration callTimeout) {
    this.registry = registry;
    this.allocator = allocator;
    this.clients = clients;
    this.reservations = reservations;
    this.scheduler = scheduler;
    this.workers = workers;
    this.callTimeout = callTimeout;
  }

  /**
   * Restores sites and leases, fails unfinished jobs and starts draining; makes one bounded
   * drain attempt before returning (so with reachable CRMs nothing stale is left when the GRC
   * starts serving), then keeps retrying in the background.
   *
   * @return the ids of the jobs it failed
   */
  List<String> recover(GrcState state, JobCoordinator jobs, Duration firstAttempt) {
    state.loadSites().forEach(registry::restore);
    Map<String, Map<String, Ipv4Cidr>> leases = state.loadLeases();
    leases.forEach(allocator::restore);
    Set<String> live = reservations.recover();
    List<String> failed = new ArrayList<>();
    for (JobRecord job : jobs.failUnfinishedAfterRestart()) {
      failed.add(job.id());
      drain(job.id(), job.siteRanges().keySet());
    }
    for (Map.Entry<String, Map<String, Ipv4Cidr>> e : leases.entrySet()) {
      if (!live.contains(e.getKey())) {
        // Caught in the two-phase commit (never recorded), or an ending cut short.
        reservations.network().release(e.getKey());
        drain(e.getKey(), e.getValue().keySet());
      }
    }
    if (!failed.isEmpty() || !draining.isEmpty()) {
      log.info("restart: failed {} unfinished job(s) {}; releasing {} job(s) and unrecorded"
          + " reservation(s): {}", failed.size(), failed, draining.size(), draining.keySet());
    }
    attempt(firstAttempt);
    if (!draining.isEmpty()) {
      startLoop();
    }
    return failed;
  }

  @Override
  public void drainLater(String reservationId, Set<String> sites) {
    endedWhileAway.add(reservationId);
    drain(reservationId, sites);
    startLoop();
  }

  private void drain(String jobId, Set<String> sites) {
    Set<String> left = ConcurrentHashMap.newKeySet();
    left.addAll(new TreeSet<>(sites));
    draining.put(jobId, left);
  }

  private void startLoop() {
    if (looping.compareAndSet(false, true)) {
      schedule(FIRST_RETRY);
    }
  }

  /** Job and reservation ids not released everywhere yet (for tests and status). */
  public Set<String> draining() {
    return Set.copyOf(draining.keySet());
  }

  /** One round: ReleaseShare for every unconfirmed (job, site), in parallel, bounded. */
  private void attempt(Duration bound) {
    List<Future<?>> calls = new ArrayList<>();
    Map<String, Set<String>> snapshot = new HashMap<>(draining);
    for (Map.Entry<String, Set<String>> e : snapshot.entrySet()) {
      for (String site : List.copyOf(e.getValue())) {
        calls.add(workers.submit(() -> releaseAt(e.getKey(), site)));
      }
    }
    long deadline = System.nanoTime() + bound.toNanos();
    for (Future<?> f : calls) {
      try {
        f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (Exception e) {
        // still running or failed: the next round retries
      }
    }
  }

  private void releaseAt(String jobId, String site) {
    Set<String> left = draining.get(jobId);
    if (left == null) {
      return;
    }
    boolean reservation = jobId.startsWith("r-");
    var s = registry.get(site);
    if (s.isPresent()) {
      try {
        if (reservation) {
          clients.forSite(site).release(jobId, endedWhileAway.contains(jobId)
              ? "reservation " + jobId + " ended while this site could not be reached; it is"
                  + " released now"
              : "the GRC restarted while reservation " + jobId
                  + " was being made or ended; it is released");
        } else {
          clients.forSite(site).releaseShare(jobId, "the GRC restarted; job " + jobId
              + " cannot continue");
        }
      } catch (RuntimeException e) {
        log.warn("restart: {} of {} on site '{}' failed (will retry): {}",
            reservation ? "Release" : "ReleaseShare", jobId, site, CallErrors.describe(e));
        return;
      }
    } else {
      log.warn("restart: site '{}' of job {} is no longer registered; nothing to release",
          site, jobId);
    }
    left.remove(site);
    if (left.isEmpty() && draining.remove(jobId) != null) {
      allocator.release(jobId);
      endedWhileAway.remove(jobId);
      log.info("{} released on every site{}", jobId, reservation
          ? "; its leases are free" : "");
    }
  }

  private void schedule(Duration delay) {
    if (closed) {
      looping.set(false);
      return;
    }
    scheduler.schedule(() -> workers.execute(() -> {
      attempt(callTimeout);
      if (!draining.isEmpty()) {
        Duration next = delay.multipliedBy(2);
        schedule(next.compareTo(MAX_RETRY) > 0 ? MAX_RETRY : next);
        return;
      }
      looping.set(false);
      if (!draining.isEmpty()) {
        startLoop(); // added between the check and the flag
      }
    }), delay.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public void close() {
    closed = true;
  }
}
