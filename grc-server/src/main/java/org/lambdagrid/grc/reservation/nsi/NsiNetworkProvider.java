package org.lambdagrid.grc.reservation.nsi;

import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.KeyedSerialExecutor;
import org.lambdagrid.common.SerialExecutor;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.reservation.Vote;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.grc.reservation.NetworkResourceManager;
import org.lambdagrid.nsi.NsiConnection;
import org.lambdagrid.nsi.NsiException;
import org.lambdagrid.nsi.NsiProvider;
import org.lambdagrid.nsi.NsiRequester;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code nsi} network resource manager: an NSI CS 2.0 circuit per site pair of a reservation,
 * reserved from the network's provider NSA in the same two-phase commit as the compute, on top
 * of another provider (the {@code inner} one: the GRC's link calendars, or the testbed's shaped
 * segments as this machine's data plane), which votes first and is committed, aborted and
 * released with it.
 *
 * <ul>
 *   <li>prepare: for each pair, records a global reservation id, sends {@code reserve} (the two
 *       sites' STPs, the pair's bandwidth in Mbit/s rounded up, the window), records the
 *       connection id as soon as the provider acknowledges, and waits for reserveConfirmed. A
 *       refusal, a timeout or a malformed answer for any pair votes no with the provider's
 *       message naming the pair; what was already reserved is aborted and terminated.
 *   <li>commit: {@code reserveCommit} of every connection, then the inner commit; a
 *       {@code provision} is scheduled at the window's start.
 *   <li>abort (or the hold time passing without a commit): {@code reserveAbort} and
 *       {@code terminate}; a connection whose id never arrived is found by its global
 *       reservation id and terminated.
 *   <li>release (window end or cancel): {@code release} if provisioned, then {@code terminate}.
 * </ul>
 *
 * <p>Every record is written ({@link NsiStore}) before the request it lets the GRC undo, so a GRC
 * killed at any step finds it at {@link #recover}: the connections of live (committed)
 * reservations are kept (held ones committed, all provisioned when due), everything else is
 * aborted and terminated.
 *
 * <p>Threading: NSI calls block (each waits for the provider's confirmation) and run on this
 * provider's own pool of {@code maxConcurrent} threads, never the caller's. The work of one
 * reservation (its prepare, undo, commit, abort, provisions, release, its part of
 * {@link #recover}) runs one step at a time in the order it was asked, on that reservation's
 * lane ({@link KeyedSerialExecutor}); different reservations run at the same time, so a slow
 * reserve holds up only its own reservation (and one pool thread). A prepare sends no reserve
 * past its deadline; a refused one returns its vote at once and then, still holding its lane,
 * undoes what it reserved and the inner hold, so before any later step of that reservation.
 * Timed work (the hold time's abort, provision at the window's start and its retries) is only
 * handed to the reservation's lane when due; a reservation asked to be released is never
 * provisioned again. The inner provider is aborted or released even when the NSI provider cannot
 * be reached, or this one is closed (a step asked after {@link #close}, or still queued when it
 * gives up waiting, fails, or votes no, with UNAVAILABLE). Thread-safe.
 */
public final class NsiNetworkProvider implements NetworkResourceManager, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NsiNetworkProvider.class);
  /** A start this close to now is sent as "now": providers refuse a start in the past. */
  static final Duration NOW_SLACK = Duration.ofSeconds(5);
  /** How many reservations' NSI calls run at the same time unless configured. */
  public static final int DEFAULT_MAX_CONCURRENT = 8;
  /** How long {@link #close} waits for the running NSI calls before interrupting them. */
  static final Duration CLOSE_WAIT = Duration.ofSeconds(2);

  private final String name;
  private final NetworkResourceManager inner;
  private final NsiProvider nsi;
  private final NsiStore store;
  private final Map<String, String> stps;
  private final Clock clock;
  private final Duration holdTime;
  private final Duration prepareDeadline;
  private final ExecutorService pool;
  private final KeyedSerialExecutor<String> lanes;
  /** Only hands timed work to a lane when due; runs no NSI call itself. */
  private final ScheduledExecutorService timer;
  /** Reservations with a provision scheduled or queued: at most one at a time each. */
  private final Set<String> provisionDue = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final Set<String> aborted = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final Set<String> timedOut = java.util.concurrent.ConcurrentHashMap.newKeySet();
  /**
   * Reservations asked to be released (window end or cancel): never provisioned again. Kept
   * while their connections are still recorded (a release that failed), until the next start.
   */
  private final Set<String> releasing = java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * @param stps site name -> its STP at the NSI network (e.g.
   *     {@code urn:ogf:network:example.net:2020:topology:alpha?vlan=1780-1789})
   * @param holdTime how long a prepared circuit waits for the commit before the GRC aborts it
   */
  public NsiNetworkProvider(String name, NetworkResourceManager inner, NsiProvider nsi,
      NsiStore store, Map<String, String> stps, Clock clock, Duration holdTime) {
    this(name, inner, nsi, store, stps, clock, holdTime, holdTime);
  }

  /**
   * @param prepareDeadline how long after it was asked a prepare may still send a reserve (the
   *     two-phase commit's own timeout: a vote after it is not counted); the pairs not reserved
   *     by then make it vote no
   */
  public NsiNetworkProvider(String name, NetworkResourceManager inner, NsiProvider nsi,
      NsiStore store, Map<String, String> stps, Clock clock, Duration holdTime,
      Duration prepareDeadline) {
    this(name, inner, nsi, store, stps, clock, holdTime, prepareDeadline, DEFAULT_MAX_CONCURRENT);
  }

  /**
   * @param maxConcurrent how many reservations' NSI calls may run at the same time (threads of
   *     this provider's pool); the steps of one reservation always run one at a time, in order
   */
  public NsiNetworkProvider(String name, NetworkResourceManager inner, NsiProvider nsi,
      NsiStore store, Map<String, String> stps, Clock clock, Duration holdTime,
      Duration prepareDeadline, int maxConcurrent) {
    if (maxConcurrent < 1) {
      throw new IllegalArgumentException("maxConcurrent: " + maxConcurrent + " is not at least 1");
    }
    this.name = name;
    this.prepareDeadline = prepareDeadline;
    this.inner = inner;
    this.nsi = nsi;
    this.store = store;
    this.stps = Map.copyOf(stps);
    this.clock = clock;
    this.holdTime = holdTime;
    java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
    this.pool = Executors.newFixedThreadPool(maxConcurrent, r -> {
      Thread t = new Thread(r, "nsi-provider-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.lanes = new KeyedSerialExecutor<>(pool);
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "nsi-provider-timer");
      t.setDaemon(true);
      return t;
    });
  }

  @Override
  public String name() {
    return name;
  }

  /** The inner provider's answer, when both sites have an STP; empty otherwise. */
  @Override
  public OptionalLong maxBandwidth(String siteA, String siteB) {
    if (!stps.containsKey(siteA) || !stps.containsKey(siteB)) {
      return OptionalLong.empty();
    }
    return inner.maxBandwidth(siteA, siteB);
  }

  @Override
  public Map<String, String> siteBridges(String reservationId) {
    return inner.siteBridges(reservationId);
  }

  /**
   * Called by the provider's requester endpoint, on its callback thread: the hold of this
   * connection was dropped. Returns at once: the records are read on this provider's pool, and
   * the connection is marked on its reservation's lane (so after the steps of it asked before),
   * so a slow store never holds up the callback. Only connections the GRC holds are remembered
   * (until undone, or twice the hold time); after {@link #close} it is only logged.
   */
  public void reserveTimeout(String connectionId) {
    Runnable closing = () -> log.info("{}: reserveTimeout of NSI connection {} while shutting"
        + " down: not recorded", name, connectionId);
    try {
      pool.execute(() -> {
        String reservationId;
        try {
          reservationId = store.all().stream()
              .filter(r -> connectionId.equals(r.connectionId()))
              .map(NsiRecord::reservationId).findFirst().orElse(null);
        } catch (RuntimeException e) {
          log.warn("{}: reserveTimeout of NSI connection {}: cannot read the NSI records: {}",
              name, connectionId, e.getMessage());
          return;
        }
        if (reservationId != null) {
          try {
            lanes.execute(reservationId, () -> markTimedOut(reservationId, connectionId));
          } catch (RejectedExecutionException e) {
            closing.run();
          }
        }
      });
    } catch (RejectedExecutionException e) {
      closing.run();
    }
  }

  /** On the reservation's lane: still one of its connections (not undone meanwhile). */
  private void markTimedOut(String reservationId, String connectionId) {
    if (store.of(reservationId).stream().anyMatch(r -> connectionId.equals(r.connectionId()))) {
      timedOut.add(connectionId);
      forgetLater(() -> timedOut.remove(connectionId));
    }
  }

  /** A prepare or commit comes within the hold time: after twice that, nothing is kept. */
  private void forgetLater(Runnable r) {
    try {
      timer.schedule(r, holdTime.multipliedBy(2).toMillis(), TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      // closing: what is remembered goes with this provider
    }
  }

  private void markAborted(String reservationId) {
    aborted.add(reservationId);
    forgetLater(() -> aborted.remove(reservationId));
  }

  /** How many aborted reservations and timed-out connections are remembered (tests). */
  int remembered() {
    return aborted.size() + timedOut.size();
  }

  /**
   * Runs {@code task} on the reservation's lane once {@code delay} has passed; once the provider
   * is closing, not at all (logged): the next start's {@link #recover} takes it up.
   */
  private void later(String reservationId, long delayMillis, Runnable task) {
    Runnable closing = () -> log.info("{}: reservation {}: closing, a timed step is left to"
        + " recover()", name, reservationId);
    try {
      timer.schedule(() -> {
        try {
          lanes.execute(reservationId, task);
        } catch (RejectedExecutionException e) {
          closing.run();
        }
      }, delayMillis, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      closing.run();
    }
  }

  /**
   * Queued on the reservation's lane at once (so a later abort or commit of it runs after it),
   * where it waits for the inner provider's vote, then reserves.
   */
  @Override
  public CompletableFuture<Vote> prepare(String reservationId, Window window, Ask ask) {
    if (!(ask instanceof Ask.Bandwidth b)) {
      return inner.prepare(reservationId, window, ask);
    }
    Instant deadline = clock.instant().plus(prepareDeadline);
    CompletableFuture<Vote> innerVote = inner.prepare(reservationId, window, ask);
    CompletableFuture<Vote> result = new CompletableFuture<>();
    // closed before it ran: the inner hold is given back
    Runnable refused = () -> {
      innerVote.whenComplete((v, t) -> inner.abort(reservationId));
      result.complete(Vote.refused(Status.Code.UNAVAILABLE, name + ": reservation "
          + reservationId + ": the GRC's NSI provider is shutting down"));
    };
    try {
      lanes.execute(reservationId, SerialExecutor.task(() -> {
        try {
          prepareOnLane(reservationId, window, b, deadline, innerVote.join(), result);
        } catch (RuntimeException | Error e) {
          result.completeExceptionally(e);
        }
      }, e -> refused.run()));
    } catch (RejectedExecutionException e) {
      refused.run();
    }
    return result;
  }

  /**
   * On the reservation's lane: completes {@code result} with the vote. A refused prepare's vote
   * goes back at once, and what it reserved (and the inner hold) is undone before the lane is
   * given up, so before any later step of the reservation.
   */
  private void prepareOnLane(String reservationId, Window window, Ask.Bandwidth b,
      Instant deadline, Vote innerVote, CompletableFuture<Vote> result) {
    if (!innerVote.isPrepared()) {
      result.complete(innerVote);
      return;
    }
    if (aborted.contains(reservationId)) {
      result.complete(Vote.refused(Status.Code.FAILED_PRECONDITION, name + ": reservation "
          + reservationId + " was aborted"));
      return;
    }
    try {
      reserveAll(reservationId, window, b, deadline);
    } catch (RuntimeException e) {
      // The provider's refusal is a lack of resources; a provider that does not answer is a
      // precondition the GRC cannot meet (never UNAVAILABLE: that would read as the GRC's own).
      Status.Code code = e instanceof Errors.RequestException r ? r.code()
          : e instanceof NsiException n && n.refused() ? Status.Code.RESOURCE_EXHAUSTED
          : Status.Code.FAILED_PRECONDITION;
      result.complete(Vote.refused(code, name + ": " + e.getMessage()));
      undoRefused(reservationId);
      return;
    }
    later(reservationId, holdTime.toMillis(), () -> expire(reservationId));
    result.complete(innerVote);
  }

  /** After a refused prepare: its connections and the inner hold are undone (never throws). */
  private void undoRefused(String reservationId) {
    try {
      undoAll(reservationId);
    } catch (RuntimeException u) {
      // recorded: undone by the abort the refusal brings, the hold time, or the next start
      log.warn("{}: reservation {}: cannot undo its NSI connections: {}", name, reservationId,
          u.getMessage());
    } finally {
      try {
        inner.abort(reservationId).join();
      } catch (RuntimeException u) {
        log.warn("{}: reservation {}: the inner abort failed: {}", name, reservationId,
            u.getMessage());
      }
    }
  }

  /**
   * Runs {@code work} on the reservation's lane; when the lane refuses it, at once or while it
   * was queued (this provider is closed), runs {@code refused} instead (so the inner provider's
   * hold is not left behind) and fails with UNAVAILABLE.
   */
  private CompletableFuture<Void> onLane(String reservationId, String what, Runnable work,
      Runnable refused) {
    AtomicBoolean ran = new AtomicBoolean();
    return lanes.submit(reservationId, () -> {
      ran.set(true);
      work.run();
      return (Void) null;
    }).exceptionallyCompose(t -> {
      if (ran.get() || !(t instanceof RejectedExecutionException)) { // the work's own failure
        return CompletableFuture.failedFuture(t);
      }
      refused.run();
      return CompletableFuture.failedFuture(new Errors.RequestException(Status.Code.UNAVAILABLE,
          name + ": " + what + " of reservation " + reservationId
              + ": the GRC's NSI provider is shutting down"));
    });
  }

  private void reserveAll(String reservationId, Window window, Ask.Bandwidth b,
      Instant deadline) {
    for (Map.Entry<SitePair, Long> e : b.bps().entrySet()) {
      SitePair p = e.getKey();
      if (clock.instant().isAfter(deadline)) {
        throw new NsiException("site pair " + p + ": not reserved within the prepare's "
            + prepareDeadline + " (NSI provider " + nsi.providerNsa() + " answers slowly, or"
            + " other requests were ahead)");
      }
      NsiRecord known = find(reservationId, p);
      if (known != null && known.state() != NsiRecord.State.RESERVING) {
        continue; // a repeated prepare: already held
      }
      String src = stp(p, p.a());
      String dst = stp(p, p.b());
      long mbps = Math.max(1, (e.getValue() + 999_999) / 1_000_000);
      NsiRecord rec = new NsiRecord(reservationId, p, gri(reservationId, p), null,
          NsiRecord.State.RESERVING, window.startMillis(), window.endMillis());
      store.put(rec);
      Instant start = window.start().isAfter(clock.instant().plus(NOW_SLACK)) ? window.start() : null;
      String id;
      try {
        id = nsi.reserve(new NsiRequester.Circuit(src, dst, mbps, start, window.end(),
            rec.globalReservationId(), "lambdagrid reservation " + reservationId + " " + p),
            cid -> store.put(rec.with(cid, NsiRecord.State.RESERVING)));
      } catch (NsiException ex) {
        throw new NsiException("site pair " + p + ": " + ex.getMessage(), ex);
      }
      store.put(rec.with(id, NsiRecord.State.HELD));
    }
  }

  private String stp(SitePair p, String site) {
    String s = stps.get(site);
    if (s == null) {
      throw new Errors.RequestException(Status.Code.INVALID_ARGUMENT, "site pair " + p
          + ": site '" + site + "' has no STP at NSI provider " + nsi.providerNsa()
          + " (network.nsi.stps)");
    }
    return s;
  }

  /** The global reservation id of (reservation, pair): the same on every attempt. */
  public static String gri(String reservationId, SitePair p) {
    return "urn:uuid:" + UUID.nameUUIDFromBytes(("lambdagrid/" + reservationId + "/" + p.a() + "/"
        + p.b()).getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public CompletableFuture<Void> commit(String reservationId) {
    return onLane(reservationId, "commit", () -> {
      if (aborted.contains(reservationId)) {
        throw new Errors.RequestException(Status.Code.FAILED_PRECONDITION, name + ": reservation "
            + reservationId + " was aborted, or not committed within " + holdTime
            + ": its NSI connections are terminated");
      }
      List<NsiRecord> recs = store.of(reservationId);
      for (NsiRecord r : recs) {
        if (r.committed()) {
          continue;
        }
        if (restored.contains(reservationId)) { // the commit re-sent after a restart
          commitRestored(r);
          NsiRecord now = find(reservationId, r.pair());
          if (now == null || !now.committed()) {
            throw new Errors.RequestException(Status.Code.UNAVAILABLE, name + ": site pair "
                + r.pair() + " of reservation " + reservationId + ": the NSI connection "
                + r.connectionId() + " could not be committed yet");
          }
          continue;
        }
        if (r.state() != NsiRecord.State.HELD || timedOut.contains(r.connectionId())) {
          throw new Errors.RequestException(Status.Code.FAILED_PRECONDITION, name + ": site pair "
              + r.pair() + " of reservation " + reservationId + ": the NSI connection "
              + r.connectionId() + " is not held (" + (timedOut.contains(r.connectionId())
              ? "the provider's hold timed out" : r.state()) + ")");
        }
        try {
          nsi.commit(r.connectionId());
        } catch (NsiException e) {
          // committed already (e.g. the GRC stopped before recording it): the provider says so
          if (!committedAtProvider(r.connectionId())) {
            throw new Errors.RequestException(Status.Code.FAILED_PRECONDITION, name
                + ": site pair " + r.pair() + ": " + e.getMessage());
          }
        }
        store.put(r.with(r.connectionId(), NsiRecord.State.COMMITTED));
      }
      inner.commit(reservationId).join();
      if (!recs.isEmpty()) {
        scheduleProvision(reservationId, recs.get(0).startMillis());
      }
    }, () -> {});
  }

  @Override
  public CompletableFuture<Void> abort(String reservationId) {
    return onLane(reservationId, "abort", () -> {
      for (NsiRecord r : store.of(reservationId)) {
        if (r.committed()) {
          throw new Errors.RequestException(Status.Code.FAILED_PRECONDITION, name + ": reservation "
              + reservationId + " is committed at NSI provider " + nsi.providerNsa()
              + " (release it)");
        }
      }
      markAborted(reservationId);
      try {
        undoAll(reservationId);
      } finally {
        inner.abort(reservationId).join(); // its hold is freed even when the provider is not
      }
    }, () -> inner.abort(reservationId));
  }

  @Override
  public CompletableFuture<Void> release(String reservationId) {
    releasing.add(reservationId); // from now on never provisioned, also if the release fails
    return onLane(reservationId, "release", () -> {
      try {
        undoAll(reservationId);
        releasing.remove(reservationId); // nothing left to provision
      } finally {
        inner.release(reservationId).join();
      }
    }, () -> inner.release(reservationId));
  }

  /**
   * Puts back a reservation the GRC had committed before it restarted: its committed NSI
   * connections are kept (provisioned at the window's start if not yet), the inner provider
   * restores its own hold.
   */
  @Override
  public void restore(String reservationId, Window window, Ask.Bandwidth ask) {
    inner.restore(reservationId, window, ask);
    restored.add(reservationId);
    for (NsiRecord r : store.of(reservationId)) {
      if (r.state() == NsiRecord.State.COMMITTED) {
        scheduleProvision(reservationId, r.startMillis());
        break;
      }
    }
  }

  private final Set<String> restored = java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * After a restart, once the live reservations are {@link #restore}d: every recorded connection
   * of a reservation that is not live is aborted (if held) and terminated, so a GRC killed at any
   * step leaves nothing at the provider. Returns what it undid, "reservation pair" each; a
   * connection the provider cannot be reached for stays recorded and is retried next start.
   */
  public List<String> recover() {
    // Only the ids: each lane reads its records when it runs, after the steps queued before
    // it (a re-sent commit, restore's provision) have changed them.
    Set<String> ids = new java.util.LinkedHashSet<>();
    for (NsiRecord r : store.all()) {
      ids.add(r.reservationId());
    }
    List<CompletableFuture<List<String>>> each = new ArrayList<>();
    for (String id : ids) {
      each.add(lanes.submit(id, () -> {
        List<String> done = new ArrayList<>();
        for (NsiRecord r : store.of(id)) {
          if (restored.contains(id)) {
            if (!r.committed()) {
              commitRestored(r);
            }
            continue;
          }
          try {
            undo(r);
            done.add(id + " " + r.pair());
          } catch (RuntimeException e) {
            log.warn("{}: cannot undo NSI connection {} of reservation {} (pair {}): {}", name,
                r.connectionId(), id, r.pair(), e.getMessage());
          }
        }
        return done;
      }));
    }
    List<String> done = new ArrayList<>();
    try {
      for (CompletableFuture<List<String>> f : each) {
        done.addAll(f.get());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
    return done;
  }

  // --- on the reservation's lane ---

  /**
   * A connection of a reservation the GRC restored as committed that was not recorded as
   * committed (the GRC records its outcome before every participant acknowledged the commit):
   * never terminated here. The provider is asked: committed there -> recorded so; still held ->
   * reserveCommit. When the provider cannot be reached it stays recorded as it was, for the
   * commit the GRC re-sends after a restart.
   */
  private void commitRestored(NsiRecord r) {
    try {
      NsiConnection c = connection(r);
      if (c == null || c.terminated()) {
        log.warn("{}: NSI connection {} of committed reservation {} (pair {}) is gone at the"
            + " provider", name, r.connectionId(), r.reservationId(), r.pair());
        return;
      }
      if ("ReserveHeld".equals(c.reservationState())) {
        nsi.commit(c.connectionId());
      } else if (!"ReserveStart".equals(c.reservationState())) {
        log.warn("{}: NSI connection {} of committed reservation {} is {}: left for the re-sent"
            + " commit", name, c.connectionId(), r.reservationId(), c.reservationState());
        store.put(r.with(c.connectionId(), r.state()));
        return;
      }
      store.put(r.with(c.connectionId(), NsiRecord.State.COMMITTED));
      scheduleProvision(r.reservationId(), r.startMillis());
    } catch (RuntimeException e) {
      log.warn("{}: cannot commit NSI connection {} of committed reservation {} (pair {}): {}",
          name, r.connectionId(), r.reservationId(), r.pair(), e.getMessage());
    }
  }

  /** The provider's view of the record's connection (by id, else by global id); null if none. */
  private NsiConnection connection(NsiRecord r) {
    List<NsiConnection> cs = r.connectionId() != null
        ? nsi.query(List.of(r.connectionId()), List.of())
        : nsi.query(List.of(), List.of(r.globalReservationId()));
    return cs.stream().filter(c -> !c.terminated()).findFirst()
        .orElse(cs.isEmpty() ? null : cs.get(0));
  }

  private boolean committedAtProvider(String connectionId) {
    try {
      List<NsiConnection> cs = nsi.query(List.of(connectionId), List.of());
      return !cs.isEmpty() && !cs.get(0).terminated()
          && "ReserveStart".equals(cs.get(0).reservationState());
    } catch (RuntimeException e) {
      return false;
    }
  }

  private void expire(String reservationId) {
    List<NsiRecord> recs = store.of(reservationId);
    if (!recs.isEmpty() && recs.stream().noneMatch(NsiRecord::committed)) {
      log.info("{}: reservation {} was not committed within {}: aborting its NSI connections",
          name, reservationId, holdTime);
      markAborted(reservationId);
      try {
        undoAll(reservationId);
      } catch (RuntimeException e) {
        log.warn("{}: {}", name, e.getMessage());
      }
    }
  }

  /** At most one provision per reservation is scheduled or queued; another ask is a no-op. */
  private void scheduleProvision(String reservationId, long startMillis) {
    provisionIn(reservationId, Math.max(0, startMillis - clock.millis()));
  }

  private void provisionIn(String reservationId, long delayMillis) {
    if (provisionDue.add(reservationId)) {
      later(reservationId, delayMillis, () -> {
        provisionDue.remove(reservationId);
        provision(reservationId);
      });
    }
  }

  /**
   * At the window's start: provision every committed connection (once); one the provider
   * refused or did not confirm is tried again until the window ends.
   */
  void provision(String reservationId) {
    if (releasing.contains(reservationId)) {
      log.info("{}: reservation {} is being released: not provisioned", name, reservationId);
      return;
    }
    boolean retry = false;
    List<NsiRecord> recs;
    try {
      recs = store.of(reservationId);
    } catch (RuntimeException e) {
      log.warn("{}: reservation {}: cannot read its NSI records to provision them: {} (retried"
          + " in {})", name, reservationId, e.getMessage(), provisionRetry());
      provisionIn(reservationId, provisionRetry().toMillis());
      return;
    }
    for (NsiRecord r : recs) {
      if (r.state() != NsiRecord.State.COMMITTED) {
        continue;
      }
      try {
        nsi.provision(r.connectionId());
        store.put(r.with(r.connectionId(), NsiRecord.State.PROVISIONED));
      } catch (RuntimeException e) { // the provider's, or recording it: either is tried again
        retry = retry || clock.millis() < r.endMillis();
        log.warn("{}: site pair {} of reservation {}: {}{}", name, r.pair(), reservationId,
            e.getMessage(), retry ? " (retried in " + provisionRetry() + ")" : "");
      }
    }
    if (retry) { // the next tick; the committed ones left are tried again
      provisionIn(reservationId, provisionRetry().toMillis());
    }
  }

  /** A quarter of the hold time, within [100 ms, 30 s]. */
  private Duration provisionRetry() {
    Duration d = holdTime.dividedBy(4);
    return d.compareTo(Duration.ofMillis(100)) < 0 ? Duration.ofMillis(100)
        : d.compareTo(Duration.ofSeconds(30)) > 0 ? Duration.ofSeconds(30) : d;
  }

  /** Undoes every connection of the reservation; throws the first failure after trying all. */
  private void undoAll(String reservationId) {
    RuntimeException first = null;
    for (NsiRecord r : store.of(reservationId)) {
      try {
        undo(r);
      } catch (RuntimeException e) {
        first = first == null ? e : first;
      }
    }
    if (first != null) {
      throw first;
    }
  }

  /**
   * Takes one connection back to nothing: release if provisioned, reserveAbort if held (or
   * maybe held), terminate; a connection with no recorded id is looked up by its global
   * reservation id first. The record is removed only when the provider confirmed.
   */
  private void undo(NsiRecord r) {
    List<String> ids = new ArrayList<>();
    if (r.connectionId() != null) {
      ids.add(r.connectionId());
    } else {
      for (NsiConnection c : nsi.query(List.of(), List.of(r.globalReservationId()))) {
        if (!c.terminated()) {
          ids.add(c.connectionId());
        }
      }
    }
    for (String id : ids) {
      try {
        if (r.state() == NsiRecord.State.PROVISIONED) {
          nsi.release(id);
        } else if (!r.committed()) {
          nsi.abort(id);
        }
      } catch (NsiException e) {
        // a hold that already timed out or a connection never confirmed: terminate still frees it
        log.info("{}: {} (terminating anyway)", name, e.getMessage());
      }
      try {
        nsi.terminate(id);
      } catch (NsiException e) {
        if (!terminated(id)) {
          throw new NsiException("site pair " + r.pair() + " of reservation " + r.reservationId()
              + ": " + e.getMessage(), e);
        }
      }
    }
    store.remove(r.reservationId(), r.pair());
    ids.forEach(timedOut::remove);
  }

  private boolean terminated(String id) {
    List<NsiConnection> cs = nsi.query(List.of(id), List.of());
    return cs.isEmpty() || cs.get(0).terminated();
  }

  private NsiRecord find(String reservationId, SitePair p) {
    return store.of(reservationId).stream().filter(r -> r.pair().equals(p)).findFirst()
        .orElse(null);
  }

  /** The provider this one runs over. */
  public NetworkResourceManager inner() {
    return inner;
  }

  private volatile Runnable onClose = () -> {};

  /** Also runs {@code r} (e.g. stopping the requester endpoint) on {@link #close}. */
  public void onClose(Runnable r) {
    onClose = r;
  }

  @Override
  public void close() {
    timer.shutdownNow();
    pool.shutdown(); // the running steps finish (each call bounded by the reply timeout) ...
    try {
      if (!pool.awaitTermination(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
        // ... for a short while; the queued steps are rejected (their callers get UNAVAILABLE,
        // inner holds are given back) and their NSI records left to recover()
        SerialExecutor.rejectQueued(pool.shutdownNow());
      }
    } catch (InterruptedException e) {
      SerialExecutor.rejectQueued(pool.shutdownNow());
      Thread.currentThread().interrupt();
    }
    onClose.run();
  }
}
