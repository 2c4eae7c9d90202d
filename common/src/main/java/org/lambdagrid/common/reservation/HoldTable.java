package org.lambdagrid.common.reservation;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.StateMachine;

/**
 * One resource manager's side of the two-phase commit: the state of every reservation id it has
 * seen, and the rule that a PREPARED hold expires by itself after the hold time (NSI practice:
 * 120 s) if no commit comes. The actual holding is delegated to a {@link Resource} (a calendar).
 *
 * <pre>
 *            prepare              commit               release
 *   NEW -------------> PREPARED ----------> COMMITTED ----------> RELEASED
 *    |                  |    |
 *    | abort      abort |    | hold time passes, no commit
 *    v                  v    v
 *   ABORTED <-----------+   EXPIRED
 * </pre>
 *
 * NEW is never stored: it is the state of an id not seen yet. ABORTED, EXPIRED and RELEASED are
 * terminal and kept as tombstones for {@code retention} (default ten hold times, at least an
 * hour), so that a duplicated or late prepare for a finished id is refused instead of holding
 * resources again. Every operation is idempotent:
 *
 * <ul>
 *   <li>prepare: NEW -> PREPARED (holds); PREPARED or COMMITTED with the same window and ask ->
 *       PREPARED again, nothing more held; with a different one -> ALREADY_EXISTS; terminal ->
 *       ABORTED refusal.
 *   <li>commit: PREPARED -> COMMITTED; COMMITTED -> no-op; EXPIRED, ABORTED, RELEASED ->
 *       FAILED_PRECONDITION; unknown -> NOT_FOUND.
 *   <li>abort: PREPARED -> ABORTED (frees); unknown -> ABORTED tombstone; terminal -> no-op;
 *       COMMITTED -> FAILED_PRECONDITION (use release).
 *   <li>release: COMMITTED -> RELEASED and PREPARED -> ABORTED (frees); otherwise no-op.
 * </ul>
 *
 * <p>Expiry is checked against the injected {@link Clock} at the start of every call (and by
 * {@link #expireDue}, which an owner may call from a timer), so a test advances the clock
 * instead of sleeping. Thread-safe: all methods are synchronized; the {@link Resource} is only
 * called with this table's lock held, so it needs no locking of its own for this table.
 */
public final class HoldTable {
  public static final Duration DEFAULT_HOLD_TIME = Duration.ofSeconds(120);

  public enum State { NEW, PREPARED, COMMITTED, ABORTED, EXPIRED, RELEASED }

  public static final StateMachine<State> LIFECYCLE = StateMachine.builder(State.class)
      .allow(State.NEW, State.PREPARED, State.ABORTED)
      .allow(State.PREPARED, State.COMMITTED, State.ABORTED, State.EXPIRED)
      .allow(State.COMMITTED, State.RELEASED)
      .terminal(State.ABORTED, State.EXPIRED, State.RELEASED)
      .build();

  /** The thing held. {@link #hold} refuses with a {@link Errors.RequestException}. */
  public interface Resource {
    /** Holds {@code ask} over {@code window} under {@code id}, or throws and holds nothing. */
    void hold(String id, Window window, Ask ask);

    /** Frees what {@link #hold} held under {@code id}. */
    void free(String id);
  }

  /**
   * Where a durable owner records every change of the table before it is applied in memory, so a
   * restarted owner can {@link #restore} it: a PREPARED hold then still expires at its original
   * instant, a COMMITTED one stays until released, a tombstone still refuses a late prepare.
   * Each method must have committed when it returns; if it throws, the operation fails and the
   * table is unchanged (an expiry is applied in memory anyway and recorded again on restore).
   */
  public interface Journal {
    Journal NONE = new Journal() {
      @Override
      public void prepared(String id, Window window, Ask ask, Instant expiresAt) { }

      @Override
      public void changed(String id, State state, Instant endedAt) { }
    };

    /** A new PREPARED hold (called while {@link Resource#hold} holds it). */
    void prepared(String id, Window window, Ask ask, Instant expiresAt);

    /** {@code id} entered {@code state} (COMMITTED, or terminal with {@code endedAt}). */
    void changed(String id, State state, Instant endedAt);
  }

  private static final class Entry {
    State state;
    final Window window;
    final Ask ask;
    final Instant expiresAt;
    Instant endedAt;

    Entry(State state, Window window, Ask ask, Instant expiresAt) {
      this.state = state;
      this.window = window;
      this.ask = ask;
      this.expiresAt = expiresAt;
    }
  }

  private final String owner;
  private final Clock clock;
  private final Duration holdTime;
  private final Duration retention;
  private final Resource resource;
  private final Map<String, Entry> entries = new HashMap<>();
  private final Map<String, Entry> prepared = new HashMap<>();
  private final ArrayDeque<String> ended = new ArrayDeque<>();
  private volatile Journal journal = Journal.NONE;
  /** How many holds entered each state here (restores not counted), for metrics. */
  private final java.util.EnumMap<State, Long> entered = new java.util.EnumMap<>(State.class);

  public HoldTable(String owner, Clock clock, Duration holdTime, Resource resource) {
    this(owner, clock, holdTime, max(holdTime.multipliedBy(10), Duration.ofHours(1)), resource);
  }

  /** {@code owner} names the manager in messages; {@code retention} keeps tombstones. */
  public HoldTable(String owner, Clock clock, Duration holdTime, Duration retention, Resource resource) {
    if (holdTime.isNegative() || holdTime.isZero()) {
      throw new IllegalArgumentException("hold time " + holdTime + " must be positive");
    }
    this.owner = owner;
    this.clock = clock;
    this.holdTime = holdTime;
    this.retention = retention;
    this.resource = resource;
  }

  public Duration holdTime() {
    return holdTime;
  }

  public Duration retention() {
    return retention;
  }

  /** Records every later change durably; set before the table is used. */
  public void journal(Journal j) {
    this.journal = j;
  }

  /**
   * Puts back a recorded entry (at start-up, before use), without calling the {@link Resource}
   * or the {@link Journal}: the owner restores what a live hold holds itself. Restore terminal
   * entries in the order they ended. Call {@link #expireDue} afterwards: PREPARED holds whose
   * instant passed while the owner was down expire then (and are freed and journalled).
   */
  public synchronized void restore(String id, State state, Window window, Ask ask,
      Instant expiresAt, Instant endedAt) {
    Entry e = new Entry(state, window, ask, expiresAt);
    entries.put(id, e);
    if (state == State.PREPARED) {
      prepared.put(id, e);
    } else if (LIFECYCLE.isTerminal(state)) {
      e.endedAt = endedAt == null ? clock.instant() : endedAt;
      ended.add(id);
    }
  }

  /** When the PREPARED hold {@code id} expires; empty if it is not PREPARED. */
  public synchronized Optional<Instant> expiresAt(String id) {
    Entry e = prepared.get(id);
    return e == null ? Optional.empty() : Optional.of(e.expiresAt);
  }

  public synchronized Vote prepare(String id, Window window, Ask ask) {
    expireDue();
    Entry e = entries.get(id);
    if (e == null) {
      try {
        resource.hold(id, window, ask);
      } catch (Errors.RequestException ex) {
        return Vote.refused(ex.code(), owner + ": " + ex.getMessage());
      }
      Instant expires = clock.instant().plus(holdTime);
      try {
        journal.prepared(id, window, ask, expires);
      } catch (RuntimeException ex) {
        resource.free(id);
        return Vote.refused(io.grpc.Status.Code.UNAVAILABLE, owner + ": the hold for reservation "
            + id + " could not be recorded: " + ex.getMessage());
      }
      Entry n = new Entry(LIFECYCLE.check(State.NEW, State.PREPARED), window, ask, expires);
      entries.put(id, n);
      prepared.put(id, n);
      entered.merge(State.PREPARED, 1L, Long::sum);
      return Vote.prepared();
    }
    switch (e.state) {
      case PREPARED, COMMITTED -> {
        if (e.window.equals(window) && e.ask.equals(ask)) {
          return Vote.prepared();
        }
        return Vote.refused(io.grpc.Status.Code.ALREADY_EXISTS, owner + ": reservation " + id
            + " is already " + e.state + " with " + e.ask + " in " + e.window + "; refusing " + ask + " in " + window);
      }
      default -> {
        return Vote.refused(io.grpc.Status.Code.ABORTED, owner + ": reservation " + id + " is "
            + e.state + " since " + e.endedAt + "; a late or repeated prepare cannot hold it again");
      }
    }
  }

  public synchronized void commit(String id) {
    expireDue();
    Entry e = entries.get(id);
    if (e == null) {
      throw Errors.notFound(owner + ": no hold for reservation " + id + " (never prepared here)");
    }
    switch (e.state) {
      case COMMITTED -> { }
      case PREPARED -> {
        LIFECYCLE.check(e.state, State.COMMITTED);
        journal.changed(id, State.COMMITTED, null);
        e.state = State.COMMITTED;
        prepared.remove(id);
        entered.merge(State.COMMITTED, 1L, Long::sum);
      }
      case EXPIRED -> throw Errors.precondition(owner + ": the hold for reservation " + id + " expired at "
          + e.expiresAt + " (hold time " + holdTime + ") before the commit came");
      default -> throw Errors.precondition(owner + ": reservation " + id + " is " + e.state + "; it cannot be committed");
    }
  }

  public synchronized void abort(String id) {
    expireDue();
    Entry e = entries.get(id);
    if (e == null) {
      Entry t = new Entry(LIFECYCLE.check(State.NEW, State.ABORTED), null, null, null);
      t.endedAt = clock.instant();
      journal.changed(id, State.ABORTED, t.endedAt);
      entries.put(id, t);
      ended.add(id);
      entered.merge(State.ABORTED, 1L, Long::sum);
      return;
    }
    switch (e.state) {
      case PREPARED -> end(id, e, State.ABORTED);
      case COMMITTED -> throw Errors.precondition(owner + ": reservation " + id
          + " is committed; release it instead of aborting");
      default -> { }
    }
  }

  public synchronized void release(String id) {
    expireDue();
    Entry e = entries.get(id);
    if (e == null) {
      return;
    }
    switch (e.state) {
      case COMMITTED -> end(id, e, State.RELEASED);
      case PREPARED -> end(id, e, State.ABORTED);
      default -> { }
    }
  }

  /** The state of {@code id}, after expiring what is due; empty if unknown (NEW). */
  public synchronized Optional<State> state(String id) {
    expireDue();
    Entry e = entries.get(id);
    return e == null ? Optional.empty() : Optional.of(e.state);
  }

  /**
   * How many holds entered PREPARED, COMMITTED, ABORTED, EXPIRED and RELEASED in this table's
   * life (a restored entry is not counted; an abort of an unknown id is), after expiring what is
   * due.
   */
  public synchronized Map<State, Long> outcomes() {
    expireDue();
    return new java.util.EnumMap<>(entered);
  }

  /** Every known id and its state, in id order, after expiring what is due. */
  public synchronized Map<String, State> snapshot() {
    expireDue();
    Map<String, State> out = new TreeMap<>();
    entries.forEach((k, v) -> out.put(k, v.state));
    return out;
  }

  /** Expires PREPARED holds whose hold time has passed and drops old tombstones; returns how many expired. */
  public synchronized int expireDue() {
    Instant now = clock.instant();
    int n = 0;
    List<String> due = new ArrayList<>();
    prepared.forEach((id, e) -> {
      if (!now.isBefore(e.expiresAt)) {
        due.add(id);
      }
    });
    for (String id : due) {
      end(id, prepared.get(id), State.EXPIRED);
      n++;
    }
    while (!ended.isEmpty()) {
      Entry e = entries.get(ended.peek());
      if (e != null && e.endedAt.plus(retention).isAfter(now)) {
        break;
      }
      String id = ended.poll();
      if (e != null && LIFECYCLE.isTerminal(e.state)) {
        entries.remove(id);
      }
    }
    return n;
  }

  private void end(String id, Entry e, State to) {
    LIFECYCLE.check(e.state, to);
    Instant now = clock.instant();
    try {
      journal.changed(id, to, now);
    } catch (RuntimeException ex) {
      if (to != State.EXPIRED) {
        throw ex;
      }
      // An expiry is due whatever the journal says; a restart expires the hold again.
    }
    e.state = to;
    e.endedAt = now;
    prepared.remove(id);
    entered.merge(to, 1L, Long::sum);
    resource.free(id);
    ended.add(id);
  }

  private static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }
}
