package org.lambdagrid.grc.job;

import static org.lambdagrid.proto.v1.GuestsState.GUESTS_BUILDING;
import static org.lambdagrid.proto.v1.GuestsState.GUESTS_FAILED;
import static org.lambdagrid.proto.v1.GuestsState.GUESTS_IN_USE;
import static org.lambdagrid.proto.v1.GuestsState.GUESTS_READY;
import static org.lambdagrid.proto.v1.GuestsState.GUESTS_RELEASED;
import static org.lambdagrid.proto.v1.GuestsState.GUESTS_STATE_UNSPECIFIED;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.grc.reservation.ReservationRecord;
import org.lambdagrid.grc.site.SiteClient;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.support.CallErrors;
import org.lambdagrid.grc.support.Ids;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.GuestsState;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.PrebuiltGuests;
import org.lambdagrid.proto.v1.TrustBundle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Guests built when a reservation's window starts ({@code ReservationSpec.prebuild}), so that
 * the first job submitted into it only runs its command.
 *
 * <p>At the start ({@link #started}), a reservation with no job bound gets a share of its own at
 * every CRM (id {@code w-} + 8 hex digits, recorded in the reservation, so a GRC restart
 * releases it) and runs the whole {@link ShareBuild}: guests built, keys exchanged and
 * installed, every sshd accepting. While it waits, one WatchShare per site notes a lost node or
 * a broken stream. A job's runner {@link #take}s the guests: it waits for a build still running
 * (bounded), the job is switched to the share ({@link JobRecord#adoptShare}) and gets, per site,
 * how far the watch had read (so the job's own feed skips what happened before it). The job tears
 * them down when it ends, like guests it built itself; later jobs in the reservation build their
 * own. A build that failed, or guests that lost a node or their CRM's stream, are released, and
 * {@code take} returns null: the job builds its guests itself.
 *
 * <p>Each build moves BUILDING -> READY -> TAKEN, or to OVER (given up, or stopped by the
 * reservation's end or the GRC's stop) from BUILDING or READY; every move happens under this
 * object's lock, so exactly one party records the outcome, and the recorded guests state never
 * leaves FAILED or RELEASED. Whoever moves a build to OVER releases its share; the build's own
 * thread releases it once more when it stops (a call still in flight may have opened it again),
 * and the CRM's release is idempotent. {@link #started} and {@link #take} decide under the same
 * lock, and a job is bound to its reservation before its runner takes, so either the build sees
 * the bound job and does not start, or the job finds the build; a build leaves the map only once
 * its share is released, so a job never opens its own share while the CRM still has the build's.
 */
final class Prebuilds {
  private static final Logger log = LoggerFactory.getLogger(Prebuilds.class);

  /** Guests a job adopted: per site, how far the pre-build's watch had read; what was built. */
  record Adopted(Map<String, ShareFeed.Position> seen, String built) {}

  private enum BuildState { BUILDING, READY, TAKEN, OVER }

  private final ShareBuild build;
  private final SiteClients clients;
  private final ExecutorService workers;
  private final CoordinatorSettings settings;
  private final Map<String, Build> builds = new HashMap<>(); // by reservation id; guarded by this

  Prebuilds(ShareBuild build, SiteClients clients, ExecutorService workers,
      CoordinatorSettings settings) {
    this.build = build;
    this.clients = clients;
    this.workers = workers;
    this.settings = settings;
  }

  /** How long a job waits for a build still running: the whole build's phase budget. */
  Duration buildBudget() {
    return settings.setupTimeout().plus(settings.keysTimeout()).plus(settings.trustTimeout())
        .plus(settings.runTimeout()).plus(settings.rpcTimeout())
        .plus(settings.callMargin().multipliedBy(10));
  }

  /**
   * The reservation's window started (again, after a GRC restart): builds its guests unless a
   * job is bound already or a job used them before a restart. Does not block.
   */
  void started(ReservationRecord r) {
    if (!r.prebuild()) {
      return;
    }
    PrebuiltGuests before = r.guests(); // after a restart: what the last process recorded
    GuestsState was = before.getState();
    if (was == GUESTS_IN_USE) {
      // The job that used them died with the last GRC process: release them, build no more.
      workers.execute(() -> {
        if (releaseShare(r, before.getShareId(), "the GRC restarted; its job ended")) {
          r.setGuests(GUESTS_RELEASED, "torn down: the job that used them ended when the GRC"
              + " restarted", "");
        }
      });
      return;
    }
    if (was == GUESTS_RELEASED || (was == GUESTS_FAILED && before.getShareId().isEmpty())) {
      return; // used or given up already: later jobs build their own
    }
    synchronized (this) {
      if (r.isEnding() || builds.containsKey(r.id())) {
        return;
      }
      if (r.liveJob() != null) {
        r.setGuests(GUESTS_STATE_UNSPECIFIED, "not built: job " + r.liveJob() + " was submitted"
            + " before the window started and builds its own", "");
        return;
      }
      Build b = new Build(r, Ids.fresh("w", id -> false));
      builds.put(r.id(), b);
      b.task = workers.submit(() -> run(b, before.getShareId()));
    }
  }

  /**
   * The guests for {@code job}, about to run in {@code r}, or null when it must build its own.
   * Waits up to {@code wait} for a build still running (then gives it up). On success the job
   * runs in their share from here ({@link JobRecord#adoptShare}) and its ending releases it.
   * Interrupted, the guests stay for the next job.
   */
  Adopted take(ReservationRecord r, JobRecord job, Duration wait) throws InterruptedException {
    Build b;
    synchronized (this) {
      b = builds.remove(r.id());
    }
    if (b == null) {
      return null;
    }
    boolean ready;
    try {
      ready = b.done.get(wait.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      synchronized (this) {
        if (b.phase != BuildState.OVER && !r.isEnding()) {
          builds.putIfAbsent(r.id(), b);
        }
      }
      throw e;
    } catch (TimeoutException e) {
      giveUp(b, "not ready within " + Quantities.formatDuration(wait) + " when job "
          + job.id() + " started", GUESTS_FAILED);
      b.task.cancel(true);
      return null;
    } catch (ExecutionException e) {
      ready = false;
    }
    if (!ready) {
      return null;
    }
    Map<String, ShareFeed.Position> seen = new HashMap<>();
    b.watches.forEach((site, w) -> seen.put(site, w.close())); // then nothing changes problem
    String problem = b.problem;
    if (problem != null) {
      giveUp(b, problem, GUESTS_FAILED);
      return null;
    }
    synchronized (this) {
      if (b.phase != BuildState.READY) {
        return null; // stopped meanwhile
      }
      b.phase = BuildState.TAKEN;
      job.adoptShare(b.target.shareId());
      r.setGuests(GUESTS_IN_USE, b.built + "; in use by job " + job.id(), b.target.shareId());
    }
    if (job.isEnding()) {
      // Its ending read the share id before the adoption: release what it did not.
      releaseShare(r, b.target.shareId(), "job " + job.id() + " ended");
      released(r, job.id());
      return null;
    }
    log.info("reservation {}: job {} adopts its pre-built guests (share {})", r.id(), job.id(),
        b.target.shareId());
    return new Adopted(seen, b.built);
  }

  /** The job that adopted {@code r}'s guests ended and released them. */
  void released(ReservationRecord r, String jobId) {
    r.setGuests(GUESTS_RELEASED, "torn down with job " + jobId, "");
  }

  /**
   * {@code r} is ending: stops a build that runs, closes its watches. The CRMs' Release of the
   * reservation, which follows, tears its share down.
   */
  void ending(ReservationRecord r) {
    Build b;
    synchronized (this) {
      b = builds.remove(r.id());
      if (b == null || !over(b)) {
        return;
      }
      r.setGuests(GUESTS_RELEASED, "torn down with the reservation", "");
    }
    b.task.cancel(true);
    b.watches.values().forEach(Watch::close);
  }

  /**
   * The GRC stops: every build not taken by a job is stopped and its share released at every
   * CRM; the next start builds them again. Guests a job took are released by its ending.
   */
  void stopAll(String why) {
    List<Build> all = new ArrayList<>();
    synchronized (this) {
      for (Build b : builds.values()) {
        if (over(b)) {
          all.add(b);
        }
      }
      builds.clear();
    }
    for (Build b : all) {
      b.task.cancel(true);
      b.watches.values().forEach(Watch::close);
      ReservationRecord r = b.target.reservation();
      releaseShare(r, b.target.shareId(), why);
      r.setGuests(GUESTS_STATE_UNSPECIFIED, "torn down when the GRC stopped (" + why + "); built"
          + " again when it starts", "");
    }
  }

  /** BUILDING or READY -> OVER; false if it was taken or over already. Caller holds the lock. */
  private boolean over(Build b) {
    if (b.phase == BuildState.TAKEN || b.phase == BuildState.OVER) {
      return false;
    }
    b.phase = BuildState.OVER;
    return true;
  }

  private void checkLive(Build b) throws InterruptedException {
    synchronized (this) {
      if (b.phase != BuildState.BUILDING) {
        throw new InterruptedException("stopped");
      }
    }
  }

  private void run(Build b, String previousShare) {
    ReservationRecord r = b.target.reservation();
    long t0 = System.nanoTime();
    boolean ready = false;
    String why = "stopped while building";
    try {
      if (!previousShare.isEmpty()
          && !releaseShare(r, previousShare, "the GRC restarted; the guests are built again")) {
        // Keep the old id on record, so a later start tries again; nothing new is opened.
        why = "the guests the last GRC process built (share " + previousShare + ") could not be"
            + " released at every site";
        synchronized (this) {
          if (over(b)) {
            r.setGuests(GUESTS_FAILED, why + "; a job in this reservation may be refused until"
                + " they are", previousShare);
          }
        }
        return;
      }
      synchronized (this) {
        if (b.phase != BuildState.BUILDING) {
          return;
        }
        r.setGuests(GUESTS_BUILDING, "building " + nodes(r) + " at the window's start",
            b.target.shareId());
      }
      build.open(b.target);
      checkLive(b);
      for (String site : b.target.sites()) {
        Watch w = new Watch(b, site);
        b.watches.put(site, w);
        w.open(clients.forSite(site).watchShare(b.target.shareId(), w));
      }
      var nodes = build.setUp(b.target);
      checkLive(b);
      TrustBundle bundle = build.collectKeys(b.target, nodes);
      checkLive(b);
      build.installTrust(b.target, bundle);
      checkLive(b);
      build.startGuests(b.target);
      String built = nodes.size() + " guest" + (nodes.size() == 1 ? "" : "s") + " ready, built in "
          + Quantities.formatDuration(Duration.ofNanos(System.nanoTime() - t0));
      synchronized (this) {
        if (b.phase == BuildState.BUILDING) {
          b.phase = BuildState.READY;
          b.built = built;
          r.setGuests(GUESTS_READY, built, b.target.shareId());
          ready = true;
        }
      }
      if (ready) {
        log.info("reservation {}: {} (share {})", r.id(), built, b.target.shareId());
      }
    } catch (PhaseFailure f) {
      why = f.getMessage();
    } catch (InterruptedException e) {
      why = "stopped while building";
    } catch (RuntimeException e) {
      why = CallErrors.describe(e);
    } finally {
      if (!ready) {
        giveUp(b, "building failed: " + why, GUESTS_FAILED);
        synchronized (this) {
          builds.remove(r.id(), b);
        }
      }
      b.done.complete(ready);
    }
  }

  /**
   * Releases the build's share everywhere (also when it was over already: a call in flight may
   * have opened it again) and, if this call ended it, records {@code state} with why.
   */
  private void giveUp(Build b, String why, GuestsState state) {
    ReservationRecord r = b.target.reservation();
    boolean first;
    synchronized (this) {
      if (b.phase == BuildState.TAKEN) {
        return;
      }
      first = over(b);
    }
    b.watches.values().forEach(Watch::close);
    boolean interrupted = Thread.interrupted(); // the release must not be cut short
    try {
      releaseShare(r, b.target.shareId(), "pre-built guests given up: " + why);
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    if (first) {
      log.warn("reservation {}: pre-built guests (share {}) given up: {}", r.id(),
          b.target.shareId(), why);
      if (!r.isEnding()) {
        r.setGuests(state, why + "; released, the next job builds its own guests", "");
      }
    }
  }

  /** ReleaseShare on every site of {@code r}; true if every site confirmed. */
  private boolean releaseShare(ReservationRecord r, String shareId, String why) {
    return build.release(shareId, new ArrayList<>(r.siteNodes().keySet()), why);
  }

  private static String nodes(ReservationRecord r) {
    int n = r.siteNodes().values().stream().mapToInt(Integer::intValue).sum();
    return n + " guest" + (n == 1 ? "" : "s") + " on " + String.join(", ",
        r.siteNodes().keySet());
  }

  /** One reservation's build. */
  private static final class Build {
    final ShareBuild.Target target;
    final CompletableFuture<Boolean> done = new CompletableFuture<>(); // true: ready
    final Map<String, Watch> watches = new ConcurrentHashMap<>();
    Future<?> task; // set under the Prebuilds lock, before anyone else sees the build
    BuildState phase = BuildState.BUILDING; // guarded by the Prebuilds lock
    volatile String built = "";
    volatile String problem; // a node or a stream lost while waiting for a job

    Build(ReservationRecord r, String shareId) {
      this.target = new ShareBuild.Target(shareId, r, r.user());
    }
  }

  /**
   * One site's WatchShare while the guests wait: how far it has read, and what went wrong. An
   * update counts as read only once its handler ran, so a NODE_LOST that arrives while the watch
   * is closed is either seen here or left for the job's own feed, never lost.
   */
  private static final class Watch implements SiteClient.ShareListener {
    final Build build;
    final String site;
    // Guarded by this.
    private AutoCloseable handle;
    private boolean closed;
    private String incarnation = ""; // of the last update handled
    private long lastSeq;
    private String pendingInc = ""; // stamped by fresh(), handled next
    private long pendingSeq;

    Watch(Build build, String site) {
      this.build = build;
      this.site = site;
    }

    void open(AutoCloseable h) {
      boolean close;
      synchronized (this) {
        handle = h;
        close = closed;
      }
      if (close) {
        closeQuietly(h);
      }
    }

    @Override
    public synchronized boolean fresh(String inc, long seq) {
      if (inc.isEmpty()) {
        pendingInc = "";
        return true;
      }
      boolean isNew = !inc.equals(incarnation) || seq > lastSeq;
      if (isNew) {
        pendingInc = inc;
        pendingSeq = seq;
      }
      return isNew;
    }

    /** The update fresh() stamped was handled; false once closed (then it is not counted). */
    private synchronized boolean handled() {
      if (closed) {
        return false;
      }
      if (!pendingInc.isEmpty()) {
        incarnation = pendingInc;
        lastSeq = pendingSeq;
      }
      return true;
    }

    @Override
    public synchronized void onEvent(Event e) {
      if (!handled()) {
        return;
      }
      if (e.getNodeState() == NodeState.NODE_LOST && build.problem == null) {
        build.problem = (e.getHostname().isEmpty() ? "a node of site '" + site + "'"
            : "node " + e.getHostname()) + " was lost" + (e.getMessage().isEmpty() ? ""
            : ": " + e.getMessage());
      }
    }

    @Override
    public synchronized void onOutput(OutputChunk chunk) {
      handled();
    }

    @Override
    public synchronized void onExit(CommandExit exit) {
      handled();
    }

    @Override
    public void onClosed(Throwable error) {
      synchronized (this) {
        if (closed) {
          return;
        }
        if (build.problem == null) {
          build.problem = "lost the event stream of site '" + site + "'"
              + (error == null ? "" : ": " + CallErrors.describe(error));
        }
      }
    }

    /** Stops watching; returns how far it had read. */
    ShareFeed.Position close() {
      AutoCloseable h;
      ShareFeed.Position p;
      synchronized (this) {
        closed = true;
        h = handle;
        handle = null;
        p = new ShareFeed.Position(incarnation, lastSeq);
      }
      closeQuietly(h);
      return p;
    }

    private void closeQuietly(AutoCloseable h) {
      if (h == null) {
        return;
      }
      try {
        h.close();
      } catch (Exception e) {
        log.debug("closing the watch of site '{}': {}", site, e.toString());
      }
    }
  }
}
