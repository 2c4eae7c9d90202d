package org.lambdagrid.grc.timeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.grc.job.JobCoordinator;
import org.lambdagrid.grc.job.JobRecord;
import org.lambdagrid.grc.job.JobStates;
import org.lambdagrid.grc.reservation.CoAllocator;
import org.lambdagrid.grc.reservation.ReservationRecord;
import org.lambdagrid.grc.reservation.ReservationService;
import org.lambdagrid.grc.reservation.Topology;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.GuestsState;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.Reservation;

/**
 * What the timeline page shows, as JSON, read from the GRC's cores at each call: the sites and
 * inter-site links (capacity, and what reservations hold now), the reservations and jobs whose
 * time overlaps a span, and one job's phase-by-phase view. Every user's reservations and jobs
 * (the operator's view; {@link TimelinePage} serves it to operators only). Instants are
 * epoch milliseconds; states are the protocol's short names (ACTIVE, RUNNING, ...).
 *
 * <p>Bounded: a span is at most {@link #MAX_SPAN}; at most {@link #MAX_ITEMS} reservations and as
 * many jobs per answer (the newest; {@code more} counts those left out); a job's view holds its
 * latest {@link #MAX_EVENTS} events. A snapshot still looks at every job and reservation the
 * GRC holds in memory, but only at what the record keeps at hand (window, creation, when it
 * started and ended: {@link JobRecord#times}); it copies no job's events and builds a row only
 * for the at most {@link #MAX_ITEMS} of each that overlap the span. Stateless and thread-safe
 * (the cores are).
 *
 * <pre>
 * snapshot: {now, from, to,
 *   sites: [{name, nodes, nodesReservedNow}],
 *   links: [{id, a, b, capacityBps, reservedNowBps}],
 *   reservations: [{id, user, state, start, end, endedAt?, siteNodes: {site: n}, bandwidthBps,
 *                   linkBps: {link: bps}, jobs: [id], guests, message}],
 *   jobs: [{id, user, state, reservation, sites: {site: n}, command, submitted, scheduledStart,
 *           scheduledEnd, started?, ended?, exitCode?, message}],
 *   more: {reservations, jobs}}
 * job: {the job's fields as above, phases: [{state, phase, start, end?, durationMs, nodeEvents,
 *       message}], events: [{seq, time, site, host, kind: job|node, state, phase, message}],
 *       eventsLeftOut}
 * </pre>
 */
public final class Timeline {
  /** The longest span one snapshot covers. */
  public static final Duration MAX_SPAN = Duration.ofDays(7);
  /** The span the page shows when it names none. */
  public static final Duration DEFAULT_SPAN = Duration.ofMinutes(30);
  /** Reservations, and jobs, per snapshot. */
  public static final int MAX_ITEMS = 500;
  /** Events in one job's view (its latest). */
  public static final int MAX_EVENTS = 500;
  /** A job's command is cut to this many characters. */
  static final int MAX_COMMAND = 200;

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Clock clock;
  private final SiteRegistry sites;
  private final CoAllocator allocator;
  private final ReservationService reservations;
  private final JobCoordinator jobs;
  private final int maxItems;

  public Timeline(Clock clock, SiteRegistry sites, CoAllocator allocator,
      ReservationService reservations, JobCoordinator jobs) {
    this(clock, sites, allocator, reservations, jobs, MAX_ITEMS);
  }

  /** @param maxItems reservations, and jobs, per snapshot (tests use a few) */
  Timeline(Clock clock, SiteRegistry sites, CoAllocator allocator,
      ReservationService reservations, JobCoordinator jobs, int maxItems) {
    this.maxItems = maxItems;
    this.clock = clock;
    this.sites = sites;
    this.allocator = allocator;
    this.reservations = reservations;
    this.jobs = jobs;
  }

  public Instant now() {
    return clock.instant();
  }

  /**
   * The span {@code [now - span/4, now + 3 span/4)}: the page keeps "now" a quarter in, so it
   * needs no clock of its own.
   *
   * @throws IllegalArgumentException if {@code span} is not positive or longer than
   *     {@link #MAX_SPAN}
   */
  public static Span around(Instant now, Duration span) {
    checkSpan(span);
    Instant from = now.minus(span.dividedBy(4));
    return new Span(from, from.plus(span));
  }

  /** A span between two instants, checked as {@link #around} checks it. */
  public static Span between(Instant from, Instant to) {
    checkSpan(Duration.between(from, to));
    return new Span(from, to);
  }

  private static void checkSpan(Duration span) {
    if (span.isNegative() || span.isZero()) {
      throw new IllegalArgumentException("the span must be positive, got " + span);
    }
    if (span.compareTo(MAX_SPAN) > 0) {
      throw new IllegalArgumentException("the span may be at most " + MAX_SPAN.toDays()
          + " days, got " + span);
    }
  }

  /** A span to show: {@code [from, to)}. */
  public record Span(Instant from, Instant to) {
    boolean overlaps(Instant start, Instant end) {
      return start.isBefore(to) && end.isAfter(from);
    }
  }

  /** Sites, links, and the reservations and jobs that overlap {@code span}. */
  public ObjectNode snapshot(Span span) {
    Instant now = clock.instant();
    ObjectNode out = JSON.createObjectNode();
    out.put("now", now.toEpochMilli());
    out.put("from", span.from().toEpochMilli());
    out.put("to", span.to().toEpochMilli());

    ArrayNode siteRows = out.putArray("sites");
    for (Site s : sites.list()) {
      siteRows.addObject().put("name", s.name()).put("nodes", s.nodeCapacity())
          .put("nodesReservedNow", reservations.nodesInUse(s.name()));
    }
    Topology topology = allocator.topology();
    ArrayNode linkRows = out.putArray("links");
    for (Topology.Link l : topology.links()) {
      linkRows.addObject().put("id", l.id()).put("a", l.a()).put("b", l.b())
          .put("capacityBps", l.capacityBps())
          .put("reservedNowBps", allocator.bandwidthInUse(l.id(), now));
    }

    // Each job and reservation is first checked against the span by what its record keeps at
    // hand (its window, creation, start and end: no events copied, no snapshot built); only
    // the first maxItems that overlap it become rows, the rest are only counted.
    Map<String, String> madeFor = null; // job -> the reservation SubmitJob made for it, lazily
    ArrayNode jobRows = out.putArray("jobs");
    int moreJobs = 0;
    for (JobRecord rec : jobs.records()) { // newest first
      JobRecord.Times times = rec.times();
      Instant shownUntil = times.ended() != null ? times.ended() : latest(now, rec.start());
      if (!span.overlaps(rec.createdAt(), shownUntil.plusMillis(1))) {
        continue;
      }
      if (jobRows.size() >= maxItems) {
        moreJobs++;
        continue;
      }
      Job j = rec.toProto();
      String rid = j.getReservationId();
      if (rid.isEmpty()) { // bound at submission; not so in a record of an older GRC
        if (madeFor == null) {
          madeFor = reservationsMadeForJobs();
        }
        rid = madeFor.getOrDefault(j.getId(), "");
      }
      putJob(jobRows.addObject(), j, times, rid, siteNodes(j, rid));
    }

    ArrayNode resRows = out.putArray("reservations");
    int moreReservations = 0;
    for (ReservationRecord r : reservations.records()) { // newest first
      Instant start = r.window().start();
      Instant end = r.window().end();
      Instant endedAt = endedAt(r);
      if (!span.overlaps(start, endedAt != null && endedAt.isBefore(end) ? endedAt : end)) {
        continue;
      }
      if (resRows.size() >= maxItems) {
        moreReservations++;
        continue;
      }
      Reservation p = r.toProto();
      ObjectNode o = resRows.addObject();
      o.put("id", p.getId()).put("user", p.getSpec().getUser())
          .put("state", ProtoNames.shortName(p.getState()))
          .put("start", start.toEpochMilli()).put("end", end.toEpochMilli());
      if (endedAt != null) {
        o.put("endedAt", endedAt.toEpochMilli());
      }
      ObjectNode nodes = o.putObject("siteNodes");
      new TreeMap<>(p.getSiteNodesMap()).forEach(nodes::put);
      o.put("bandwidthBps", p.getBandwidthBps());
      ObjectNode links = o.putObject("linkBps");
      linkBps(r, topology).forEach(links::put);
      ArrayNode jobIds = o.putArray("jobs");
      p.getJobIdsList().forEach(jobIds::add);
      o.put("guests", p.getGuests().getState() == GuestsState.GUESTS_STATE_UNSPECIFIED ? ""
          : ProtoNames.shortName(p.getGuests().getState()));
      o.put("message", p.getMessage());
    }
    out.putObject("more").put("reservations", moreReservations).put("jobs", moreJobs);
    return out;
  }

  /** One job's view with its phases and latest events, or empty for an unknown id. */
  public Optional<ObjectNode> job(String id) {
    JobRecord record;
    try {
      record = jobs.job(id);
    } catch (Errors.RequestException notFound) {
      return Optional.empty();
    }
    Job j = record.toProto();
    JobRecord.Times times = record.times();
    List<Event> events = record.events();
    String rid = j.getReservationId();
    if (rid.isEmpty()) {
      rid = reservationsMadeForJobs().getOrDefault(id, "");
    }
    ObjectNode out = JSON.createObjectNode();
    out.put("now", clock.instant().toEpochMilli());
    putJob(out, j, times, rid, siteNodes(j, rid));
    out.set("phases", phases(events, clock.instant()));
    ArrayNode list = out.putArray("events");
    int skip = Math.max(0, events.size() - MAX_EVENTS);
    for (Event e : events.subList(skip, events.size())) {
      ObjectNode o = list.addObject();
      o.put("seq", e.getSequence()).put("time", ProtoTime.fromProto(e.getTime()).toEpochMilli())
          .put("site", e.getSite()).put("host", e.getHostname());
      if (e.hasJobState()) {
        o.put("kind", "job").put("state", ProtoNames.shortName(e.getJobState()));
      } else {
        o.put("kind", "node").put("state", e.hasNodeState()
            ? ProtoNames.shortName(e.getNodeState()) : "");
      }
      o.put("phase", phaseName(e.getPhase())).put("message", e.getMessage());
    }
    out.put("eventsLeftOut", skip);
    return Optional.of(out);
  }

  /** Job id -> the reservation SubmitJob made for that job (read from the records' own job). */
  private Map<String, String> reservationsMadeForJobs() {
    Map<String, String> out = new HashMap<>();
    for (ReservationRecord r : reservations.records()) {
      if (r.ownJob() != null) {
        out.put(r.ownJob(), r.id());
      }
    }
    return out;
  }

  /** The nodes per site the job runs on: its bound spec's, else its reservation's. */
  private Map<String, Integer> siteNodes(Job j, String reservationId) {
    if (!j.getSpec().getSiteNodesMap().isEmpty() || reservationId.isEmpty()) {
      return j.getSpec().getSiteNodesMap();
    }
    try {
      return reservations.record(reservationId).siteNodes();
    } catch (Errors.RequestException gone) {
      return Map.of(); // the reservation was forgotten
    }
  }

  /**
   * The job's phases: one per job-level event (the state it entered), from that event to the
   * next one; the current one is open ({@code end} absent, duration up to {@code now}); the
   * terminal state is the last, with no duration. Node events count toward the phase they
   * happened in.
   */
  static ArrayNode phases(List<Event> events, Instant now) {
    ArrayNode out = JSON.createArrayNode();
    ObjectNode open = null;
    Instant openedAt = null;
    for (Event e : events) {
      Instant t = ProtoTime.fromProto(e.getTime());
      if (!e.hasJobState()) {
        if (open != null) {
          open.put("nodeEvents", open.get("nodeEvents").asInt() + 1);
        }
        continue;
      }
      if (open != null) {
        open.put("end", t.toEpochMilli()).put("durationMs",
            Math.max(0, t.toEpochMilli() - openedAt.toEpochMilli()));
      }
      JobState s = e.getJobState();
      open = out.addObject().put("state", ProtoNames.shortName(s))
          .put("phase", phaseName(e.getPhase())).put("start", t.toEpochMilli());
      open.put("nodeEvents", 0).put("message", e.getMessage());
      openedAt = t;
      if (JobStates.MACHINE.isTerminal(s)) {
        open.put("end", t.toEpochMilli()).put("durationMs", 0);
        open = null;
      }
    }
    if (open != null) {
      open.put("durationMs", Math.max(0, now.toEpochMilli() - openedAt.toEpochMilli()));
    }
    return out;
  }

  private static void putJob(ObjectNode o, Job j, JobRecord.Times v, String reservationId,
      Map<String, Integer> siteNodes) {
    o.put("id", j.getId()).put("user", j.getSpec().getUser())
        .put("state", ProtoNames.shortName(j.getState())).put("reservation", reservationId);
    ObjectNode nodes = o.putObject("sites");
    new TreeMap<>(siteNodes).forEach(nodes::put);
    String command = String.join(" ", j.getSpec().getArgvList());
    o.put("command", command.length() > MAX_COMMAND
        ? command.substring(0, MAX_COMMAND) + "..." : command);
    o.put("submitted", ProtoTime.fromProto(j.getCreatedAt()).toEpochMilli())
        .put("scheduledStart", ProtoTime.fromProto(j.getStart()).toEpochMilli())
        .put("scheduledEnd", ProtoTime.fromProto(j.getEnd()).toEpochMilli());
    if (v.started() != null) {
      o.put("started", v.started().toEpochMilli());
    }
    if (v.ended() != null) {
      o.put("ended", v.ended().toEpochMilli());
    }
    if (j.getHasExitCode()) {
      o.put("exitCode", j.getExitCode());
    }
    o.put("message", j.getMessage());
  }

  /**
   * When an ended reservation really ended, where known: a reservation made for one job ends
   * with that job. Null otherwise (a cancelled reservation keeps its window; the page fades it).
   */
  private Instant endedAt(ReservationRecord r) {
    String own = r.ownJob();
    if (own == null || !ReservationRecord.MACHINE.isTerminal(r.state())) {
      return null;
    }
    try {
      return jobs.job(own).times().ended();
    } catch (Errors.RequestException gone) {
      return null;
    }
  }

  /** Bit/s the reservation holds on each link: every pair's rate on each link of its path. */
  private static Map<String, Long> linkBps(ReservationRecord r, Topology topology) {
    Map<String, Long> out = new TreeMap<>();
    for (Map.Entry<SitePair, Long> e : r.pairBps().entrySet()) {
      Optional<List<Topology.Link>> path;
      try {
        path = topology.route(e.getKey().a(), e.getKey().b());
      } catch (Errors.RequestException unknownSite) {
        continue;
      }
      path.ifPresent(links -> links.forEach(l -> out.merge(l.id(), e.getValue(),
          CoAllocator::saturatingAdd)));
    }
    return out;
  }

  private static String phaseName(Phase p) {
    return p == Phase.PHASE_UNSPECIFIED ? "" : ProtoNames.shortName(p);
  }

  private static Instant latest(Instant a, Instant b) {
    return a.isAfter(b) ? a : b;
  }
}
