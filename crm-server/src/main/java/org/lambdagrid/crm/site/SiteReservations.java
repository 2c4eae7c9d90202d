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
 * <p>Thread-safe: every method locks this object, then the hold table (the only lock order).
 * Durable with a {@link SiteLedger}: every change is recorded before it is applied (the hold
 * table's {@link HoldTable.Journal}), and {@link #recover} puts the holds back after a restart:
 * a PREPARED hold still expires at its original instant, a COMMITTED one stays until released.
 */
public final class SiteReservations {
  /** What one reservation holds here. */
  public record Held(String id, Window window, int nodes, Ipv4Cidr range, String user) {}

  private final SiteSettings settings;
  private final Calendar calendar;
  private final HoldTable table;
  private final Map<String, Held> held = new HashMap<>(); // live (prepared or committed)
  private Held preparing; // the prepare in progress, read by the table's Resource

  private final SiteLedger ledger;

  public SiteReservations(SiteSettings settings, Clock clock, Duration holdTime) {
    this(settings, clock, holdTime, SiteLedger.NONE);
  }

  public SiteReservations(SiteSettings settings, Clock clock, Duration holdTime,
      SiteLedger ledger) {
    this.settings = settings;
    this.ledger = ledger;
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
      org.slf4j.LoggerFactory.getLogger(SiteReservations.class).info("restart: {} prepared"
          + " hold(s) expired while the CRM was down", expired);
    }
    return java.util.List.copyOf(new java.util.TreeSet<>(held.keySet()));
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
