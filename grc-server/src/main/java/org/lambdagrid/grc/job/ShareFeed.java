package org.lambdagrid.grc.job;

import static org.lambdagrid.proto.v1.JobState.JOB_FAILED;
import static org.lambdagrid.proto.v1.JobState.JOB_RUNNING;

import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.grc.site.SiteClient;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.support.CallErrors;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feeds one site's WatchShare stream into the job, across a restart of that site's CRM.
 *
 * <p>A stream that breaks while the job is RUNNING (every guest started, so a CRM restarted
 * from its state directory re-adopts them) with UNAVAILABLE (the CRM died or cannot be
 * reached), CANCELLED (the CRM's server reset it while stopping) or a normal completion does
 * not fail the job: one event says the CRM was lost, and WatchShare is tried again every
 * {@link #WATCH_RETRY} until {@code crm_grace} has passed since the loss. The first thing the
 * new stream delivers (event, output or exit) ends the outage (one event says so; a later
 * loss starts a new grace). The job fails naming the site when the grace passes, or when the
 * CRM answers the new WatchShare with anything but UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED
 * (NOT_FOUND: it came back without the share). A stream that breaks in any other state fails
 * the job at once. Each attempt's handle is registered with the job, so
 * {@link JobCoordinator#terminate} closes the live one; attempts stop once the job is ending. A
 * new stream from the same CRM process replays the share's history; what was already delivered
 * is dropped by its (incarnation, seq) stamp ({@link Attempt#fresh}), so no event or output is
 * taken twice.
 */
final class ShareFeed {
  private static final Logger log = LoggerFactory.getLogger(ShareFeed.class);
  /** How long a lost WatchShare waits before the next attempt (never past the grace). */
  static final Duration WATCH_RETRY = Duration.ofSeconds(1);

  private final JobRecord job;
  private final String site;
  private final SiteClients clients;
  private final Clock clock;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService workers;
  private final Duration crmGrace;
  private final JobTerminator terminator;

  /** How far a watch of the share has read: the CRM process and its last update's number. */
  record Position(String incarnation, long lastSeq) {
    static final Position START = new Position("", 0);
  }

  // Guarded by this.
  private int generation; // of the newest stream; callbacks of older ones are ignored
  private int outage; // counts losses, so a grace timer knows whether its outage is over
  private Instant lostAt; // non-null while the CRM is away
  private Instant deadline;
  private String cause = "";
  private String incarnation = ""; // of the CRM process the last new update came from
  private long lastSeq; // the last new update's number in that incarnation

  /**
   * @param seen what an earlier watch of the same share already read (pre-built guests the job
   *     adopted): the history up to there is not the job's and is dropped
   */
  ShareFeed(JobRecord job, String site, SiteClients clients, Clock clock,
      ScheduledExecutorService scheduler, ExecutorService workers, Duration crmGrace,
      JobTerminator terminator, Position seen) {
    this.job = job;
    this.incarnation = seen.incarnation();
    this.lastSeq = seen.lastSeq();
    this.site = site;
    this.clients = clients;
    this.clock = clock;
    this.scheduler = scheduler;
    this.workers = workers;
    this.crmGrace = crmGrace;
    this.terminator = terminator;
  }

  /** The first WatchShare, from the runner; a synchronous failure propagates. */
  void open() {
    watch(false);
  }

  /** One WatchShare call; none once the job is ending (its ending waits for one under way). */
  private void watch(boolean retry) {
    if (!job.beginWatchCall()) {
      return;
    }
    try {
      Attempt s;
      synchronized (this) {
        s = new Attempt(++generation);
      }
      AutoCloseable h;
      try {
        h = clients.forSite(site).watchShare(job.shareId(), s);
      } catch (RuntimeException e) {
        if (!retry) {
          throw e;
        }
        s.onClosed(e);
        return;
      }
      if (job.addShareWatch(h)) {
        boolean closed;
        synchronized (this) {
          s.handle = h;
          closed = s.closed;
        }
        if (closed) {
          job.removeShareWatch(h); // it broke before watchShare returned
        }
      }
    } finally {
      job.watchCallDone();
    }
  }

  /** Something arrived on {@code s}; false for a stale stream. Ends an outage. */
  private boolean arrived(Attempt s) {
    boolean back;
    synchronized (this) {
      if (s.generation != generation) {
        return false;
      }
      back = lostAt != null;
      lostAt = null;
      deadline = null;
    }
    if (back) {
      log.info("job {}: the CRM of site '{}' is back", job.id(), site);
      siteEvent("the CRM of site '" + site + "' is back; its share continues");
    }
    return true;
  }

  private void closed(Attempt s, Throwable error) {
    AutoCloseable dead;
    synchronized (this) {
      s.closed = true;
      dead = s.handle;
    }
    if (job.isEnding()) {
      return; // the ending closes every handle
    }
    if (dead != null) {
      job.removeShareWatch(dead); // a retry registers the next one
    }
    Status.Code code = error == null ? null : CallErrors.code(error);
    String said = error == null ? null : CallErrors.describe(error);
    String what = error == null ? "the CRM ended the stream"
        : code + (said.equals(code.toString()) ? "" : ": " + said);
    String fail = null;
    boolean retry = false;
    int graceOf = -1;
    Duration wait = WATCH_RETRY;
    synchronized (this) {
      if (s.generation != generation) {
        return;
      }
      Instant now = clock.instant();
      if (lostAt == null) {
        // A live stream broke.
        if (job.state() == JOB_RUNNING && (error == null || code == Status.Code.UNAVAILABLE
            || code == Status.Code.CANCELLED)) {
          lostAt = now;
          deadline = now.plus(crmGrace);
          cause = what;
          graceOf = ++outage;
          retry = true;
        } else {
          fail = "lost the event stream of site '" + site + "': " + (error == null
              ? "the CRM closed it" : said);
        }
      } else if (error != null && (code == Status.Code.UNAVAILABLE
          || code == Status.Code.DEADLINE_EXCEEDED || code == Status.Code.CANCELLED)) {
        // Still away.
        if (!now.isBefore(deadline)) {
          fail = notBack();
        } else {
          retry = true;
          Duration left = Duration.between(now, deadline);
          wait = left.compareTo(WATCH_RETRY) < 0 ? left : WATCH_RETRY;
        }
      } else if (code == Status.Code.NOT_FOUND || error == null) {
        fail = "the CRM of site '" + site + "' came back without the job's share (" + what
            + ")";
      } else {
        fail = "the CRM of site '" + site + "' came back but refused to stream the job's"
            + " share (" + what + ")";
      }
    }
    if (fail != null) {
      failJob(fail);
      return;
    }
    if (graceOf >= 0) {
      log.warn("job {}: lost the CRM of site '{}' ({}); waiting up to {} for it", job.id(),
          site, what, crmGrace);
      siteEvent("lost contact with the CRM of site '" + site + "' (" + what + "); waiting up"
          + " to " + Quantities.formatDuration(crmGrace) + " for it to come back");
      int o = graceOf;
      scheduler.schedule(() -> graceOver(o), crmGrace.toMillis(), TimeUnit.MILLISECONDS);
    }
    if (retry) {
      scheduler.schedule(() -> workers.execute(() -> {
        if (!job.isEnding()) {
          watch(true);
        }
      }), wait.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /** The grace of loss number {@code o} ran out: fails the job unless the CRM came back. */
  private void graceOver(int o) {
    String fail;
    synchronized (this) {
      if (o != outage || lostAt == null) {
        return;
      }
      fail = notBack();
    }
    failJob(fail);
  }

  private String notBack() {
    return "the CRM of site '" + site + "' did not come back within "
        + Quantities.formatDuration(crmGrace) + " (lost: " + cause + ")";
  }

  private void failJob(String why) {
    if (job.isEnding()) {
      return;
    }
    Phase p = job.currentPhase();
    workers.execute(() -> terminator.terminate(job, JOB_FAILED, p, why, null));
  }

  private void siteEvent(String message) {
    job.appendNodeEvent(Event.newBuilder().setSite(site).setPhase(job.currentPhase())
        .setMessage(message).build(), clock.instant());
  }

  /** One WatchShare call. */
  private final class Attempt implements SiteClient.ShareListener {
    final int generation;
    AutoCloseable handle; // guarded by the ShareFeed
    boolean closed; // guarded by the ShareFeed

    Attempt(int generation) {
      this.generation = generation;
    }

    /**
     * New unless a watch again replays what an earlier stream of the same CRM process already
     * delivered. A replay still shows the CRM is there (it ends an outage) but is dropped.
     */
    @Override
    public boolean fresh(String inc, long seq) {
      if (inc.isEmpty()) {
        return true; // unstamped (a CRM without numbering)
      }
      boolean isNew;
      synchronized (ShareFeed.this) {
        if (generation != ShareFeed.this.generation) {
          return false;
        }
        isNew = !inc.equals(incarnation) || seq > lastSeq;
        if (isNew) {
          incarnation = inc;
          lastSeq = seq;
        }
      }
      if (!isNew) {
        arrived(this);
      }
      return isNew;
    }

    @Override
    public void onEvent(Event event) {
      if (!arrived(this)) {
        return;
      }
      Event e = event.getSite().isEmpty() ? event.toBuilder().setSite(site).build() : event;
      job.appendNodeEvent(e, clock.instant());
      if (e.getNodeState() == NodeState.NODE_LOST && JobStates.isActive(job.state())
          && !job.isEnding()) {
        Phase p = job.currentPhase();
        String node = e.getHostname().isEmpty() ? "a node of site '" + site + "'"
            : "node " + e.getHostname();
        String phase = ProtoNames.shortName(p);
        // The CRM's message usually names the node already: don't say it twice.
        String why = !e.getHostname().isEmpty() && e.getMessage().contains(e.getHostname())
            ? e.getMessage() + " during phase " + phase
            : node + " was lost in phase " + phase
                + (e.getMessage().isEmpty() ? "" : ": " + e.getMessage());
        workers.execute(() -> terminator.terminate(job, JOB_FAILED, p, why, null));
      }
    }

    @Override
    public void onOutput(OutputChunk chunk) {
      if (arrived(this)) {
        job.output().append(chunk);
      }
    }

    @Override
    public void onExit(CommandExit exit) {
      if (!arrived(this)) {
        return;
      }
      if (exit.getHostname().isEmpty() || exit.getHostname().equals(job.firstNode())) {
        // A CRM that resent the exit after a restart completes it again: ignored.
        job.exit.complete(exit);
      }
    }

    @Override
    public void onClosed(Throwable error) {
      closed(this, error);
    }
  }
}
