package org.lambdagrid.grc.reservation;

import static org.lambdagrid.proto.v1.ReservationState.RESERVATION_ACTIVE;
import static org.lambdagrid.proto.v1.ReservationState.RESERVATION_CANCELLED;
import static org.lambdagrid.proto.v1.ReservationState.RESERVATION_ENDED;
import static org.lambdagrid.proto.v1.ReservationState.RESERVATION_RESERVED;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.StateMachine;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.grc.support.StoredRecord;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.GuestsState;
import org.lambdagrid.proto.v1.PrebuiltGuests;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;

/**
 * One committed reservation at the GRC: its window, what every participant holds, and the jobs
 * that use it. Created only after the two-phase commit committed; what failed before is never
 * stored (the caller got the refusal).
 *
 * <pre>
 *   RESERVED --(window starts)--> ACTIVE --(window ends, or its own job ended)--> ENDED
 *       |                           |
 *       +---------(cancel)----------+--------------------------------------------> CANCELLED
 *       +--(its own job ended before the start)--> ENDED
 * </pre>
 *
 * <p>Thread-safe: mutable state is guarded by this object.
 */
public final class ReservationRecord implements StoredRecord {
  public static final StateMachine<ReservationState> MACHINE =
      StateMachine.builder(ReservationState.class)
          .allow(RESERVATION_RESERVED, RESERVATION_ACTIVE, RESERVATION_ENDED, RESERVATION_CANCELLED)
          .allow(RESERVATION_ACTIVE, RESERVATION_ENDED, RESERVATION_CANCELLED)
          .terminal(RESERVATION_ENDED, RESERVATION_CANCELLED)
          .build();

  private final String id;
  private final ReservationSpec spec;
  private final String user;
  private final Window window;
  private final Map<String, Integer> siteNodes;
  private final Map<String, Ipv4Cidr> ranges;
  private final long bandwidthBps;
  private final Map<String, String> bridges;
  private final Instant createdAt;
  private final String ownJob; // the job SubmitJob made this reservation for, or null
  private final Map<org.lambdagrid.common.reservation.SitePair, Long> pairBps;
  /** Called (under this monitor) after every change; set by a durable {@link ReservationStore}. */
  private volatile java.util.function.Consumer<ReservationRecord> persister = r -> { };

  private ReservationState state = RESERVATION_RESERVED;
  private String message = "";
  private final List<String> jobIds = new ArrayList<>();
  private String liveJob;
  private boolean ending;
  private PrebuiltGuests guests = PrebuiltGuests.getDefaultInstance();

  volatile Future<?> startTimer;
  volatile Future<?> endTimer;
  volatile Future<?> commitRetry;

  ReservationRecord(String id, ReservationSpec spec, String user, Window window,
      Map<String, Integer> siteNodes, Map<String, Ipv4Cidr> ranges, long bandwidthBps,
      Map<String, String> bridges, Instant createdAt, String ownJob) {
    this(id, spec, user, window, siteNodes, ranges, bandwidthBps, bridges, createdAt, ownJob,
        Map.of());
  }

  /** @param pairBps the bandwidth the network holds per site pair (empty: none) */
  ReservationRecord(String id, ReservationSpec spec, String user, Window window,
      Map<String, Integer> siteNodes, Map<String, Ipv4Cidr> ranges, long bandwidthBps,
      Map<String, String> bridges, Instant createdAt, String ownJob,
      Map<org.lambdagrid.common.reservation.SitePair, Long> pairBps) {
    this.pairBps = Map.copyOf(pairBps);
    this.id = id;
    this.spec = spec;
    this.user = user;
    this.window = window;
    this.siteNodes = Map.copyOf(new TreeMap<>(siteNodes));
    this.ranges = Map.copyOf(new TreeMap<>(ranges));
    this.bandwidthBps = bandwidthBps;
    this.bridges = Map.copyOf(bridges);
    this.createdAt = createdAt;
    this.ownJob = ownJob;
  }

  @Override
  public String id() {
    return id;
  }

  public ReservationSpec spec() {
    return spec;
  }

  @Override
  public String user() {
    return user;
  }

  @Override
  public String clientToken() {
    return spec.getClientToken();
  }

  public Window window() {
    return window;
  }

  /** Nodes per site, sorted by site name. */
  public Map<String, Integer> siteNodes() {
    return new TreeMap<>(siteNodes);
  }

  /** Sub-range per site, sorted by site name. */
  public Map<String, Ipv4Cidr> ranges() {
    return new TreeMap<>(ranges);
  }

  /** "a: 2 nodes in 10.10.0.0/30, b: 1 node in 10.10.0.4/30": nodes and sub-range per site. */
  public String placement() {
    return siteNodes.keySet().stream().sorted().map(s -> s + ": " + siteNodes.get(s)
        + (siteNodes.get(s) == 1 ? " node in " : " nodes in ") + ranges.get(s))
        .collect(Collectors.joining(", "));
  }

  public long bandwidthBps() {
    return bandwidthBps;
  }

  /** Site -> the reservation's bridge there; empty with a provider that builds none. */
  public Map<String, String> bridges() {
    return bridges;
  }

  @Override
  public Instant createdAt() {
    return createdAt;
  }

  /** The job this reservation was made for by SubmitJob (it ends with the job), or null. */
  public String ownJob() {
    return ownJob;
  }

  /** Bit/s the network holds per site pair, sorted; empty without bandwidth. */
  public Map<org.lambdagrid.common.reservation.SitePair, Long> pairBps() {
    return new TreeMap<>(pairBps);
  }

  /**
   * Makes a durable store see every later change: {@code p} is called under this record's
   * monitor after each one and must write it before returning.
   */
  void persistWith(java.util.function.Consumer<ReservationRecord> p) {
    persister = p;
  }

  /** A reservation read back from a durable store after a restart, as recorded. */
  static ReservationRecord restore(Reservation p, String ownJob,
      Map<org.lambdagrid.common.reservation.SitePair, Long> pairBps) {
    Map<String, Ipv4Cidr> ranges = new TreeMap<>();
    p.getSiteRangesMap().forEach((s, r) -> ranges.put(s, Ipv4Cidr.parse(r.getCidr())));
    ReservationRecord r = new ReservationRecord(p.getId(), p.getSpec(), p.getSpec().getUser(),
        new Window(ProtoTime.fromProto(p.getStart()), ProtoTime.fromProto(p.getEnd())),
        p.getSiteNodesMap(), ranges, p.getBandwidthBps(), p.getSiteBridgesMap(),
        ProtoTime.fromProto(p.getCreatedAt()), ownJob, pairBps);
    synchronized (r) {
      r.state = p.getState();
      r.message = p.getMessage();
      r.jobIds.addAll(p.getJobIdsList());
      r.guests = p.getGuests();
    }
    return r;
  }

  public synchronized ReservationState state() {
    return state;
  }

  public synchronized String message() {
    return message;
  }

  /**
   * Whether the guests are built at the window's start ({@code ReservationSpec.prebuild}, unset
   * = yes). Never for a reservation SubmitJob made for its job: that job builds them at once.
   */
  public boolean prebuild() {
    return ownJob == null && (!spec.hasPrebuild() || spec.getPrebuild());
  }

  /** The pre-built guests' state (see grc.proto {@code PrebuiltGuests}). */
  public synchronized PrebuiltGuests guests() {
    return guests;
  }

  /** Records the pre-built guests' state (persisted: a restart releases a recorded share). */
  public synchronized void setGuests(GuestsState state, String message, String shareId) {
    guests = PrebuiltGuests.newBuilder().setState(state).setMessage(message)
        .setShareId(shareId).build();
    persister.accept(this);
  }

  /** The jobs bound to it so far, in order. */
  public synchronized List<String> jobIds() {
    return List.copyOf(jobIds);
  }

  public synchronized String liveJob() {
    return liveJob;
  }

  synchronized void activate() {
    if (state == RESERVATION_RESERVED) {
      state = MACHINE.check(state, RESERVATION_ACTIVE);
      persister.accept(this);
    }
  }

  /** Marks the start of ending; false if it was already ending or ended. */
  synchronized boolean beginEnding() {
    if (ending || MACHINE.isTerminal(state)) {
      return false;
    }
    ending = true;
    return true;
  }

  /** Whether it is ending or ended: no job starts in it and no guests are built for it. */
  public synchronized boolean isEnding() {
    return ending || MACHINE.isTerminal(state);
  }

  synchronized void finish(ReservationState to, String why) {
    state = MACHINE.check(state, to);
    message = why;
    persister.accept(this);
  }

  synchronized void setMessage(String m) {
    message = m;
    persister.accept(this);
  }

  /**
   * Binds a job; false if another job is live in it. FAILED_PRECONDITION once it is ending (so
   * a job cannot slip in after the ending reservation stopped its jobs).
   */
  synchronized boolean bind(String jobId) {
    if (ending || MACHINE.isTerminal(state)) {
      throw org.lambdagrid.common.Errors.precondition("reservation " + id + " has ended ("
          + ProtoNames.shortName(state) + (message.isEmpty() ? "" : ": " + message) + ")");
    }
    if (liveJob != null && !liveJob.equals(jobId)) {
      return false;
    }
    liveJob = jobId;
    if (!jobIds.contains(jobId)) {
      jobIds.add(jobId);
      persister.accept(this);
    }
    return true;
  }

  synchronized void unbind(String jobId) {
    if (jobId.equals(liveJob)) {
      liveJob = null;
    }
  }

  public synchronized Reservation toProto() {
    Reservation.Builder b = Reservation.newBuilder().setId(id).setSpec(spec).setState(state)
        .setStart(ProtoTime.toProto(window.start())).setEnd(ProtoTime.toProto(window.end()))
        .putAllSiteNodes(siteNodes).setBandwidthBps(bandwidthBps).putAllSiteBridges(bridges)
        .setCreatedAt(ProtoTime.toProto(createdAt)).setMessage(message).addAllJobIds(jobIds)
        .setGuests(guests);
    ranges.forEach((s, r) -> b.putSiteRanges(s, AddressRange.newBuilder().setCidr(r.toString())
        .build()));
    return b.build();
  }
}
