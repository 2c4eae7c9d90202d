package org.lambdagrid.crm.site;

import io.grpc.Deadline;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
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
 * ledger after the batch system said it has none of that name and before it is asked to create
 * it, and forgotten once it is deleted, so a delete that failed (jobs still in it, the batch
 * system away), a create that did not answer (it may make the reservation later: the name is
 * then in doubt for {@link #IN_DOUBT} and looked up by name) and a CRM killed between creating
 * it and recording the hold are all cleaned up: {@link #sweepBatch} (at {@link #recover} and
 * then periodically) deletes every recorded batch reservation whose hold is not live. Only
 * recorded names are ever deleted, a name is recorded only for the hold it was made for, with
 * what was asked for under it ({@link BatchReservations#asked}), and it is deleted only if the
 * batch system shows that window and those users; else it is someone else's (made under the
 * name while a create did not answer): left alone and forgotten, with a warning. A name an
 * older CRM recorded without what it asked for is deleted by name, as that CRM did.
 *
 * <p>Thread-safe: every method locks this object, then the hold table (the only lock order).
 * The batch system is never called with the lock held: a prepare takes the nodes in the
 * calendar under the lock (marked in flight, so no other call creates or deletes under its
 * name), asks the batch system without it, and records the hold, or gives the nodes back, under
 * it again; a hold's end queues its delete, which runs after the ending call let go of the
 * lock, on the sweep's thread ({@link #deleteIn}; a failed prepare deletes only its own, within
 * its caller's time). So a slow batch system delays the one prepare that waits for it, not the
 * site, and no abort, commit or release waits for a delete. Durable
 * with a {@link SiteLedger}: every change is recorded before
 * it is applied (the hold table's {@link HoldTable.Journal}), and {@link #recover} puts the
 * holds back after a restart: a PREPARED hold still expires at its original instant, a
 * COMMITTED one stays until released.
 */
public final class SiteReservations {
  private static final Logger log = LoggerFactory.getLogger(SiteReservations.class);

  /**
   * How long a prepare may ask the batch system when its caller set no deadline: below the
   * GRC's default {@code rpc_timeout} (10 s).
   */
  public static final Duration DEFAULT_ANSWER_TIME = Duration.ofSeconds(8);
  /** Kept from a caller's deadline for recording the hold and answering. */
  public static final Duration ANSWER_MARGIN = Duration.ofSeconds(1);
  /** How long abort, release and commit wait for a batch reservation's delete (then: sweep). */
  static final Duration DELETE_TIME = Duration.ofSeconds(5);
  /** How long the sweep waits for one batch system call. */
  static final Duration SWEEP_CALL = Duration.ofSeconds(10);
  /**
   * How long {@link #recover} may sweep in all before the CRM serves (what is left is the
   * periodic sweep's): a batch system that is slow or away delays startup by this much at most.
   */
  static final Duration STARTUP_SWEEP = Duration.ofSeconds(3);
  /**
   * How long a create that did not answer stays in doubt: the batch system may still make the
   * reservation after the CRM gave up (slurmctld works through a request whose scontrol was
   * killed), so for this long the sweep keeps looking it up by name, deleting it if it is there.
   */
  public static final Duration IN_DOUBT = Duration.ofMinutes(2);

  /**
   * When a prepare called with {@code callerDeadline} (a gRPC call's, or null for none) must
   * have its batch system's answer: {@link #ANSWER_MARGIN} before it, else
   * {@link #DEFAULT_ANSWER_TIME} from now.
   */
  public static Deadline answerBy(Deadline callerDeadline) {
    return callerDeadline == null
        ? Deadline.after(DEFAULT_ANSWER_TIME.toMillis(), TimeUnit.MILLISECONDS)
        : callerDeadline.offset(-ANSWER_MARGIN.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * What one reservation holds here; {@code overlay}: its Prepare carried a VXLAN overlay end
   * for this (routed) site, so its Commit must build one ({@code SiteOverlay}). Recorded with
   * the hold, in the same ledger write.
   */
  public record Held(String id, Window window, int nodes, Ipv4Cidr range, String user,
      boolean overlay) {
    /** Without an overlay end. */
    public Held(String id, Window window, int nodes, Ipv4Cidr range, String user) {
      this(id, window, nodes, range, user, false);
    }
  }

  private final SiteSettings settings;
  private final Calendar calendar;
  private final HoldTable table;
  private final Map<String, Held> held = new HashMap<>(); // live (prepared or committed)
  private Held preparing; // the prepare in progress, read by the table's Resource
  private boolean preparingHeld; // and the calendar holds it already
  /** Prepares asking the batch system now (their nodes are in the calendar and in held). */
  private final java.util.Set<String> inFlight = new java.util.HashSet<>();

  private final SiteLedger ledger;
  private final BatchReservations batch;
  /**
   * Batch reservations recorded in the ledger and not deleted yet, reservation id to what the
   * ledger holds: the name and what was asked for under it (asked null: recorded by an older
   * CRM). One map, so a name and its asked cannot be recorded or forgotten apart.
   */
  private final Map<String, SiteLedger.BatchRecord> batchRecords = new java.util.TreeMap<>();
  /** Recorded names whose create did not answer: until when the sweep looks them up by name. */
  private final Map<String, java.time.Instant> inDoubt = new HashMap<>();
  /** Ids whose batch reservation one thread is deleting now, without the lock. */
  private final java.util.Set<String> deleting = new java.util.HashSet<>();
  /** Ended holds whose batch reservations the call that ended them deletes after the lock. */
  private final java.util.Set<String> toDelete = new java.util.TreeSet<>();
  /** Where ended holds' deletes run (the sweep's thread); null: on the calling thread. */
  private volatile java.util.concurrent.Executor background;
  private final Clock clock;

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
    this.clock = clock;
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
        if (batchRecords.containsKey(id)) {
          toDelete.add(id); // by the call that freed it, once it let go of the lock
        }
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
   * PREPARED holds whose instant passed while the CRM was down expire now. Then deletes the
   * recorded batch reservations of holds that are not live ({@link #sweepBatch}), within
   * {@link #STARTUP_SWEEP} in all: what is left is the periodic sweep's. Every such name is in
   * doubt for {@link #IN_DOUBT} from {@code now} (the previous run may have died while the batch
   * system was creating it, which may still finish), so it stays recorded, and is looked up by
   * name, until then.
   *
   * @return ids of the holds that are live after the restart
   */
  public java.util.List<String> recover(java.time.Instant now) {
    java.util.Set<String> orphans;
    synchronized (this) {
      ledger.forgetHoldsEndedBefore(now.minus(table.retention()));
      // Before expiries: they delete.
      for (Map.Entry<String, SiteLedger.BatchRecord> e
          : ledger.loadBatchReservations().entrySet()) {
        batchRecords.put(e.getKey(), e.getValue());
        if (e.getValue().asked() == null) {
          log.info("restart: batch reservation {} of reservation {} was recorded without what"
              + " was asked for (window, users) by an older CRM: it is deleted by name,"
              + " unchecked", e.getValue().name(), e.getKey());
        }
      }
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
      orphans = new java.util.TreeSet<>(batchRecords.keySet());
      orphans.removeAll(held.keySet());
      // The previous run may have died (or given up) while the batch system was creating one:
      // it may still make it, so each is looked up by name until the doubt has passed.
      java.time.Instant until = now.plus(IN_DOUBT);
      for (String id : orphans) {
        inDoubt.merge(id, until, (a, b) -> a.isAfter(b) ? a : b);
      }
    }
    int left = sweepBatch(Deadline.after(STARTUP_SWEEP.toMillis(), TimeUnit.MILLISECONDS));
    synchronized (this) {
      orphans.removeIf(batchRecords::containsKey);
      if (!orphans.isEmpty()) {
        log.info("restart: deleted the batch system reservations of {} hold(s) that are not"
            + " live (ended, or never recorded): {}", orphans.size(), orphans);
      }
      if (left > 0) {
        log.info("restart: {} batch system reservation(s) of holds that are not live are in"
            + " doubt or not deleted yet; the sweep looks at them again", left);
      }
      return java.util.List.copyOf(new java.util.TreeSet<>(held.keySet()));
    }
  }

  /**
   * Expires what is due, then deletes every recorded batch reservation whose hold is not live
   * (PREPARED or COMMITTED) and that no other call is deleting: one a failed delete left, one a
   * CRM killed between creating it and recording its hold made, or one whose create did not
   * answer. Each is deleted only if the batch system shows it as asked
   * ({@link BatchReservations#deleteIfAsked}); one that differs is someone else's, left alone
   * and forgotten. A name in doubt (its create did not answer, within {@link #IN_DOUBT} of that)
   * is resolved by name: the batch system is asked whether it has it; if it does (as asked), it
   * is deleted, and either way the name stays recorded until the doubt has passed (a create the
   * batch system was still working on may make it later), then it is deleted once more and
   * forgotten. The batch system is called outside this object's lock. Idempotent; call it
   * periodically.
   *
   * @return how many recorded batch reservations of ended holds are still there (or in doubt)
   */
  public int sweepBatch() {
    return sweepBatch(null);
  }

  /**
   * {@link #sweepBatch()}, all within {@code overall} (null: none; each call still within
   * {@link #SWEEP_CALL}): the ids it has no time left for are left to the next sweep.
   */
  int sweepBatch(Deadline overall) {
    java.util.Map<String, String> claimed = new java.util.TreeMap<>();
    synchronized (this) {
      table.expireDue();
      for (Map.Entry<String, SiteLedger.BatchRecord> e : batchRecords.entrySet()) {
        if (!held.containsKey(e.getKey()) && deleting.add(e.getKey())) {
          claimed.put(e.getKey(), e.getValue().name());
        }
      }
      toDelete.clear(); // every one is claimed here or by the call deleting it now
    }
    int left = 0;
    for (Map.Entry<String, String> e : claimed.entrySet()) {
      Deadline call = Deadline.after(SWEEP_CALL.toMillis(), TimeUnit.MILLISECONDS);
      if (overall != null && overall.isExpired()) {
        synchronized (this) {
          deleting.remove(e.getKey()); // no time left: the next sweep's
        }
        left++;
        continue;
      }
      // one id's failure does not stop the others
      if (!deleteLogged(e.getKey(), e.getValue(), overall == null ? call
          : call.minimum(overall))) {
        left++;
      }
    }
    return left;
  }

  /**
   * Runs the deletes of ended holds' batch reservations on {@code executor} (the sweep's
   * thread) instead of the thread of the call that ended them, so that no RPC waits for the
   * batch system to delete something; a delete it rejects (it is shut down) stays recorded for
   * the next run's sweep. Null: on the calling thread.
   */
  public void deleteIn(java.util.concurrent.Executor executor) {
    background = executor;
  }

  /**
   * The batch system reservation the pilots of the live reservation {@code id} must run in, or
   * null when it has none (no batch system, or a hold made before it had one).
   */
  public synchronized String batchName(String id) {
    return held.containsKey(id) ? recordedName(id) : null;
  }

  /** Batch reservations recorded and not deleted yet: reservation id to name (tests, checks). */
  public synchronized Map<String, String> batchReservations() {
    Map<String, String> names = new HashMap<>();
    batchRecords.forEach((id, r) -> names.put(id, r.name()));
    return Map.copyOf(names);
  }

  /** The batch reservation name recorded for {@code id}, or null. Under the lock. */
  private String recordedName(String id) {
    SiteLedger.BatchRecord r = batchRecords.get(id);
    return r == null ? null : r.name();
  }

  /**
   * What was asked for under the name recorded for {@code id}; null when none is recorded or an
   * older CRM recorded it without. Under the lock.
   */
  private BatchReservations.Asked recordedAsked(String id) {
    SiteLedger.BatchRecord r = batchRecords.get(id);
    return r == null ? null : r.asked();
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
   * Phase one, within {@link #DEFAULT_ANSWER_TIME}. See
   * {@link #prepare(String, Window, int, Ipv4Cidr, String, Deadline)}.
   */
  public void prepare(String id, Window window, int nodes, Ipv4Cidr range, String user) {
    prepare(id, window, nodes, range, user,
        Deadline.after(DEFAULT_ANSWER_TIME.toMillis(), TimeUnit.MILLISECONDS));
  }

  /**
   * Phase one. Returns normally when the hold is (or already was) PREPARED or COMMITTED with the
   * same arguments.
   *
   * <p>With a batch system the calendar takes the nodes and sub-range under this object's lock
   * (so concurrent prepares see them taken), then the batch system is asked without the lock:
   * whether it has a reservation of the name already (then ALREADY_EXISTS, left alone), then,
   * after the name is recorded, create it. Under the lock again the hold is recorded, or, when
   * the batch system said no or an abort came meanwhile, the nodes are freed. So a slow batch
   * system delays only this prepare, never another call on the site; and every call to it ends
   * by {@code answerBy} (the caller's deadline less a margin, {@link #answerBy}).
   *
   * @param answerBy when the batch system must have answered; a prepare that needs it later is
   *     refused UNAVAILABLE
   * @throws Errors.RequestException INVALID_ARGUMENT for bad input, FAILED_PRECONDITION when it
   *     does not fit or the site's accounts give {@code user} no local account
   *     ({@link SiteAccounts#localAccount}), ALREADY_EXISTS when the id holds something else,
   *     ABORTED when the id ended (or was aborted while the batch system was asked), UNAVAILABLE
   *     when the batch system did not answer in time, a prepare of the same id is under way, or
   *     an earlier attempt's create is in doubt ({@link #IN_DOUBT}) and this one asks the batch
   *     system for something else (a retry asking the same is let through)
   */
  public void prepare(String id, Window window, int nodes, Ipv4Cidr range, String user,
      Deadline answerBy) {
    prepare(id, window, nodes, range, user, false, answerBy);
  }

  /**
   * Phase one, as {@link #prepare(String, Window, int, Ipv4Cidr, String, Deadline)};
   * {@code overlay}: the Prepare carries an overlay end for this site, recorded with the hold
   * ({@link Held#overlay}, {@link #withOverlay}). A repeated prepare of a held id is answered
   * from the hold table and keeps what the first one recorded; one asking for another range, or
   * adding or dropping the overlay end, is refused ALREADY_EXISTS.
   */
  public void prepare(String id, Window window, int nodes, Ipv4Cidr range, String user,
      boolean overlay, Deadline answerBy) {
    Held h;
    String name;
    String account;
    boolean earlier;
    BatchReservations.Asked earlierAsked;
    // The account rule may look the account's uid up (accounts.min_uid): not under the lock.
    String mapped = "";
    Errors.RequestException unmapped = null;
    if (user != null && !user.isEmpty()) {
      try {
        mapped = settings.accounts().localAccount(user);
      } catch (Errors.RequestException e) {
        unmapped = e;
      }
    }
    synchronized (this) {
      if (id == null || id.isBlank()) {
        throw Errors.invalid("reservation_id", "", "is empty");
      }
      if (inFlight.contains(id)) {
        throw Errors.unavailable("site '" + settings.site() + "': a prepare of reservation " + id
            + " is still asking the batch system; try again");
      }
      Held existing = held.get(id);
      if (existing == null && unmapped != null) {
        // The site refuses a user it would not run now, not when the window starts.
        throw unmapped;
      }
      account = mapped;
      if (existing != null && !existing.range().equals(range)) {
        throw Errors.alreadyExists("site '" + settings.site() + "': reservation " + id
            + " already holds range " + existing.range() + "; refusing " + range);
      }
      if (existing != null && existing.overlay() != overlay) {
        throw Errors.alreadyExists("site '" + settings.site() + "': reservation " + id
            + " was prepared " + (existing.overlay() ? "with" : "without") + " an overlay end;"
            + " refusing a prepare " + (overlay ? "with" : "without") + " one");
      }
      h = new Held(id, window, nodes, range, user == null ? "" : user, overlay);
      try {
        name = table.state(id).isPresent() ? null : batch.name(id);
        if (name != null) {
          check(h);
        }
      } catch (Errors.RequestException e) {
        throw owned(e);
      }
      if (name == null) {
        // Known here (answered from the table, nothing more held), or no batch system.
        record(h, false);
        return;
      }
      if (deleting.contains(id)) {
        throw Errors.unavailable("the batch system reservation " + recordedName(id)
            + " of an earlier attempt at reservation " + id + " is being deleted; try again");
      }
      calendar.add(h.id(), h.window().startMillis(), h.window().endMillis(), h.nodes());
      held.put(h.id(), h);
      inFlight.add(id);
      earlier = batchRecords.containsKey(id);
      earlierAsked = recordedAsked(id);
    }
    // Without the lock: the batch system.
    boolean recorded = false;
    try {
      if (earlier) {
        // Recorded for an earlier attempt at this id that never became a hold: ours if it is
        // what that attempt asked for.
        BatchReservations.Mismatch foreign;
        try {
          foreign = deleteRecorded(name, earlierAsked, false, answerBy);
        } catch (BatchReservations.BatchReservationException e) {
          throw Errors.unavailable("the batch system reservation " + name + " of an earlier"
              + " attempt at reservation " + id + " is not deleted yet (" + e.getMessage()
              + "); try again later");
        }
        if (foreign != null) {
          synchronized (this) {
            if (name.equals(recordedName(id))) {
              notOurs(id, name, foreign);
            }
          }
          throw Errors.alreadyExists("ReservationName: '" + name + "': the batch system has a"
              + " reservation of that name, which this CRM did not make for reservation " + id
              + " (" + foreign.field() + " is " + foreign.shown() + ", not " + foreign.asked()
              + "); it is left alone and nothing is held");
        }
      } else {
        boolean exists;
        try {
          exists = batch.exists(name, answerBy);
        } catch (BatchReservations.BatchReservationException e) {
          throw Errors.unavailable(e.getMessage()); // nothing asked of it, nothing recorded
        }
        if (exists) {
          throw Errors.alreadyExists("ReservationName: '" + name + "': the batch system already"
              + " has a reservation of that name, which this CRM did not make for reservation "
              + id + "; it is left alone and nothing is held");
        }
      }
      // For the local account the pilots will run as (crm.yaml accounts:).
      BatchReservations.Spec spec = new BatchReservations.Spec(id, window.start(),
          window.end(), nodes, account);
      BatchReservations.Asked asked = batch.asked(spec);
      synchronized (this) {
        if (table.state(id).isPresent()) { // aborted meanwhile: do not create at all
          throw new Errors.RequestException(io.grpc.Status.Code.ABORTED, "reservation " + id
              + " was aborted while it was prepared");
        }
        java.time.Instant doubtUntil = inDoubt.get(id);
        if (doubtUntil != null && clock.instant().isBefore(doubtUntil)
            && !asked.equals(recordedAsked(id))) {
          // The earlier create may still land as it asked: its record must stay what it asked
          // for, or that reservation would be taken for someone else's and left.
          throw Errors.unavailable("the batch system reservation " + name + " of an earlier"
              + " attempt at reservation " + id + " is in doubt until " + doubtUntil + " (its"
              + " create did not answer, and the batch system may still make it); a prepare"
              + " asking for another window, node count or user can be made after that");
        }
        try {
          // Before the create: a crash after it is cleaned up.
          ledger.batchReserving(id, name, asked);
        } catch (RuntimeException e) {
          throw Errors.unavailable("the batch system reservation " + name + " for reservation "
              + id + " could not be recorded: " + e.getMessage());
        }
        batchRecords.put(id, new SiteLedger.BatchRecord(name, asked));
      }
      try {
        batch.create(spec, answerBy);
      } catch (Errors.RequestException e) {
        synchronized (this) {
          if (e.code() == io.grpc.Status.Code.UNAVAILABLE) {
            // It may exist now or later: the sweep resolves it by name.
            inDoubt.put(id, clock.instant().plus(IN_DOUBT));
          } else if (!inDoubt.containsKey(id)) {
            // Nothing was made; a reservation of that name is someone else's, never deleted.
            forgetBatch(id, name);
          }
        }
        throw e;
      }
      synchronized (this) {
        inDoubt.remove(id); // made and checked
        inFlight.remove(id);
        record(h, true);
      }
      recorded = true;
    } catch (Errors.RequestException e) {
      throw owned(e);
    } finally {
      if (!recorded) { // refused, or anything else thrown (an Error too)
        synchronized (this) {
          if (inFlight.remove(id)) { // what it took; a recorded name is the sweep's to resolve
            calendar.remove(id);
            held.remove(id);
          }
        }
        // Its own batch reservation (record() queued it: an abort came while the batch system
        // worked) within its caller's time; any other queued delete is the sweep's.
        deleteOwn(id, answerBy);
      }
      deletePending(); // the rest (expiries it queued): the sweep's thread, if there is one
    }
  }

  /** {@code e} as the hold table words a refusal: "site:SITE: " first. */
  private Errors.RequestException owned(Errors.RequestException e) {
    String owner = "site:" + settings.site() + ": ";
    return e.getMessage().startsWith(owner) ? e
        : new Errors.RequestException(e.code(), owner + e.getMessage());
  }

  /**
   * Records the hold of {@code h} in the table (under this lock), which answers a known id
   * itself; {@code alreadyHeld}: the calendar holds it already (a prepare that asked the batch
   * system), so the table's {@link HoldTable.Resource#hold} only takes it over.
   */
  private void record(Held h, boolean alreadyHeld) {
    preparing = h;
    preparingHeld = alreadyHeld;
    Vote v;
    try {
      v = table.prepare(h.id(), h.window(), new Ask.Nodes(settings.site(), h.nodes()));
    } finally {
      preparing = null;
      preparingHeld = false;
    }
    if (!v.isPrepared()) {
      if (alreadyHeld && held.get(h.id()) == h) { // e.g. aborted while the batch system worked
        calendar.remove(h.id());
        held.remove(h.id());
        toDelete.add(h.id());
      }
      throw new Errors.RequestException(v.code(), v.reason());
    }
  }

  /** Refuses {@code h} unless its nodes and sub-range fit (nothing is changed). */
  private void check(Held h) {
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
  }

  /** The table's {@link HoldTable.Resource#hold}: checks and takes the nodes (under the lock). */
  private void hold0(Held h) {
    if (preparingHeld) {
      return; // the prepare took them before asking the batch system
    }
    check(h);
    calendar.add(h.id(), h.window().startMillis(), h.window().endMillis(), h.nodes());
    held.put(h.id(), h);
  }

  /**
   * Deletes the batch reservations of ended holds (freed under the lock, {@link #toDelete}),
   * without the lock and all within {@link #DELETE_TIME}: on the {@link #deleteIn} executor
   * when there is one (the caller does not wait), else on this thread. One that fails, runs out
   * of time or is in doubt stays recorded for {@link #sweepBatch}.
   */
  private void deletePending() {
    java.util.concurrent.Executor ex = background;
    if (ex != null) {
      synchronized (this) {
        if (toDelete.isEmpty()) {
          return;
        }
      }
      try {
        ex.execute(this::deleteQueued);
        return;
      } catch (java.util.concurrent.RejectedExecutionException e) {
        return; // shutting down: recorded, so the next run's sweep deletes them
      }
    }
    deleteQueued();
  }

  /** Deletes what {@link #toDelete} names, within {@link #DELETE_TIME}. */
  private void deleteQueued() {
    java.util.Map<String, String> claimed = new java.util.TreeMap<>();
    synchronized (this) {
      for (String id : toDelete) {
        String name = recordedName(id);
        if (name != null && !held.containsKey(id) && deleting.add(id)) {
          claimed.put(id, name);
        }
      }
      toDelete.clear(); // what was not claimed is another call's or the sweep's
    }
    Deadline all = Deadline.after(DELETE_TIME.toMillis(), TimeUnit.MILLISECONDS);
    for (Map.Entry<String, String> e : claimed.entrySet()) { // one left over: the sweep's
      deleteLogged(e.getKey(), e.getValue(), all);
    }
  }

  /**
   * Deletes the batch reservation of {@code id} if its hold ended in this call (queued in
   * {@link #toDelete}), by {@code deadline}; one that fails is the sweep's.
   */
  private void deleteOwn(String id, Deadline deadline) {
    String name;
    synchronized (this) {
      name = recordedName(id);
      if (!toDelete.remove(id) || name == null || held.containsKey(id) || !deleting.add(id)) {
        return;
      }
    }
    deleteLogged(id, name, deadline);
  }

  /** {@link #deleteClaimed}; a failure is logged (the sweep tries again) and is false. */
  private boolean deleteLogged(String id, String name, Deadline deadline) {
    try {
      return deleteClaimed(id, name, deadline);
    } catch (RuntimeException x) {
      log.warn("reservation {}: deleting batch reservation {}: {}; trying again later", id,
          name, x.toString());
      return false;
    }
  }

  /**
   * Deletes (or, in doubt, resolves) the batch reservation {@code name} recorded for the ended
   * hold {@code id}, which the caller claimed in {@link #deleting}, if it is what was asked for;
   * forgets it when it is gone for good, or when it is someone else's. Called without the lock.
   *
   * @return whether it is forgotten
   */
  private boolean deleteClaimed(String id, String name, Deadline deadline) {
    boolean doubt;
    BatchReservations.Asked asked;
    synchronized (this) {
      java.time.Instant until = inDoubt.get(id);
      doubt = until != null && clock.instant().isBefore(until);
      asked = recordedAsked(id);
    }
    String problem = null;
    BatchReservations.Mismatch foreign = null;
    try {
      foreign = deleteRecorded(name, asked, doubt, deadline);
    } catch (BatchReservations.BatchReservationException e) {
      problem = e.getMessage();
    } finally {
      synchronized (this) {
        deleting.remove(id); // whatever was thrown: claimable again
      }
    }
    synchronized (this) {
      if (problem != null) {
        log.warn("reservation {}: {}; trying again later", id, problem);
        return false;
      }
      if (held.containsKey(id) || !name.equals(recordedName(id))) {
        return false; // prepared again meanwhile
      }
      if (foreign != null) {
        return notOurs(id, name, foreign);
      }
      if (doubt) {
        return false; // in doubt: looked at again by the sweep
      }
      return forgetBatch(id, name);
    }
  }

  /**
   * Deletes the recorded batch reservation {@code name} if the batch system shows what was
   * {@code asked} ({@link BatchReservations#deleteIfAsked}); one recorded by an older CRM
   * ({@code asked} null) by name, unchecked, as that CRM did: in {@code doubt} only if it exists.
   * Called without the lock.
   *
   * @return null when it is deleted or not there; else how it differs (someone else's, left)
   */
  private BatchReservations.Mismatch deleteRecorded(String name, BatchReservations.Asked asked,
      boolean doubt, Deadline deadline) throws BatchReservations.BatchReservationException {
    if (asked != null) {
      return batch.deleteIfAsked(name, asked, deadline);
    }
    if (!doubt || batch.exists(name, deadline)) {
      batch.delete(name, deadline);
    }
    return null;
  }

  /**
   * Forgets the recorded name of {@code id}: the batch system's reservation of that name is not
   * what this CRM asked for (someone else made it, e.g. while this CRM's create did not answer,
   * which then cannot have made one), so it is left alone. Under the lock.
   *
   * @return whether it is forgotten
   */
  private boolean notOurs(String id, String name, BatchReservations.Mismatch m) {
    log.warn("reservation {}: batch reservation {} is not the one this CRM asked for: its {} is"
        + " {}, not {}; left alone (someone else's) and its name forgotten", id, name, m.field(),
        m.shown(), m.asked());
    return forgetBatch(id, name);
  }

  /**
   * Forgets the recorded batch reservation {@code name} of {@code id}: in the ledger, then
   * here. Under the lock.
   *
   * @return whether it is forgotten (false: the ledger failed, logged; it stays recorded)
   */
  private boolean forgetBatch(String id, String name) {
    try {
      ledger.batchGone(id);
    } catch (RuntimeException e) {
      log.error("reservation {}: cannot record that batch reservation {} is gone: {}", id, name,
          e.toString());
      return false;
    }
    batchRecords.remove(id);
    inDoubt.remove(id);
    return true;
  }

  /** Phase two, success. See {@link HoldTable#commit}. */
  public void commit(String id) {
    try {
      synchronized (this) {
        table.commit(id);
      }
    } finally {
      deletePending(); // holds that expired on the way
    }
  }

  /** Phase two, failure. See {@link HoldTable#abort}; also ends a prepare still under way. */
  public void abort(String id) {
    try {
      synchronized (this) {
        table.abort(id);
      }
    } finally {
      deletePending();
    }
  }

  /** Frees the hold (committed or prepared; one still being prepared: aborted). Idempotent. */
  public void release(String id) {
    try {
      synchronized (this) {
        if (inFlight.contains(id)) {
          table.abort(id); // its prepare then frees what it took
        } else {
          table.release(id);
        }
      }
    } finally {
      deletePending();
    }
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

  /** Whether {@code id} is held (taken, not still being prepared) with an overlay end. */
  public synchronized boolean hasOverlay(String id) {
    Held h = held.get(id);
    return h != null && h.overlay() && !inFlight.contains(id);
  }

  /**
   * The live (PREPARED or COMMITTED, as of the last expiry) holds whose Prepare carried an
   * overlay end ({@link Held#overlay}), in id order: after {@link #recover}, what the ledger says, so a
   * routed site's {@code SiteOverlay} knows which Commits need an overlay record even when a
   * record was lost while the CRM was down.
   */
  public synchronized java.util.List<String> withOverlay() {
    return held.keySet().stream().filter(this::hasOverlay).sorted().toList();
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
