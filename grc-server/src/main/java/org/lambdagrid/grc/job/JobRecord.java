package org.lambdagrid.grc.job;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.StreamPump;
import org.lambdagrid.grc.reservation.ReservationRecord;
import org.lambdagrid.grc.site.TrustBundles;
import org.lambdagrid.grc.support.StoredRecord;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.Phase;

/**
 * One job at the GRC: its spec, state, event history and output. Owned by the
 * {@link JobCoordinator}; everything else reads it through snapshots ({@link #toProto}) and
 * cursors ({@link #eventSource}, {@link OutputBuffer#source}).
 *
 * <p>Thread-safe: state and history are guarded by this object's monitor. Event wake-ups run
 * under that monitor after each new event; they must not block.
 */
public final class JobRecord implements StoredRecord {

  private final String id;
  private final JobSpec spec;
  private final Instant createdAt;
  private final Instant start;
  private final Instant end;
  private final Map<String, Ipv4Cidr> siteRanges;
  private final OutputBuffer output;

  private JobState state = JobState.JOB_PENDING;
  private Phase currentPhase = Phase.PHASE_UNSPECIFIED;
  private Phase failedPhase = Phase.PHASE_UNSPECIFIED;
  private String message = "";
  private Integer exitCode;
  private String firstNode = "";
  private List<NodeEntry> nodes;
  private String hostfile = "";
  private final List<Event> events = new ArrayList<>();
  private final Set<Runnable> eventWakes = Collections.newSetFromMap(new IdentityHashMap<>());
  private final List<AutoCloseable> shareWatches = new ArrayList<>();
  private boolean watchesClosed;
  /** WatchShare calls under way ({@link #beginWatchCall}); {@link #closeShareWatches} waits. */
  private int watchCalls;
  private boolean ending;
  /** Called (under this monitor) after every change; set by a durable {@link JobStore}. */
  private volatile java.util.function.Consumer<JobRecord> persister = j -> { };
  /** Told of every state change (under this monitor; must not block); set by the coordinator. */
  private volatile Observer observer = Observer.NONE;
  private Instant stateSince; // when the current state was entered (guarded by this)
  private Instant startedAt; // its first job event past PENDING, not terminal (guarded by this)
  private Instant endedAt; // its terminal event (guarded by this)

  /** What watches a job's state changes (the GRC's metrics). */
  public interface Observer {
    Observer NONE = (from, to, inFrom) -> { };

    /** The job left {@code from} for {@code to} after {@code inFrom} in it. */
    void changed(JobState from, JobState to, java.time.Duration inFrom);
  }

  // Owned by the coordinator; volatile so a terminating thread sees them.
  volatile ReservationRecord reservation; // set once at submission
  /** The CRMs' share the job runs in: its own id, or that of pre-built guests it adopted. */
  private volatile String shareId;
  volatile Future<?> startTimer;
  volatile Future<?> runner;
  volatile Thread runnerThread;
  final CompletableFuture<CommandExit> exit = new CompletableFuture<>();
  final CompletableFuture<Void> ended = new CompletableFuture<>();

  JobRecord(String id, JobSpec spec, Instant createdAt, Instant start, Instant end,
      Map<String, Ipv4Cidr> siteRanges, long outputLimitBytes) {
    this(id, spec, createdAt, start, end, siteRanges, new OutputBuffer(outputLimitBytes));
  }

  private JobRecord(String id, JobSpec spec, Instant createdAt, Instant start, Instant end,
      Map<String, Ipv4Cidr> siteRanges, OutputBuffer output) {
    this.id = id;
    this.spec = spec;
    this.createdAt = createdAt;
    this.start = start;
    this.end = end;
    this.siteRanges = new TreeMap<>(siteRanges);
    this.output = output;
    this.stateSince = createdAt;
  }

  /** Set by the coordinator before the job's first change (or, when recovered, its end). */
  void observe(Observer o) {
    observer = o;
  }

  private void changed(JobState from, JobState to, Instant now) {
    observer.changed(from, to, java.time.Duration.between(stateSince, now));
    stateSince = now;
  }

  @Override
  public String id() {
    return id;
  }

  /** The CRMs' share id of the job's guests (see {@link #adoptShare}). */
  public String shareId() {
    String s = shareId;
    return s == null ? id : s;
  }

  /** The job runs in pre-built guests: every CRM call goes to their share from now on. */
  void adoptShare(String id) {
    shareId = id;
  }

  @Override
  public String user() {
    return spec.getUser();
  }

  @Override
  public String clientToken() {
    return spec.getClientToken();
  }

  public JobSpec spec() {
    return spec;
  }

  @Override
  public Instant createdAt() {
    return createdAt;
  }

  public Instant start() {
    return start;
  }

  public Instant end() {
    return end;
  }

  public Map<String, Ipv4Cidr> siteRanges() {
    return siteRanges;
  }

  public OutputBuffer output() {
    return output;
  }

  public synchronized JobState state() {
    return state;
  }

  public synchronized Phase currentPhase() {
    return currentPhase;
  }

  synchronized void setCurrentPhase(Phase phase) {
    currentPhase = phase;
  }

  synchronized boolean isEnding() {
    return ending || JobStates.MACHINE.isTerminal(state);
  }

  /** Marks the job as ending; true only for the first caller. */
  synchronized boolean beginEnding() {
    if (ending || JobStates.MACHINE.isTerminal(state)) {
      return false;
    }
    ending = true;
    return true;
  }

  synchronized void setNodes(List<NodeEntry> ordered) {
    nodes = List.copyOf(ordered);
    hostfile = TrustBundles.hostfile(ordered);
    persister.accept(this);
  }

  /** The aggregated nodes in hostfile order, or null before phase SETUP finished. */
  public synchronized List<NodeEntry> nodes() {
    return nodes;
  }

  public synchronized String hostfile() {
    return hostfile;
  }

  synchronized void setFirstNode(String hostname) {
    firstNode = hostname;
    persister.accept(this);
  }

  public synchronized String firstNode() {
    return firstNode;
  }

  /**
   * Moves to a non-terminal state and appends its event. Returns false (and changes nothing)
   * once the job is ending, so a runner racing a cancel stops quietly.
   */
  synchronized boolean advance(JobState to, Phase phase, String why, Instant now) {
    if (ending || JobStates.MACHINE.isTerminal(state)) {
      return false;
    }
    JobState from = state;
    state = JobStates.MACHINE.check(state, to);
    currentPhase = phase;
    message = why;
    changed(from, to, now);
    append(Event.newBuilder().setJobState(to).setPhase(phase).setMessage(why), now);
    persister.accept(this);
    return true;
  }

  /** Appends the PENDING event (sequence 1) when the job is created. */
  synchronized void appendPending(String why, Instant now) {
    message = why;
    append(Event.newBuilder().setJobState(JobState.JOB_PENDING).setMessage(why), now);
  }

  /** Enters the terminal state (once), appends its event and ends every stream. */
  synchronized void finish(JobState to, Phase phase, String why, Integer code, Instant now) {
    if (JobStates.MACHINE.isTerminal(state)) {
      return;
    }
    JobState from = state;
    state = JobStates.MACHINE.check(state, to);
    changed(from, to, now);
    failedPhase = phase;
    message = why;
    exitCode = code;
    append(Event.newBuilder().setJobState(to).setPhase(phase).setMessage(why), now);
    output.end();
    persister.accept(this);
  }

  /** Appends a node event from a site's WatchShare; dropped once the job is terminal. */
  synchronized void appendNodeEvent(Event fromSite, Instant now) {
    if (JobStates.MACHINE.isTerminal(state)) {
      return;
    }
    append(fromSite.toBuilder(),
        fromSite.hasTime() ? ProtoTime.fromProto(fromSite.getTime()) : now);
    persister.accept(this);
  }

  private void append(Event.Builder b, Instant time) {
    Event e = b.setJobId(id).setSequence(events.size() + 1L).setTime(ProtoTime.toProto(time))
        .build();
    events.add(e);
    noteTimes(e);
    if (!eventWakes.isEmpty()) {
      List<Runnable> wake = new ArrayList<>(eventWakes);
      eventWakes.clear();
      wake.forEach(Runnable::run);
    }
  }

  /** Keeps {@link #times} up to date with a new (or restored) event. */
  private void noteTimes(Event e) {
    if (!e.hasJobState()) {
      return;
    }
    JobState s = e.getJobState();
    if (JobStates.MACHINE.isTerminal(s)) {
      endedAt = ProtoTime.fromProto(e.getTime());
    } else if (startedAt == null && s != JobState.JOB_PENDING) {
      startedAt = ProtoTime.fromProto(e.getTime());
    }
  }

  /**
   * When the job really started and ended; either null if not (yet). Read without copying its
   * events (the timeline page reads it for every job at each poll).
   *
   * @param started when it left PENDING (its first job event neither PENDING nor terminal)
   * @param ended its terminal event's time; for a job recovered terminal without that event,
   *     its last event's
   */
  public record Times(Instant started, Instant ended) { }

  public synchronized Times times() {
    return new Times(startedAt, endedAt);
  }

  /** All events so far (sequence 1..n). */
  public synchronized List<Event> events() {
    return List.copyOf(events);
  }

  /**
   * Up to {@code max} events with sequence >= {@code from}, in order; none yet (and {@code wake}
   * registered, once, to run after the next event) while the job is live; null once the
   * terminal event lies before {@code from}.
   */
  public synchronized List<Event> events(long from, int max, Runnable wake) {
    int i = (int) Math.min(events.size(), Math.max(0, from - 1));
    while (i > 0 && events.get(i - 1).getSequence() >= from) {
      i--;
    }
    while (i < events.size() && events.get(i).getSequence() < from) {
      i++;
    }
    if (i < events.size()) {
      return List.copyOf(events.subList(i, Math.min(events.size(), i + max)));
    }
    if (JobStates.MACHINE.isTerminal(state)) {
      return null;
    }
    if (wake != null) {
      eventWakes.add(wake);
    }
    return List.of();
  }

  /**
   * A reader of the events with sequence >= {@code fromSequence}: the history, then live ones,
   * ending after the terminal event. It holds only its cursor.
   */
  public StreamPump.Source<Event> eventSource(long fromSequence) {
    return new StreamPump.Source<>() {
      private long next = fromSequence;

      @Override
      public List<Event> next(int max, Runnable wake) {
        List<Event> e = events(next, max, wake);
        if (e != null && !e.isEmpty()) {
          next = e.get(e.size() - 1).getSequence() + 1;
        }
        return e;
      }

      @Override
      public void cancel(Runnable wake) {
        synchronized (JobRecord.this) {
          eventWakes.remove(wake);
        }
      }
    };
  }

  /**
   * A WatchShare call for this job may start now; false once the job is ending (its streams are
   * closed and none is opened again). Every true is followed by one {@link #watchCallDone}.
   */
  synchronized boolean beginWatchCall() {
    if (ending || watchesClosed || JobStates.MACHINE.isTerminal(state)) {
      return false;
    }
    watchCalls++;
    return true;
  }

  /** The WatchShare call {@link #beginWatchCall} allowed has returned (its handle kept or not). */
  synchronized void watchCallDone() {
    if (--watchCalls == 0) {
      notifyAll();
    }
  }

  /** Keeps a WatchShare handle; closes it at once if the watches were already closed. */
  boolean addShareWatch(AutoCloseable handle) {
    synchronized (this) {
      if (!watchesClosed) {
        shareWatches.add(handle);
        return true;
      }
    }
    closeQuietly(handle);
    return false;
  }

  /** Forgets a WatchShare handle whose stream has ended (a CRM outage opens a new one). */
  synchronized void removeShareWatch(AutoCloseable handle) {
    shareWatches.remove(handle);
  }

  /**
   * Closes every WatchShare stream of the job, after waiting (up to {@code bound}) for the
   * calls under way to return: none starts afterwards, so once the job is terminal no stream of
   * it is opened any more (a call that returns late closes its own handle).
   */
  void closeShareWatches(java.time.Duration bound) {
    List<AutoCloseable> copy;
    synchronized (this) {
      watchesClosed = true;
      long until = System.nanoTime() + bound.toNanos();
      try {
        for (long left = bound.toNanos(); watchCalls > 0 && left > 0;
            left = until - System.nanoTime()) {
          java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(this, left);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      copy = new ArrayList<>(shareWatches);
      shareWatches.clear();
    }
    copy.forEach(JobRecord::closeQuietly);
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception ignored) {
      // closing a finished stream is not an error
    }
  }

  /**
   * Makes a durable store see every later change: {@code p} is called under this record's
   * monitor after each one and must write it before returning (it must not call back into
   * anything that waits for this record).
   */
  void persistWith(java.util.function.Consumer<JobRecord> p) {
    persister = p;
  }

  /**
   * A job read back from a durable store after a restart: state, events and host list as
   * recorded, and {@code output} (a terminal job's is read from the store on demand). A terminal
   * job is complete (its streams end at once); a non-terminal one has no runner and must be
   * ended by the caller ({@link JobCoordinator#failUnfinishedAfterRestart}).
   */
  static JobRecord restore(Job job, List<Event> history, List<NodeEntry> hosts,
      OutputBuffer output) {
    Map<String, Ipv4Cidr> ranges = new TreeMap<>();
    job.getSiteRangesMap().forEach((s, r) -> ranges.put(s, Ipv4Cidr.parse(r.getCidr())));
    JobRecord r = new JobRecord(job.getId(), job.getSpec(), ProtoTime.fromProto(job.getCreatedAt()),
        ProtoTime.fromProto(job.getStart()), ProtoTime.fromProto(job.getEnd()), ranges, output);
    synchronized (r) {
      r.state = job.getState();
      r.currentPhase = job.getFailedPhase();
      r.failedPhase = job.getFailedPhase();
      r.message = job.getMessage();
      r.exitCode = job.getHasExitCode() ? job.getExitCode() : null;
      r.firstNode = job.getFirstNode();
      if (hosts != null && !hosts.isEmpty()) {
        r.nodes = List.copyOf(hosts);
        r.hostfile = TrustBundles.hostfile(hosts);
      }
      r.events.addAll(history);
      history.forEach(r::noteTimes);
      if (r.endedAt == null && JobStates.MACHINE.isTerminal(r.state) && !history.isEmpty()) {
        // recovered without its terminal event: it ended by its last known one
        r.endedAt = ProtoTime.fromProto(history.get(history.size() - 1).getTime());
      }
      for (int i = history.size() - 1; i >= 0; i--) { // when it entered the recorded state
        Event e = history.get(i);
        if (e.getJobState() == r.state && e.hasTime()) {
          r.stateSince = ProtoTime.fromProto(e.getTime());
          break;
        }
      }
      if (!history.isEmpty()) {
        Event last = history.get(history.size() - 1);
        if (last.getPhase() != Phase.PHASE_UNSPECIFIED) {
          r.currentPhase = last.getPhase();
        }
      }
      if (JobStates.MACHINE.isTerminal(r.state)) {
        r.output.end();
        r.watchesClosed = true;
        r.ended.complete(null);
      }
    }
    return r;
  }

  public synchronized Job toProto() {
    Job.Builder b = Job.newBuilder().setId(id).setSpec(spec).setState(state)
        .setCreatedAt(ProtoTime.toProto(createdAt)).setStart(ProtoTime.toProto(start))
        .setEnd(ProtoTime.toProto(end)).setMessage(message).setFailedPhase(failedPhase)
        .setFirstNode(firstNode).setReservationId(spec.getReservationId());
    siteRanges.forEach((s, r) -> b.putSiteRanges(s,
        AddressRange.newBuilder().setCidr(r.toString()).build()));
    if (exitCode != null) {
      b.setExitCode(exitCode).setHasExitCode(true);
    }
    return b.build();
  }
}
