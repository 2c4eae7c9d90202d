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
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.PrebuiltGuests;
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
 * (bounded), gets the share id and, per site, how far the watch had read (so the job's own feed
 * skips what happened before it), and the reservation records them IN_USE. The job tears them
 * down when it ends, like guests it built itself; later jobs in the reservation build their own.
 * A build that failed, or guests that lost a node or their CRM's stream, are released, and
 * {@code take} returns null: the job builds its guests itself.
 *
 * <p>Thread-safe: the map of builds is guarded by this object. {@link #started} and
 * {@link #take} decide under that lock, and a job is bound to its reservation before its runner
 * takes, so either the build sees the bound job and does not start, or the job finds the build.
 */
final class Prebuilds {
  private static final Logger log = LoggerFactory.getLogger(Prebuilds.class);

  /** Guests a job adopts: the share's id and, per site, the watch's last (incarnation, seq). */
  record Adopted(String shareId, Map<String, ShareFeed.Position> seen, String built) {}

  private final ShareBuild build;
  private final SiteClients clients;
  private final ExecutorService workers;
  private final CoordinatorSettings settings;
  private final Map<String, Build> builds = new HashMap<>(); // by reservation id

  Prebuilds(ShareBuild build, SiteClients clients, ExecutorService workers,
      CoordinatorSettings settings) {
    this.build = build;
    this.clients = clients;
    this.workers = workers;
    this.settings = settings;
  }

  /** The reservation's window started: builds its guests unless a job is bound already. */
  void started(ReservationRecord r) {
    if (!r.prebuild()) {
      return;
    }
    Build b;
    synchronized (this) {
      if (r.isEnding() || r.liveJob() != null || builds.containsKey(r.id())) {
        return;
      }
      b = new Build(r, Ids.fresh("w", id -> false));
      builds.put(r.id(), b);
    }
    PrebuiltGuests before = r.guests(); // a GRC restart finds what the last process recorded
    r.setGuests(GUESTS_BUILDING, "building " + nodes(r) + " at the window's start",
        b.target.shareId());
    b.task = workers.submit(() -> run(b, before));
  }

  /**
   * The guests for the job that runs in {@code r} now, or null when it must build its own.
   * Waits up to {@code wait} for a build still running (then gives it up). The guests are the
   * caller's from here: its ending releases the share. Interrupted, the guests stay for the next
   * job.
   */
  Adopted take(ReservationRecord r, String jobId, Duration wait) throws InterruptedException {
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
        builds.putIfAbsent(r.id(), b);
      }
      throw e;
    } catch (TimeoutException e) {
      b.task.cancel(true);
      giveUp(b, "not ready within " + Quantities.formatDuration(wait) + " when job " + jobId
          + " started");
      return null;
    } catch (ExecutionException e) {
      ready = false;
    }
    if (!ready) {
      return null;
    }
    String problem = b.problem;
    if (problem != null) {
      giveUp(b, problem);
      return null;
    }
    Map<String, ShareFeed.Position> seen = new HashMap<>();
    b.watches.forEach((site, w) -> seen.put(site, w.close()));
    r.setGuests(GUESTS_IN_USE, b.built + "; in use by job " + jobId, b.target.shareId());
    log.info("reservation {}: job {} adopts its pre-built guests (share {})", r.id(), jobId,
        b.target.shareId());
    return new Adopted(b.target.shareId(), seen, b.built);
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
    }
    if (b == null) {
      return;
    }
    b.ending = true;
    if (b.task != null) {
      b.task.cancel(true);
    }
    b.watches.values().forEach(Watch::close);
    if (r.guests().getState() != GUESTS_STATE_UNSPECIFIED) {
      r.setGuests(GUESTS_RELEASED, "torn down with the reservation", "");
    }
  }

  private void run(Build b, PrebuiltGuests before) {
    ReservationRecord r = b.target.reservation();
    long t0 = System.nanoTime();
    try {
      if (!before.getShareId().isEmpty() && before.getState() != GUESTS_RELEASED) {
        releaseShare(r, before.getShareId(), "the GRC restarted; the guests are built again");
      }
      build.open(b.target);
      for (String site : b.target.sites()) {
        Watch w = new Watch(b, site);
        b.watches.put(site, w);
        w.handle = clients.forSite(site).watchShare(b.target.shareId(), w);
      }
      var nodes = build.setUp(b.target);
      build.installTrust(b.target, build.collectKeys(b.target, nodes));
      build.startGuests(b.target);
      b.built = nodes.size() + " guest" + (nodes.size() == 1 ? "" : "s") + " ready, built in "
          + Quantities.formatDuration(Duration.ofNanos(System.nanoTime() - t0));
      if (b.ending) {
        b.done.complete(false);
        return;
      }
      r.setGuests(GUESTS_READY, b.built, b.target.shareId());
      log.info("reservation {}: {} (share {})", r.id(), b.built, b.target.shareId());
      b.done.complete(true);
    } catch (PhaseFailure f) {
      fail(b, f.getMessage());
    } catch (InterruptedException e) {
      fail(b, "stopped while building");
    } catch (RuntimeException e) {
      fail(b, CallErrors.describe(e));
    }
  }

  private void fail(Build b, String why) {
    ReservationRecord r = b.target.reservation();
    synchronized (this) {
      builds.remove(r.id(), b);
    }
    if (!b.ending) {
      giveUp(b, "building failed: " + why);
    }
    b.done.complete(false);
  }

  /** Releases the share everywhere and records why; the next job builds its own guests. */
  private void giveUp(Build b, String why) {
    ReservationRecord r = b.target.reservation();
    b.watches.values().forEach(Watch::close);
    boolean interrupted = Thread.interrupted(); // the release must not be cut short
    try {
      releaseShare(r, b.target.shareId(), "pre-built guests given up: " + why);
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    log.warn("reservation {}: pre-built guests (share {}) given up: {}", r.id(),
        b.target.shareId(), why);
    if (!r.isEnding()) {
      r.setGuests(GUESTS_FAILED, why + "; released, the next job builds its own guests", "");
    }
  }

  private void releaseShare(ReservationRecord r, String shareId, String why) {
    List<CompletableFuture<Void>> calls = new ArrayList<>();
    for (String site : r.siteNodes().keySet()) {
      calls.add(CompletableFuture.runAsync(() -> {
        try {
          clients.forSite(site).releaseShare(shareId, why);
        } catch (RuntimeException e) {
          log.warn("reservation {}: ReleaseShare {} on site '{}' failed: {}", r.id(), shareId,
              site, CallErrors.describe(e));
        }
      }, workers));
    }
    try {
      CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new))
          .get(settings.rpcTimeout().plus(settings.callMargin()).toMillis(),
              TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      log.warn("reservation {}: releasing share {}: {}", r.id(), shareId, e.toString());
    }
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
    volatile Future<?> task;
    volatile String built = "";
    volatile String problem; // a node or a stream lost while waiting for a job
    volatile boolean ending;

    Build(ReservationRecord r, String shareId) {
      this.target = new ShareBuild.Target(shareId, r, r.user());
    }
  }

  /** One site's WatchShare while the guests wait: where it has read to, and what went wrong. */
  private static final class Watch implements SiteClient.ShareListener {
    final Build build;
    final String site;
    volatile AutoCloseable handle;
    private String incarnation = ""; // guarded by this
    private long lastSeq; // guarded by this
    private boolean closed; // guarded by this

    Watch(Build build, String site) {
      this.build = build;
      this.site = site;
    }

    @Override
    public synchronized boolean fresh(String inc, long seq) {
      if (inc.isEmpty()) {
        return true;
      }
      boolean isNew = !inc.equals(incarnation) || seq > lastSeq;
      if (isNew) {
        incarnation = inc;
        lastSeq = seq;
      }
      return isNew;
    }

    @Override
    public void onEvent(Event e) {
      if (e.getNodeState() == NodeState.NODE_LOST && build.problem == null) {
        build.problem = (e.getHostname().isEmpty() ? "a node of site '" + site + "'"
            : "node " + e.getHostname()) + " was lost" + (e.getMessage().isEmpty() ? ""
            : ": " + e.getMessage());
      }
    }

    @Override
    public void onOutput(OutputChunk chunk) {}

    @Override
    public void onExit(CommandExit exit) {}

    @Override
    public void onClosed(Throwable error) {
      synchronized (this) {
        if (closed) {
          return;
        }
      }
      if (build.problem == null) {
        build.problem = "lost the event stream of site '" + site + "'"
            + (error == null ? "" : ": " + CallErrors.describe(error));
      }
    }

    /** Stops watching; returns how far it had read. */
    ShareFeed.Position close() {
      AutoCloseable h;
      ShareFeed.Position p;
      synchronized (this) {
        closed = true;
        h = handle;
        p = new ShareFeed.Position(incarnation, lastSeq);
      }
      if (h != null) {
        try {
          h.close();
        } catch (Exception e) {
          log.debug("closing the watch of site '{}': {}", site, e.toString());
        }
      }
      return p;
    }
  }
}
