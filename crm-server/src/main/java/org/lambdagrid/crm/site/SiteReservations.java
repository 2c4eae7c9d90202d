package org.lambdagrid.crm.site;

import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.Calendar;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Vote;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This site's side of the GRC's two-phase commit: every reservation's nodes (one node
 * {@link Calendar} with the site's capacity) and address sub-range, behind a {@link HoldTable}
 * for the states (PREPARED, COMMITTED, ABORTED, EXPIRED, RELEASED), the hold expiry and the
 * idempotency of every message (see HoldTable's diagram and docs/reservations.md).
 *
 * <p>A prepare is refused (nothing held) when the window lacks free nodes, when the sub-range is
 * not inside the site's pools or is too small, or when it overlaps the sub-range of another
 * live reservation in an overlapping window. Shares of jobs are bound to committed reservations
 * by {@link SiteShares#openShare}; this class knows nothing of jobs.
 *
 * <p>With a batch system ({@link BatchReservations}, e.g. Slurm), a prepare that fits the
 * calendar also reserves the window there, and a refusal there is this site's "no" with the
 * batch system's reason. The batch reservation lives as long as the hold: commit keeps it;
 * abort, expiry and release delete it (freeing the hold frees it). Its name is recorded in the
 * ledger before the batch system is asked and forgotten once it is deleted, so a delete that
 * failed (jobs still in it, the batch system away) and a CRM killed between creating it and
 * recording the hold are both cleaned up: {@link #sweepBatch} (at {@link #recover} and then
 * periodically) deletes every recorded batch reservation whose hold is not live.
 *
 * <p>Thread-safe: every method locks this object, then the hold table (the only lock order).
 * The batch system is called with this lock held (each call has a timeout), so a prepare and
 * the sweep never interleave. Durable with a {@link SiteLedger}: every change is recorded before
 * it is applied (the hold table's {@link HoldTable.Journal}), and {@link #recover} puts the
 * holds back after a restart: a PREPARED hold still expires at its original instant, a
 * COMMITTED one stays until released.
 */
public final class SiteReservations {
  private static final Logger log = LoggerFactory.getLogger(SiteReservations.class);

  /** What one reservation holds here. */
  public record Held(String id, Window window, int nodes, Ipv4Cidr range, String user) {}

  private final SiteSettings settings;
  private final Calendar calendar;
  private final HoldTable table;
  private final Map<String, Held> held = new HashMap<>(); // live (prepared or committed)
  private Held preparing; // the prepare in progress, read by the table's Resource

  private final SiteLedger ledger;
  private final BatchReservations batch;
  /** Batch reservations recorded in the ledger and not deleted yet: reservation id to name. */
  private final Map<String, String> batchNames = new java.util.TreeMap<>();

  public SiteReservations(SiteSettings settings, Clock clock, Duration holdTime) {
    this(settings, clock, holdTime, SiteLedger.NONE);
  }

  public SiteReservations(SiteSettings settings, Clock clock, Duration holdTime,
      SiteLedger ledger) {
    this(settings, clock, holdTime, ledger, BatchReservations.NONE);
  }

  /** @param batch the site's batch system reservations ({@link BatchReservations#NONE}: none) */
  public SiteReservations(SiteSettings settings, Clock clock, Duration holdTime,
      SiteLedger ledger, BatchReservations batch) {
    this.settings = settings;
    this.ledger = ledger;
    this.batch = batch;
    this.calendar = new Calendar("site '" + settings.site() + "'", settings.nodeCapacity());
    this.table = new HoldTable("site:" + settings.site(), clock, holdTime, new HoldTable.Resource() {
      @Override
      public void hold(String id, Window window, Ask ask) {
        hold0(preparing);
      }

      @Override
      public void free(String id) {
        calendar.remove(id);
        held.remove(id);
        deleteBatch(id);
      }
    });
    this.table.journal(new HoldTable.Journal() {
      @Override
      public void prepared(String id, Window window, Ask ask, java.time.Instant expiresAt) {
        ledger.holdPrepared(preparing, expiresAt);
      }

      @Override
      public void changed(String id, HoldTable.State state, java.time.Instant endedAt) {
        ledger.holdChanged(id, state, endedAt);
      }
    });
  }

  /**
   * Puts back the recorded holds (call once, before serving): live ones hold their nodes and
   * sub-range again without re-checking (they were granted), tombstones refuse late prepares;
   * PREPARED holds whose instant passed while the CRM was down expire now.
   *
   * @return ids of the holds that are live after the restart
   */
  public synchronized java.util.List<String> recover(java.time.Instant now) {
    ledger.forgetHoldsEndedBefore(now.minus(table.retention()));
    batchNames.putAll(ledger.loadBatchReservations()); // before expiries: they delete
    for (SiteLedger.Hold h : ledger.loadHolds()) {
      Held x = h.held();
      Ask ask = x == null ? null : new Ask.Nodes(settings.site(), x.nodes());
      table.restore(h.id(), h.state(), x == null ? null : x.window(), ask, h.expiresAt(),
          h.endedAt());
      if (h.state() == HoldTable.State.PREPARED || h.state() == HoldTable.State.COMMITTED) {
        calendar.add(x.id(), x.window().startMillis(), x.window().endMillis(), x.nodes());
        held.put(x.id(), x);
      }
    }
    int expired = table.expireDue();
    if (expired > 0) {
      log.info("restart: {} prepared hold(s) expired while the CRM was down", expired);
    }
    java.util.Set<String> orphans = new java.util.TreeSet<>(batchNames.keySet());
    orphans.removeAll(held.keySet());
    int left = sweepBatch();
    orphans.removeIf(batchNames::containsKey);
    if (!orphans.isEmpty()) {
      log.info("restart: deleted the batch system reservations of {} hold(s) that are not"
          + " live (ended, or never recorded): {}", orphans.size(), orphans);
    }
    if (left > 0) {
      log.warn("restart: {} batch system reservation(s) of ended holds could not be deleted"
          + " yet; trying again", left);
    }
    return java.util.List.copyOf(new java.util.TreeSet<>(held.keySet()));
  }

  /**
   * Expires what is due, then deletes every recorded batch reservation whose hold is not live
   * (PREPARED or COMMITTED): one a failed delete left, or one a CRM killed between creating it
   * and recording its hold made. Idempotent; call it periodically.
   *
   * @return how many recorded batch reservations of ended holds are still there
   */
  public synchronized int sweepBatch() {
    table.expireDue();
    int left = 0;
    for (String id : java.util.List.copyOf(batchNames.keySet())) {
      if (!held.containsKey(id)) {
        deleteBatch(id);
        if (batchNames.containsKey(id)) {
          left++;
        }
      }
    }
    return left;
  }

  /**
   * The batch system reservation the pilots of the live reservation {@code id} must run in, or
   * null when it has none (no batch system, or a hold made before it had one).
   */
  public synchronized String batchName(String id) {
    return held.containsKey(id) ? batchNames.get(id) : null;
  }

  /** Batch reservations recorded and not deleted yet: reservation id to name (tests, checks). */
  public synchronized Map<String, String> batchReservations() {
    return Map.copyOf(batchNames);
  }

  /**
   * The node count to register with the GRC: {@code node_capacity}, or less when the batch
   * system has fewer usable nodes ({@link BatchReservations#capacity}), but never less than the
   * most nodes the live holds need from {@code now} on (the GRC refuses a capacity below what
   * its reservations hold) and never less than 1.
   */
  public int registrableCapacity(java.time.Instant now) {
    int fromBatch = batch.capacity(); // outside the lock: it may ask the batch system
    synchronized (this) {
      int cap = settings.nodeCapacity();
      if (fromBatch >= 0 && fromBatch < cap) {
        long held = calendar.maxUsage(now.toEpochMilli(), Long.MAX_VALUE);
        cap = (int) Math.max(Math.max(fromBatch, held), 1);
      }
      return cap;
    }
  }

  /**
   * How many holds entered each state since this CRM started ({@link HoldTable#outcomes}).
   * Under this object's lock: expiring a hold frees calendar entries this lock guards.
   */
  public synchronized Map<HoldTable.State, Long> holdOutcomes() {
    return table.outcomes();
  }

  /** Every known hold id and its state (tests, crash checks). */
  public synchronized Map<String, HoldTable.State> snapshot() {
    return table.snapshot();
  }

  /**
   * Phase one. Returns normally when the hold is (or already was) PREPARED or COMMITTED with the
   * same arguments.
   *
   * @throws Errors.RequestException INVALID_ARGUMENT for bad input, FAILED_PRECONDITION when it
   *     does not fit or the site's accounts give {@code user} no local account
   *     ({@link SiteAccounts#localAccount}), ALREADY_EXISTS when the id holds something else,
   *     ABORTED when the id ended
   */
  public synchronized void prepare(String id, Window window, int nodes, Ipv4Cidr range, String user) {
    if (id == null || id.isBlank()) {
      throw Errors.invalid("reservation_id", "", "is empty");
    }
    Held existing = held.get(id);
    if (existing == null && user != null && !user.isEmpty()) {
      // The site refuses a user it would not run now, not when the window starts.
      settings.accounts().localAccount(user);
    }
    if (existing != null && !existing.range().equals(range)) {
      throw Errors.alreadyExists("site '" + settings.site() + "': reservation " + id
          + " already holds range " + existing.range() + "; refusing " + range);
    }
    preparing = new Held(id, window, nodes, range, user == null ? "" : user);
    Vote v;
    try {
      v = table.prepare(id, window, new Ask.Nodes(settings.site(), nodes));
    } finally {
      preparing = null;
    }
    if (!v.isPrepared()) {
      throw new Errors.RequestException(v.code(), v.reason());
    }
  }

  private void hold0(Held h) {
    String site = settings.site();
    if (h.nodes() < 1) {
      throw Errors.invalid("node_count", h.nodes(), "must be at least 1");
    }
    if (h.nodes() > calendar.capacity()) {
      throw Errors.invalid("node_count", h.nodes(), "is more nodes than site '" + site
          + "' has (" + calendar.capacity() + ")");
    }
    if (settings.ranges().stream().noneMatch(r -> r.contains(h.range()))) {
      throw Errors.invalid("range", h.range(), "is not inside any range site '" + site
          + "' publishes (" + settings.ranges().stream().map(Object::toString)
          .collect(Collectors.joining(", ")) + ")");
    }
    if (h.range().usableHosts() < h.nodes()) {
      throw Errors.invalid("range", h.range(), "has " + h.range().usableHosts()
          + " usable addresses but node_count is " + h.nodes());
    }
    for (Held o : held.values()) {
      if (o.window().overlaps(h.window()) && o.range().overlaps(h.range())) {
        throw Errors.precondition("range: '" + h.range() + "' overlaps range " + o.range()
            + " that reservation " + o.id() + " holds on site '" + site + "' in " + o.window());
      }
    }
    long free = calendar.free(h.window().startMillis(), h.window().endMillis());
    if (free < h.nodes()) {
      throw Errors.precondition("site '" + site + "' has " + free + " of " + calendar.capacity()
          + " nodes free in " + h.window() + "; " + h.nodes() + " asked");
    }
    calendar.add(h.id(), h.window().startMillis(), h.window().endMillis(), h.nodes());
    held.put(h.id(), h);
    try {
      reserveInBatch(h);
    } catch (RuntimeException e) {
      calendar.remove(h.id());
      held.remove(h.id());
      throw e;
    }
  }

  /**
   * Reserves the window in the batch system (after the calendar said yes): records the name,
   * then creates. A refusal is the site's "no" with the batch system's reason; nothing stays
   * behind but, when the batch system did not answer, the record, which {@link #sweepBatch}
   * then deletes by name.
   */
  private void reserveInBatch(Held h) {
    String name = batch.name(h.id());
    if (name == null) {
      return;
    }
    if (batchNames.containsKey(h.id())) {
      deleteBatch(h.id()); // ours, of an earlier attempt at this id that never became a hold
      if (batchNames.containsKey(h.id())) {
        throw Errors.unavailable("the batch system reservation " + name + " of an earlier"
            + " attempt at reservation " + h.id() + " is not deleted yet; try again later");
      }
    }
    try {
      ledger.batchReserving(h.id(), name);
    } catch (RuntimeException e) {
      throw Errors.unavailable("the batch system reservation " + name + " for reservation "
          + h.id() + " could not be recorded: " + e.getMessage());
    }
    batchNames.put(h.id(), name);
    try {
      // For the local account the pilots will run as (crm.yaml accounts:).
      String account = h.user().isEmpty() ? "" : settings.accounts().localAccount(h.user());
      batch.create(new BatchReservations.Spec(h.id(), h.window().start(), h.window().end(),
          h.nodes(), account));
    } catch (Errors.RequestException e) {
      if (e.code() == io.grpc.Status.Code.UNAVAILABLE) {
        deleteBatch(h.id()); // it may exist; if this fails too, the sweep retries
      } else {
        // Nothing was made. An existing reservation of that name is someone else's: forget
        // the name even if the ledger cannot, so the sweep never deletes it (if the ledger
        // write fails, a restart's sweep would: logged).
        batchNames.remove(h.id());
        forgetBatch(h.id(), name);
      }
      throw e;
    }
  }

  /** Deletes the batch reservation recorded for {@code id}, if any; keeps it if that fails. */
  private void deleteBatch(String id) {
    String name = batchNames.get(id);
    if (name == null) {
      return;
    }
    try {
      batch.delete(name);
    } catch (BatchReservations.BatchReservationException e) {
      log.warn("reservation {}: {}; trying again later", id, e.getMessage());
      return;
    }
    if (forgetBatch(id, name)) {
      batchNames.remove(id);
    }
  }

  private boolean forgetBatch(String id, String name) {
    try {
      ledger.batchGone(id);
      return true;
    } catch (RuntimeException e) {
      log.error("reservation {}: cannot record that batch reservation {} is gone: {}", id, name,
          e.toString());
      return false;
    }
  }

  /** Phase two, success. See {@link HoldTable#commit}. */
  public synchronized void commit(String id) {
    table.commit(id);
  }

  /** Phase two, failure. See {@link HoldTable#abort}. */
  public synchronized void abort(String id) {
    table.abort(id);
  }

  /** Frees the hold (committed or prepared). Idempotent. */
  public synchronized void release(String id) {
    table.release(id);
  }

  /**
   * The committed reservation {@code id}: NOT_FOUND if this site never saw it,
   * FAILED_PRECONDITION if it is not (or no longer) committed.
   */
  public synchronized Held committed(String id) {
    Optional<HoldTable.State> st = table.state(id);
    if (st.isEmpty()) {
      throw Errors.notFound("site '" + settings.site() + "' holds no reservation '" + id + "'");
    }
    if (st.get() != HoldTable.State.COMMITTED) {
      throw Errors.precondition("reservation " + id + " is " + st.get() + " on site '"
          + settings.site() + "', not COMMITTED");
    }
    return held.get(id);
  }

  /** The state of {@code id} here; empty if never seen (or forgotten after the retention). */
  public synchronized Optional<HoldTable.State> state(String id) {
    return table.state(id);
  }

  /** Nodes held by live reservations at the instant (for tests and listings). */
  public synchronized long nodesHeldAt(java.time.Instant t) {
    table.expireDue();
    return calendar.usageAt(t.toEpochMilli());
  }
}
