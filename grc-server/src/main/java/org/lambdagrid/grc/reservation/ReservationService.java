package org.lambdagrid.grc.reservation;

import static org.lambdagrid.proto.v1.ReservationState.RESERVATION_CANCELLED;
import static org.lambdagrid.proto.v1.ReservationState.RESERVATION_ENDED;

import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.Vote;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.grc.site.AddressAllocator;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.support.CallErrors;
import org.lambdagrid.grc.support.Ids;
import org.lambdagrid.grc.support.Paging;
import org.lambdagrid.grc.support.Timers;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reservations: co-allocation of nodes on several sites and bandwidth between them for one
 * window, all or nothing. Plain Java; {@code GridServiceImpl} adapts it to gRPC.
 *
 * <p>{@link #reserve}: validate -> {@link CoAllocator#find} the earliest window (the GRC's own
 * calendars: nodes per site, bandwidth per link) -> lease one address sub-range per site
 * ({@link AddressAllocator}, keyed by reservation id, disjoint from every other lease) and hold
 * the nodes in the GRC's calendars -> {@link TwoPhaseCommit} over every site's CRM (Prepare
 * with nodes, sub-range and window) and the {@link NetworkResourceManager} (the bandwidth per
 * site pair) -> store. A refusal or timeout anywhere aborts every participant and undoes the
 * GRC's own holds; the caller gets the first refusal's code and every participant's sentence.
 * An unacknowledged commit is retried until the hold time runs out (then the reservation ends).
 *
 * <p>At the window's start the reservation becomes ACTIVE and its {@link Lifecycle} is told
 * (jobs in it start then, and its guests are pre-built; see the job coordinator); at its end,
 * or on {@link #cancel}, the {@link Lifecycle} stops the job still running in it (with an
 * event) and its pre-built guests, every participant is released and the GRC's holds and
 * leases are freed. A reservation that SubmitJob made for one job also ends with that job.
 *
 * <p>Stopping: {@link #stop} (a GRC with durable state) leaves recorded reservations as they are
 * for the next start and aborts those still in their two-phase commit; {@link #shutdown} (a GRC
 * without) also ends every recorded one.
 *
 * <p>Thread-safe. Finding and holding is serialised (one lock, milliseconds); the two-phase
 * commit runs outside it, so a slow participant delays only its own reservation.
 */
public final class ReservationService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ReservationService.class);

  /** The job side of a reservation's life; set by the job coordinator. */
  public interface Lifecycle {
    /**
     * The window started: the reservation is ACTIVE (called again for a live one after a GRC
     * restart). Must not block.
     */
    void started(ReservationRecord reservation);

    /**
     * The reservation is ending: stop the job live in it, if any, and its pre-built guests.
     * Blocks until they are torn down.
     */
    void ending(ReservationRecord reservation, boolean cancelled, String why);
  }

  /**
   * @param callTimeout one participant call, and each phase of the two-phase commit
   * @param holdTime how long participants keep a prepared hold (unacknowledged commits are
   *     retried within it)
   * @param defaultDuration a reservation's length when the request gives none
   * @param limits the longest window and the farthest start granted
   */
  public record Settings(Duration callTimeout, Duration holdTime, Duration defaultDuration,
      Limits limits) {
    /** With the default {@link Limits}. */
    public Settings(Duration callTimeout, Duration holdTime, Duration defaultDuration) {
      this(callTimeout, holdTime, defaultDuration, Limits.defaults());
    }
  }

  /**
   * What any one reservation may ask for (grc.yaml {@code max_duration}, {@code max_horizon}):
   * a window no longer than {@code maxDuration}, starting no later than {@code maxHorizon} from
   * now. They also keep every instant the calendars see far from {@code long} overflow.
   */
  public record Limits(Duration maxDuration, Duration maxHorizon) {
    public static Limits defaults() {
      return new Limits(Duration.ofDays(7), Duration.ofDays(90));
    }
  }

  private final SiteRegistry registry;
  private final AddressAllocator addresses;
  private final CoAllocator allocator;
  private final NetworkResourceManager network;
  private final SiteClients clients;
  private final ReservationStore store;
  private final Clock clock;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService workers;
  private final Settings settings;
  private final TwoPhaseCommit twoPhase;
  private volatile Lifecycle lifecycle = new Lifecycle() {
    @Override
    public void started(ReservationRecord r) { }

    @Override
    public void ending(ReservationRecord r, boolean cancelled, String why) { }
  };
  /** Reservations in their two-phase commit, not recorded yet (by id). */
  private final Map<String, Pending> pending = new java.util.concurrent.ConcurrentHashMap<>();
  private volatile boolean stopping;
  /** Two-phase commits by how they ended, for metrics. */
  private final Map<TwoPhaseResult, java.util.concurrent.atomic.LongAdder> decisions =
      new java.util.EnumMap<>(TwoPhaseResult.class);

  /** How a reservation's two-phase commit ended at the GRC. */
  public enum TwoPhaseResult {
    /** Every participant committed and the reservation was recorded. */
    COMMITTED,
    /** A participant voted no (or failed its prepare); everything was aborted. */
    REFUSED,
    /** No decision in time, or the record could not be written; everything was aborted. */
    FAILED,
    /** Aborted by the GRC's own stop. */
    ABANDONED
  }

  /** One {@link #make} between its leases and its record, for {@link #stop} to abort. */
  private static final class Pending {
    final List<TwoPhaseCommit.Participant> participants;
    final CompletableFuture<Void> done = new CompletableFuture<>();
    boolean abandoned; // guarded by this: aborted by a stop; never recorded
    boolean recording; // guarded by this: committed and being recorded; a stop leaves it

    Pending(List<TwoPhaseCommit.Participant> participants) {
      this.participants = participants;
    }
  }

  public ReservationService(SiteRegistry registry, AddressAllocator addresses,
      CoAllocator allocator, NetworkResourceManager network, SiteClients clients,
      ReservationStore store, Clock clock, ScheduledExecutorService scheduler,
      ExecutorService workers, Settings settings) {
    this.registry = registry;
    this.addresses = addresses;
    this.allocator = allocator;
    this.network = network;
    this.clients = clients;
    this.store = store;
    this.clock = clock;
    this.scheduler = scheduler;
    this.workers = workers;
    this.settings = settings;
    this.twoPhase = new TwoPhaseCommit(settings.callTimeout());
    for (TwoPhaseResult r : TwoPhaseResult.values()) {
      decisions.put(r, new java.util.concurrent.atomic.LongAdder());
    }
  }

  /** How many two-phase commits ended each way since this GRC started. */
  public Map<TwoPhaseResult, Long> twoPhaseResults() {
    Map<TwoPhaseResult, Long> out = new java.util.EnumMap<>(TwoPhaseResult.class);
    decisions.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }

  /** Reservations in their two-phase commit now (held, not yet decided or recorded). */
  public int inTwoPhaseCommit() {
    return pending.size();
  }

  /** How many recorded reservations are in each non-terminal state now. */
  public Map<ReservationState, Integer> liveByState() {
    Map<ReservationState, Integer> out = new java.util.EnumMap<>(ReservationState.class);
    for (ReservationRecord r : store.list()) {
      if (!ReservationRecord.MACHINE.isTerminal(r.state())) {
        out.merge(r.state(), 1, Integer::sum);
      }
    }
    return out;
  }

  private void count(TwoPhaseResult r) {
    decisions.get(r).increment();
  }

  /** Set once at start-up by the job coordinator. */
  public void setLifecycle(Lifecycle l) {
    lifecycle = l;
  }

  /**
   * Keeps releasing an ended reservation at sites that did not confirm, and frees its address
   * lease once every one did (so a range is not leased again while a CRM may still hold it).
   */
  public interface Drainer {
    void drainLater(String reservationId, java.util.Set<String> sites);
  }

  private volatile Drainer drainer;

  /** Set once at start-up (GrcRecovery); without one, a lease is freed whatever the sites said. */
  public void setDrainer(Drainer drainer) {
    this.drainer = drainer;
  }

  public NetworkResourceManager network() {
    return network;
  }

  // ------------------------------------------------------------------ user-facing operations

  /**
   * Makes a reservation; see the class comment. With a client token, a repeat returns the
   * reservation made first.
   *
   * @throws Errors.RequestException INVALID_ARGUMENT / NOT_FOUND naming the field and value;
   *     FAILED_PRECONDITION when no window fits or a participant refused; DEADLINE_EXCEEDED or
   *     UNAVAILABLE when a participant did not answer
   */
  public Reservation reserve(ReservationSpec spec) {
    if (spec.getUser().isEmpty()) {
      throw Errors.invalid("spec.user", "", "is missing");
    }
    var again = store.byClientToken(spec.getUser(), spec.getClientToken());
    if (again.isPresent()) {
      return again.get().toProto();
    }
    return make(spec, null, false).toProto();
  }

  /**
   * The reservation SubmitJob makes for a job given without one: the job's sites and bandwidth
   * for exactly {@code [start, start + duration)}; it ends with the job.
   */
  public ReservationRecord reserveForJob(String jobId, ReservationSpec spec) {
    return make(spec, jobId, true);
  }

  public ReservationRecord record(String id) {
    if (id == null || id.isEmpty()) {
      throw Errors.invalid("reservation_id", "", "is missing");
    }
    return store.get(id).orElseThrow(() -> Errors.notFound("reservation '" + id + "' not found"));
  }

  public Reservation get(String id) {
    return record(id).toProto();
  }

  /**
   * Every reservation's record, newest first (then by id): a copy of the list, not of the
   * records, so a reader can filter before building any snapshot.
   */
  public List<ReservationRecord> records() {
    return store.list();
  }

  /** Reservations, newest first; {@code user} empty = everyone's. Every one: in process only. */
  public List<Reservation> list(String user, boolean includeFinished) {
    return store.list().stream().filter(listed(user, includeFinished))
        .map(ReservationRecord::toProto).toList();
  }

  /**
   * One page of {@link #list}: see {@link Paging} (order, tokens, INVALID_ARGUMENT naming
   * {@code page_size} or {@code page_token}). Pages are cut from the store's in-memory read
   * side, passing over only the records before the page's end.
   */
  public Paging.Page<Reservation> page(String user, boolean includeFinished, int pageSize,
      String pageToken) {
    return Paging.page(store, "reservations user=" + user + " include_finished="
        + includeFinished, pageSize, pageToken, listed(user, includeFinished),
        ReservationRecord::toProto);
  }

  private static Predicate<ReservationRecord> listed(String user, boolean includeFinished) {
    return r -> (user.isEmpty() || user.equals(r.user()))
        && (includeFinished || !ReservationRecord.MACHINE.isTerminal(r.state()));
  }

  /**
   * Cancels: stops the job running in it (CANCELLED, with an event naming the reservation),
   * releases every participant, frees the GRC's holds and leases. Idempotent: an ended or
   * cancelled reservation is returned unchanged. Blocks until done (bounded by the call timeout
   * per participant).
   */
  public Reservation cancel(String id) {
    ReservationRecord r = record(id);
    end(r, RESERVATION_CANCELLED, "reservation " + id + " was cancelled by its user");
    return r.toProto();
  }

  /** The most nodes of the site reservations hold at any instant from now on. */
  public long peakNodesFromNow(String site) {
    return allocator.peakNodes(site, clock.instant());
  }

  /** Nodes of the site held by reservations now (for ListSites). */
  public int nodesInUse(String site) {
    if (allocator.topology().site(site).isEmpty()) {
      return 0;
    }
    return (int) allocator.nodesInUse(site, clock.instant());
  }

  // ------------------------------------------------------------------ jobs

  /**
   * Binds a job to a reservation. NOT_FOUND for an unknown reservation or another user's;
   * FAILED_PRECONDITION when it ended or another job is live in it.
   */
  public ReservationRecord bindJob(String reservationId, String jobId, String user) {
    ReservationRecord r = record(reservationId);
    if (!r.user().equals(user)) {
      throw Errors.notFound("user '" + user + "' has no reservation '" + reservationId + "'");
    }
    if (r.isEnding() || !clock.instant().isBefore(r.window().end())) {
      throw Errors.precondition("reservation " + reservationId + " has ended ("
          + ProtoNames.shortName(r.state())
          + (r.message().isEmpty() ? "" : ": " + r.message()) + ")");
    }
    if (!r.bind(jobId)) {
      throw Errors.precondition("reservation " + reservationId + " is in use by job "
          + r.liveJob() + "; one job runs in a reservation at a time");
    }
    return r;
  }

  /** The job ended: unbinds it, and ends a reservation that was made for it. */
  public void jobEnded(ReservationRecord r, String jobId) {
    r.unbind(jobId);
    if (jobId.equals(r.ownJob())) {
      end(r, RESERVATION_ENDED, "its job " + jobId + " ended");
    }
  }

  // ------------------------------------------------------------------ making one

  private ReservationRecord make(ReservationSpec spec, String ownJob, boolean exactWindow) {
    if (stopping) {
      throw shuttingDown("no reservation was made");
    }
    Instant now = clock.instant();
    Request request = request(spec, now, exactWindow);
    String id;
    Plan plan;
    Map<String, Ipv4Cidr> ranges;
    synchronized (this) {
      syncSites();
      try {
        plan = allocator.find(request, now);
      } catch (Errors.RequestException e) {
        throw renamed(e);
      }
      Instant horizon = now.plus(settings.limits().maxHorizon());
      if (plan.window().start().isAfter(horizon)) {
        throw Errors.precondition("no window starts within max_horizon ("
            + format(settings.limits().maxHorizon()) + ", until " + horizon + "): the earliest"
            + " free one starts " + plan.window().start());
      }
      id = Ids.fresh("r", x -> store.contains(x) || addresses.holds(x));
      Map<Site, Integer> sites = new LinkedHashMap<>();
      plan.nodes().forEach((name, n) -> sites.put(registry.require(name), n));
      ranges = addresses.allocate(id, sites);
      try {
        // Only the nodes: the network manager holds the bandwidth on the same link calendars.
        allocator.hold(id, new Plan(plan.window(), plan.nodes(), Map.of(), Map.of()));
      } catch (RuntimeException e) {
        addresses.release(id);
        throw e;
      }
    }
    List<TwoPhaseCommit.Participant> participants = participants(id, plan, ranges, spec.getUser());
    Pending p = new Pending(participants);
    pending.put(id, p);
    try {
      if (stopping) { // stop() may have looked before this one was registered
        undoOwnHolds(id);
        throw shuttingDown("no reservation was made");
      }
      return commitAndRecord(id, spec, ownJob, now, plan, ranges, participants, p);
    } finally {
      pending.remove(id);
      p.done.complete(null);
    }
  }

  private ReservationRecord commitAndRecord(String id, ReservationSpec spec, String ownJob,
      Instant now, Plan plan, Map<String, Ipv4Cidr> ranges,
      List<TwoPhaseCommit.Participant> participants, Pending p) {
    Window w = plan.window();
    TwoPhaseCommit.Outcome outcome;
    try {
      outcome = twoPhase.run(id, w, participants).get(
          settings.callTimeout().multipliedBy(3).toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException | ExecutionException | TimeoutException e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      participants.forEach(x -> x.manager().abort(id));
      undoOwnHolds(id);
      count(TwoPhaseResult.FAILED);
      throw Errors.unavailable("reservation " + id + " could not be completed: " + e);
    }
    boolean abandoned;
    synchronized (p) {
      abandoned = p.abandoned;
      p.recording = !abandoned && outcome.committed();
    }
    if (abandoned) {
      // stop() has sent abort everywhere; a participant that committed first is released.
      List<String> problems = outcome.committed() ? releaseAll(id, participants) : List.of();
      if (problems.isEmpty()) {
        undoOwnHolds(id);
      } else {
        // The lease stays recorded: the next start releases it at every site (GrcRecovery).
        allocator.release(id);
        problems.forEach(x -> log.warn("reservation {}: {}", id, x));
      }
      count(TwoPhaseResult.ABANDONED);
      throw shuttingDown("reservation " + id + " was aborted, nothing is held");
    }
    if (!outcome.committed()) {
      undoOwnHolds(id);
      count(TwoPhaseResult.REFUSED);
      throw refusal(outcome);
    }
    Map<String, String> bridges = plan.bandwidth().isEmpty() ? Map.of() : network.siteBridges(id);
    long bps = spec.hasBandwidthBps() && plan.nodes().size() > 1 ? spec.getBandwidthBps() : 0;
    ReservationRecord r = new ReservationRecord(id, spec, spec.getUser(), w, plan.nodes(), ranges,
        bps, bridges, now, ownJob, plan.bandwidth());
    try {
      store.add(r); // durable before the caller is told
    } catch (RuntimeException e) {
      participants.forEach(x -> x.manager().release(id));
      undoOwnHolds(id);
      count(TwoPhaseResult.FAILED);
      throw Errors.unavailable("reservation " + id + " could not be recorded, nothing is held: "
          + e.getMessage());
    }
    log.info("reservation {} for {}: {} in {}{}{}", id, spec.getUser(), r.placement(), w,
        bps > 0 ? ", " + Quantities.formatRate(bps) : "",
        bridges.isEmpty() ? "" : ", bridges " + bridges);
    count(TwoPhaseResult.COMMITTED);
    armTimers(r);
    if (!outcome.problems().isEmpty()) {
      r.setMessage("commit not acknowledged yet (retrying): " + String.join("; ",
          outcome.problems()));
      retryCommits(r, participants, now.plus(settings.holdTime()));
    }
    return r;
  }

  private void armTimers(ReservationRecord r) {
    Window w = r.window();
    r.startTimer = Timers.at(scheduler, clock, w.start(), () -> {
      r.activate();
      lifecycle.started(r);
    });
    r.endTimer = Timers.at(scheduler, clock, w.end(), () -> workers.execute(() -> end(r,
        RESERVATION_ENDED, "its window ended at " + w.end())));
  }

  // ------------------------------------------------------------------ restart

  /**
   * After a GRC restart, before serving (sites and leases are restored already): every recorded
   * reservation that had not ended holds its nodes and bandwidth in the GRC's calendars again,
   * its timers are re-armed and its commit is sent again to its CRMs (idempotent there; a CRM
   * that lost the hold ends it). One whose window ended while the GRC was down, or that was made
   * for a job (no job survives a restart), is ended in the background (released at every
   * participant, then its leases freed).
   *
   * @return ids of the reservations that had not ended (their leases belong to them)
   */
  public java.util.Set<String> recover() {
    Instant now = clock.instant();
    java.util.Set<String> live = new java.util.TreeSet<>();
    Map<ReservationRecord, String> toEnd = new LinkedHashMap<>();
    synchronized (this) {
      syncSites();
      for (ReservationRecord r : store.list()) {
        if (ReservationRecord.MACHINE.isTerminal(r.state())) {
          continue;
        }
        live.add(r.id());
        if (!now.isBefore(r.window().end())) {
          toEnd.put(r, "its window ended at " + r.window().end() + " while the GRC was down");
          continue;
        }
        if (r.ownJob() != null) {
          toEnd.put(r, "its job " + r.ownJob() + " ended (the GRC restarted)");
          continue;
        }
        try {
          allocator.hold(r.id(), new Plan(r.window(), r.siteNodes(), Map.of(), Map.of()));
          if (!r.pairBps().isEmpty()) {
            network.restore(r.id(), r.window(), new Ask.Bandwidth(r.pairBps()));
          }
        } catch (RuntimeException e) {
          toEnd.put(r, "it could not be held again after the GRC restarted: " + e.getMessage());
          continue;
        }
        armTimers(r);
        List<TwoPhaseCommit.Participant> crms = new ArrayList<>();
        r.siteNodes().forEach((site, n) -> crms.add(new TwoPhaseCommit.Participant(
            new CrmParticipant(site, clients, r.ranges().get(site), r.user(), workers),
            new Ask.Nodes(site, n))));
        if (!r.pairBps().isEmpty()) {
          // the network may not have acknowledged the commit either (e.g. an NSI connection
          // still held at the provider): it is re-sent the commit too (idempotent once done)
          crms.add(new TwoPhaseCommit.Participant(network, new Ask.Bandwidth(r.pairBps())));
        }
        retryCommits(r, crms, now.plus(settings.holdTime()));
      }
    }
    if (!live.isEmpty()) {
      log.info("restart: {} reservation(s) recorded as live: {}; ending {} of them", live.size(),
          live, toEnd.size());
    }
    toEnd.forEach((r, why) -> workers.execute(() -> end(r, RESERVATION_ENDED, why)));
    return live;
  }

  private List<TwoPhaseCommit.Participant> participants(String id, Plan plan,
      Map<String, Ipv4Cidr> ranges, String user) {
    List<TwoPhaseCommit.Participant> ps = new ArrayList<>();
    // Routed sites: each CRM builds its end of the overlay, planned here and sent in its Prepare.
    Map<String, org.lambdagrid.proto.v1.ReservationOverlay> overlays = plan.bandwidth().isEmpty()
        ? Map.of() : network.siteOverlays(id, plan.bandwidth());
    plan.nodes().forEach((site, n) -> ps.add(new TwoPhaseCommit.Participant(
        new CrmParticipant(site, clients, ranges.get(site), user, workers, overlays.get(site)),
        new Ask.Nodes(site, n))));
    if (!plan.bandwidth().isEmpty()) {
      ps.add(new TwoPhaseCommit.Participant(network, new Ask.Bandwidth(plan.bandwidth())));
    }
    return ps;
  }

  /** The request in the allocator's terms; input it cannot name well is refused here. */
  private Request request(ReservationSpec spec, Instant now, boolean exactWindow) {
    Map<String, Integer> nodes = new TreeMap<>(spec.getSiteNodesMap());
    if (nodes.isEmpty() && spec.getTotalNodes() == 0) {
      throw Errors.invalid("spec.site_nodes", "", "is empty; ask for nodes on at least one site"
          + " (or a spec.total_nodes)");
    }
    for (Map.Entry<String, Integer> e : nodes.entrySet()) {
      if (e.getValue() < 1) {
        throw Errors.invalid("spec.site_nodes[" + e.getKey() + "]", e.getValue(),
            "must be at least 1");
      }
      Site s = registry.require(e.getKey());
      if (e.getValue() > s.nodeCapacity()) {
        throw Errors.invalid("spec.site_nodes[" + e.getKey() + "]", e.getValue(),
            "is more nodes than site '" + e.getKey() + "' has (capacity " + s.nodeCapacity() + ")");
      }
    }
    if (spec.hasCpus()) {
      NodeShape.checkCpus("spec.cpus", spec.getCpus());
    }
    if (spec.hasMemoryBytes()) {
      NodeShape.checkMemory("spec.memory_bytes", spec.getMemoryBytes());
    }
    if (spec.hasBandwidthBps() && spec.getBandwidthBps() <= 0) {
      throw Errors.invalid("spec.bandwidth_bps", spec.getBandwidthBps(), "must be positive (leave"
          + " it unset for no bandwidth)");
    }
    Duration duration = spec.hasDuration() ? ProtoTime.fromProto(spec.getDuration())
        : settings.defaultDuration();
    if (duration.isNegative() || duration.isZero()) {
      throw Errors.invalid("spec.duration", format(duration), "must be positive");
    }
    Limits limits = settings.limits();
    if (duration.compareTo(limits.maxDuration()) > 0) {
      throw Errors.invalid("spec.duration", format(duration), "is longer than the GRC grants"
          + " (max_duration " + format(limits.maxDuration()) + ")");
    }
    Instant start = spec.hasStart() ? instant("spec.start", spec.getStart()) : now;
    if (spec.hasStart() && start.isBefore(now) && !start.isBefore(now.minus(
        CoAllocator.DEFAULT_CLOCK_SKEW))) {
      start = now; // within the clock skew: "now"
    }
    Instant horizon = now.plus(limits.maxHorizon());
    if (start.isAfter(horizon)) {
      throw Errors.invalid("spec.start", start, "is further ahead than the GRC grants (max_horizon "
          + format(limits.maxHorizon()) + ": no window may start after " + horizon + ")");
    }
    Instant deadline = spec.hasDeadline() ? instant("spec.deadline", spec.getDeadline()) : null;
    if (deadline != null && !deadline.isAfter(start)) {
      throw Errors.invalid("spec.deadline", deadline, "is not after the start " + start
          + ": the end must come after the start");
    }
    if (exactWindow) {
      deadline = start.plus(duration);
    }
    OptionalLong bps = spec.hasBandwidthBps() ? OptionalLong.of(spec.getBandwidthBps())
        : OptionalLong.empty();
    if (nodes.size() == 1 && spec.getTotalNodes() == 0) {
      bps = OptionalLong.empty(); // one site: no pair to carry bandwidth between
    }
    return new Request(nodes, spec.getTotalNodes(), bps, duration, start, deadline);
  }

  /** A timestamp from a request; one outside what java.time represents is INVALID_ARGUMENT. */
  private static Instant instant(String field, com.google.protobuf.Timestamp t) {
    try {
      return ProtoTime.fromProto(t);
    } catch (java.time.DateTimeException e) {
      throw Errors.invalid(field, t.getSeconds() + "s", "is not a representable time");
    }
  }

  private static String format(Duration d) {
    try {
      return Quantities.formatDuration(d);
    } catch (ArithmeticException tooLong) {
      return d.getSeconds() + "s";
    }
  }

  private static final Pattern FIELD = Pattern.compile("^(duration|earliestStart|deadline"
      + "|bandwidthBps|totalNodes|nodesPerSite\\.([a-z][a-z0-9-]*)):");

  /** The allocator names its own fields; users know the request's. */
  private static Errors.RequestException renamed(Errors.RequestException e) {
    Matcher m = FIELD.matcher(e.getMessage());
    if (!m.find()) {
      return e;
    }
    String f = switch (m.group(1)) {
      case "duration" -> "spec.duration";
      case "earliestStart" -> "spec.start";
      case "deadline" -> "spec.deadline";
      case "bandwidthBps" -> "spec.bandwidth_bps";
      case "totalNodes" -> "spec.total_nodes";
      default -> "spec.site_nodes[" + m.group(2) + "]";
    };
    return new Errors.RequestException(e.code(), f + ":" + e.getMessage().substring(m.end()));
  }

  private static Errors.RequestException refusal(TwoPhaseCommit.Outcome o) {
    Status.Code code = Status.Code.FAILED_PRECONDITION;
    for (Vote v : o.votes().values()) {
      if (!v.isPrepared()) {
        code = v.kind() == Vote.Kind.TIMED_OUT ? Status.Code.DEADLINE_EXCEEDED : v.code();
        break;
      }
    }
    if (code == Status.Code.UNKNOWN || code == Status.Code.INTERNAL) {
      code = Status.Code.UNAVAILABLE;
    }
    return new Errors.RequestException(code, "reservation refused, nothing is held: "
        + String.join("; ", o.problems()));
  }

  /** Keeps the allocator's site capacities equal to the registered ones. */
  /** The registry's version the allocator's sites last matched; under this service's lock. */
  private long sitesSynced = -1;

  /** Brings the allocator's sites up to the registry's (only when a site registered since). */
  private void syncSites() {
    long v = registry.version();
    if (v == sitesSynced) {
      return;
    }
    for (Site s : registry.list()) {
      allocator.setSite(s.name(), s.nodeCapacity());
    }
    sitesSynced = v;
  }

  private void undoOwnHolds(String id) {
    allocator.release(id);
    addresses.release(id);
  }

  // ------------------------------------------------------------------ commit retries

  private void retryCommits(ReservationRecord r, List<TwoPhaseCommit.Participant> ps,
      Instant until) {
    Duration every = settings.holdTime().dividedBy(8);
    if (every.compareTo(Duration.ofMillis(100)) < 0) {
      every = Duration.ofMillis(100);
    }
    if (every.compareTo(Duration.ofSeconds(5)) > 0) {
      every = Duration.ofSeconds(5);
    }
    Duration delay = every;
    r.commitRetry = scheduler.schedule(() -> workers.execute(() -> {
      if (r.isEnding()) {
        return;
      }
      List<String> still = new ArrayList<>();
      for (TwoPhaseCommit.Participant p : ps) {
        try {
          p.manager().commit(r.id()).get(settings.callTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
          Throwable c = e.getCause();
          Status.Code code = CallErrors.code(c);
          if (code == Status.Code.FAILED_PRECONDITION || code == Status.Code.NOT_FOUND) {
            end(r, RESERVATION_ENDED, p.manager().name() + " lost its hold before the commit"
                + " reached it: " + CallErrors.describe(c));
            return;
          }
          still.add(p.manager().name() + ": " + CallErrors.describe(c));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        } catch (TimeoutException e) {
          still.add(p.manager().name() + " did not answer commit");
        }
      }
      if (still.isEmpty()) {
        r.setMessage("");
        log.info("reservation {}: every participant acknowledged the commit", r.id());
      } else if (clock.instant().plus(delay).isAfter(until)) {
        end(r, RESERVATION_ENDED, "the commit was not acknowledged before the hold time ran out: "
            + String.join("; ", still));
      } else {
        retryCommits(r, ps, until);
      }
    }), delay.toMillis(), TimeUnit.MILLISECONDS);
  }

  // ------------------------------------------------------------------ ending

  /**
   * Ends the reservation once: stops its live job, releases every participant (in parallel,
   * each bounded by the call timeout), enters {@code to} (recorded), then frees the GRC's holds
   * and leases. Later calls return at once.
   */
  void end(ReservationRecord r, ReservationState to, String why) {
    if (!r.beginEnding()) {
      return;
    }
    log.info("reservation {} ending ({}): {}", r.id(), ProtoNames.shortName(to), why);
    Timers.cancel(r.startTimer, false);
    Timers.cancel(r.endTimer, false);
    Timers.cancel(r.commitRetry, false);
    try {
      String jobWhy = to == RESERVATION_CANCELLED
          ? "reservation " + r.id() + " was cancelled; the job was stopped"
          : "reservation " + r.id() + " ended (" + why + ") before the command finished; the job"
              + " was stopped";
      lifecycle.ending(r, to == RESERVATION_CANCELLED, jobWhy);
    } catch (RuntimeException e) {
      log.warn("reservation {}: stopping its job and guests failed: {}", r.id(), e.toString());
    }
    Map<String, String> problems = release(r, why);
    // Recorded ended before the lease is freed: a restart in between finds an ended reservation
    // with a lease and releases it again (GrcRecovery), never a live one without its lease.
    r.finish(to, problems.isEmpty() ? why : why + " (release: "
        + String.join("; ", problems.values()) + ")");
    java.util.Set<String> unconfirmed = new java.util.TreeSet<>();
    problems.keySet().stream().filter(n -> n.startsWith("site:"))
        .forEach(n -> unconfirmed.add(n.substring("site:".length())));
    Drainer d = drainer;
    allocator.release(r.id());
    if (unconfirmed.isEmpty() || d == null) {
      addresses.release(r.id());
    } else {
      log.warn("reservation {}: sites {} did not confirm its release; its address lease stays"
          + " until they do (retried in the background)", r.id(), unconfirmed);
      d.drainLater(r.id(), unconfirmed);
    }
  }

  /** Releases every participant, bounded; participant name -> problem for those that failed. */
  private Map<String, String> release(ReservationRecord r, String why) {
    Map<String, CompletableFuture<Void>> calls = new LinkedHashMap<>();
    for (String site : r.siteNodes().keySet()) {
      calls.put("site:" + site, new CrmParticipant(site, clients, r.ranges().get(site), r.user(),
          workers).release(r.id(), why));
    }
    calls.put(network.name(), CompletableFuture.supplyAsync(() -> network.release(r.id()),
        workers).thenCompose(f -> f));
    Map<String, String> problems = new LinkedHashMap<>();
    long deadline = System.nanoTime() + settings.callTimeout().plusSeconds(1).toNanos();
    calls.forEach((name, f) -> {
      try {
        f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        problems.put(name, name + ": interrupted");
      } catch (ExecutionException e) {
        problems.put(name, name + " failed release: " + CallErrors.describe(e.getCause()));
      } catch (TimeoutException e) {
        problems.put(name, name + " did not acknowledge release within "
            + settings.callTimeout());
      }
    });
    problems.values().forEach(p -> log.warn("reservation {}: {}", r.id(), p));
    return problems;
  }

  private static Errors.RequestException shuttingDown(String what) {
    return Errors.unavailable("the GRC is shutting down; " + what + " (try again once it is"
        + " back)");
  }

  /** Releases every participant of an unrecorded reservation, bounded; the problems. */
  private List<String> releaseAll(String id, List<TwoPhaseCommit.Participant> participants) {
    List<String> problems = new ArrayList<>();
    long deadline = System.nanoTime() + settings.callTimeout().plusSeconds(1).toNanos();
    Map<String, CompletableFuture<Void>> calls = new LinkedHashMap<>();
    for (TwoPhaseCommit.Participant x : participants) {
      try {
        calls.put(x.manager().name(), x.manager().release(id));
      } catch (RuntimeException e) {
        problems.add(x.manager().name() + " failed release: " + e);
      }
    }
    calls.forEach((name, f) -> {
      try {
        f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        problems.add(name + ": interrupted");
      } catch (ExecutionException e) {
        problems.add(name + " failed release: " + CallErrors.describe(e.getCause()));
      } catch (TimeoutException e) {
        problems.add(name + " did not acknowledge release within " + settings.callTimeout());
      }
    });
    return problems;
  }

  /**
   * The GRC is stopping and keeps its state: recorded reservations are left as they are (the
   * next start restores them, see {@link #recover}). New reservations are refused
   * (UNAVAILABLE), and one still in its two-phase commit is aborted at every participant (a
   * participant that committed first is released) and never recorded; this waits, bounded,
   * until each has undone its holds, or has been recorded if it was being recorded already.
   */
  public void stop(String why) {
    stopping = true;
    List<CompletableFuture<Void>> waits = new ArrayList<>();
    for (Map.Entry<String, Pending> e : pending.entrySet()) {
      Pending p = e.getValue();
      waits.add(p.done);
      synchronized (p) {
        if (p.recording) {
          continue;
        }
        p.abandoned = true;
      }
      String id = e.getKey();
      log.info("reservation {}: aborted in its two-phase commit ({})", id, why);
      for (TwoPhaseCommit.Participant x : p.participants) {
        try {
          x.manager().abort(id);
        } catch (RuntimeException ex) {
          log.warn("reservation {}: abort at {} failed: {}", id, x.manager().name(), ex.toString());
        }
      }
    }
    long deadline = System.nanoTime()
        + settings.callTimeout().multipliedBy(4).plusSeconds(2).toNanos();
    for (CompletableFuture<Void> f : waits) {
      try {
        f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (ExecutionException | TimeoutException e) {
        log.warn("a reservation in its two-phase commit did not finish before the GRC stopped;"
            + " its lease stays recorded and the next start releases it");
        return;
      }
    }
  }

  /**
   * Ends every live reservation (a GRC without durable state is shutting down: nothing would
   * bring them back), releasing every participant; first as {@link #stop}.
   */
  public void shutdown(String why) {
    stop(why);
    for (ReservationRecord r : store.list()) {
      if (!r.isEnding()) {
        end(r, RESERVATION_ENDED, why);
      }
    }
  }

  @Override
  public void close() {
    shutdown("the GRC shut down");
  }
}
