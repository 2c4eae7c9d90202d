package org.lambdagrid.grc.testing;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.grc.site.SiteClient;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.TrustBundle;

/**
 * A CRM in memory, for driving the GRC without one: records every call (into a log shared by
 * all fake sites, so tests can check the order across sites), answers each phase for every node
 * of its share, and lets a test inject failures, hangs, lost nodes and the command's exit.
 *
 * <p>Nodes: node i of a share is {@code <site>-<i>} with the i-th usable address of the share's
 * range, host key {@code ssh-ed25519 HOST-<hostname>}, user key {@code ssh-ed25519
 * USER-<hostname>}. After ExecCommand the site prints {@code stdout} and exits with
 * {@code exitCode}, unless {@link #holdExit} was called (then the test calls {@link #exit}).
 * Thread-safe.
 */
public final class FakeSite implements SiteClient {
  private final String name;
  private final List<String> log;
  private final Map<String, Status> failures = new ConcurrentHashMap<>();
  private final Map<String, CountDownLatch> hangs = new ConcurrentHashMap<>();
  private final Map<String, PrepareRequest> reservations = new ConcurrentHashMap<>();
  private final Map<String, String> reservationStates = new ConcurrentHashMap<>();
  private final Map<String, PrepareRequest> shares = new ConcurrentHashMap<>();
  private final Map<String, String> setupBridges = new ConcurrentHashMap<>();
  private final Map<String, SetupNodesRequest> setups = new ConcurrentHashMap<>();
  private final Map<String, List<ShareListener>> listeners = new ConcurrentHashMap<>();
  private final List<String> released = new CopyOnWriteArrayList<>();
  private final Map<String, TrustBundle> bundles = new ConcurrentHashMap<>();
  private final Map<String, ExecSpec> execs = new ConcurrentHashMap<>();
  private volatile int exitCode;
  private volatile String stdout = "";
  private volatile boolean holdExit;
  private final java.util.Queue<Status> watchFailures =
      new java.util.concurrent.ConcurrentLinkedQueue<>();
  private volatile Status watchFailure;

  public FakeSite(String name, List<String> sharedLog) {
    this.name = name;
    this.log = sharedLog;
  }

  public String name() {
    return name;
  }

  /** Makes every later call of {@code method} (e.g. "SetupNodes") fail with this status. */
  public FakeSite failOn(String method, Status status) {
    failures.put(method, status);
    return this;
  }

  /** Undoes {@link #failOn}: later calls of {@code method} succeed again. */
  public FakeSite clearFailure(String method) {
    failures.remove(method);
    return this;
  }

  /** Same as {@link #clearFailure}. */
  public FakeSite recoverFrom(String method) {
    return clearFailure(method);
  }

  /** Makes every later call of {@code method} block until interrupted. */
  public FakeSite hangOn(String method) {
    hangs.put(method, new CountDownLatch(1));
    return this;
  }

  /** Lets the calls of {@code method} that {@link #hangOn} blocks go on; later ones too. */
  public FakeSite unhang(String method) {
    CountDownLatch l = hangs.remove(method);
    if (l != null) {
      l.countDown();
    }
    return this;
  }

  public FakeSite exitCode(int code) {
    this.exitCode = code;
    return this;
  }

  private final Map<String, String> localUsers = new java.util.concurrent.ConcurrentHashMap<>();

  public FakeSite stdout(String text) {
    this.stdout = text;
    return this;
  }

  /**
   * SetupNodes reports {@code local} as every node's local account for grid user {@code grid}
   * (crm.yaml accounts:); unmapped users get no local_user, as from a CRM that predates it.
   */
  public FakeSite mapUser(String grid, String local) {
    localUsers.put(grid, local);
    return this;
  }

  /** ExecCommand starts the command but the exit only comes from {@link #exit}. */
  public FakeSite holdExit() {
    this.holdExit = true;
    return this;
  }

  public void exit(String jobId, String hostname, int code) {
    each(jobId, l -> l.onExit(CommandExit.newBuilder().setHostname(hostname).setExitCode(code)
        .build()));
  }

  public void output(String jobId, String hostname, OutputChunk.Stream stream, String text) {
    each(jobId, l -> l.onOutput(OutputChunk.newBuilder().setHostname(hostname).setStream(stream)
        .setData(ByteString.copyFromUtf8(text)).build()));
  }

  /**
   * Output stamped {@code (incarnation, seq)}, offered as GrpcSiteClient does: only to listeners
   * that find it {@link ShareListener#fresh}.
   */
  public void stampedOutput(String jobId, String incarnation, long seq, String hostname,
      String text) {
    each(jobId, l -> {
      if (l.fresh(incarnation, seq)) {
        l.onOutput(OutputChunk.newBuilder().setHostname(hostname)
            .setStream(OutputChunk.Stream.STDOUT).setData(ByteString.copyFromUtf8(text)).build());
      }
    });
  }

  /** Pushes a NODE_LOST event for the node on the job's WatchShare. */
  public void loseNode(String jobId, String hostname, String why) {
    each(jobId, l -> l.onEvent(Event.newBuilder().setSite(name).setHostname(hostname)
        .setNodeState(NodeState.NODE_LOST).setMessage(why).build()));
  }

  /**
   * Ends the job's WatchShare streams with {@code status}, as a CRM that dies (UNAVAILABLE) or
   * stops (CANCELLED) does; the listeners are gone afterwards.
   */
  public void breakWatch(String jobId, Status status) {
    List<ShareListener> ls = listeners.remove(jobId);
    if (ls != null) {
      ls.forEach(l -> l.onClosed(status.asRuntimeException()));
    }
  }

  /**
   * The next WatchShare calls fail with these statuses, one each, in order (reported on another
   * thread after the call returned, as gRPC does); then {@link #failWatches}, if set.
   */
  public FakeSite failNextWatches(Status... statuses) {
    watchFailures.addAll(List.of(statuses));
    return this;
  }

  /** Every later WatchShare fails with {@code status} (null: they succeed again). */
  public FakeSite failWatches(Status status) {
    watchFailure = status;
    return this;
  }

  public boolean isWatched(String jobId) {
    return !listeners.getOrDefault(jobId, List.of()).isEmpty();
  }

  public List<String> released() {
    return List.copyOf(released);
  }

  /** Job id -> the Prepare of the reservation its share is bound to. */
  public Map<String, PrepareRequest> shares() {
    return Map.copyOf(shares);
  }

  /** Reservation id -> PREPARED, COMMITTED, ABORTED or RELEASED, as this fake CRM saw it. */
  public Map<String, String> reservationStates() {
    return Map.copyOf(reservationStates);
  }

  /** Reservation id -> its last Prepare. */
  public Map<String, PrepareRequest> reservations() {
    return Map.copyOf(reservations);
  }

  /** Reservation ids this site holds now (prepared or committed). */
  public List<String> held() {
    return reservationStates.entrySet().stream()
        .filter(e -> e.getValue().equals("PREPARED") || e.getValue().equals("COMMITTED"))
        .map(Map.Entry::getKey).sorted().toList();
  }

  /** The bridge SetupNodes asked for the job ("" for none). */
  public String bridge(String jobId) {
    return setupBridges.get(jobId);
  }

  /** The last SetupNodes request of the share, or null. */
  public SetupNodesRequest setup(String jobId) {
    return setups.get(jobId);
  }

  public TrustBundle bundle(String jobId) {
    return bundles.get(jobId);
  }

  public ExecSpec exec(String jobId) {
    return execs.get(jobId);
  }

  private void each(String jobId, java.util.function.Consumer<ShareListener> f) {
    listeners.getOrDefault(jobId, List.of()).forEach(f);
  }

  private void enter(String method, String detail) {
    log.add(name + " " + method + (detail.isEmpty() ? "" : " " + detail));
    Status failure = failures.get(method);
    if (failure != null) {
      throw failure.asRuntimeException();
    }
    CountDownLatch hang = hangs.get(method);
    if (hang != null) {
      try {
        hang.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
      }
    }
  }

  private void event(String jobId, String hostname, NodeState state, Phase phase) {
    each(jobId, l -> l.onEvent(Event.newBuilder().setSite(name).setHostname(hostname)
        .setNodeState(state).setPhase(phase).build()));
  }

  private PrepareRequest share(String jobId) {
    PrepareRequest r = shares.get(jobId);
    if (r == null) {
      throw Status.NOT_FOUND.withDescription("job " + jobId + " has no share on site '" + name
          + "'").asRuntimeException();
    }
    return r;
  }

  private List<String> hostnames(String jobId) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < share(jobId).getNodeCount(); i++) {
      out.add(name + "-" + i);
    }
    return out;
  }

  @Override
  public void prepare(PrepareRequest request) {
    enter("Prepare", request.getRange().getCidr());
    String id = request.getReservationId();
    synchronized (this) {
      String st = reservationStates.get(id);
      if (st != null && !st.equals("PREPARED") && !st.equals("COMMITTED")) {
        throw Status.ABORTED.withDescription("reservation " + id + " is " + st)
            .asRuntimeException();
      }
      reservations.put(id, request);
      reservationStates.putIfAbsent(id, "PREPARED");
    }
  }

  @Override
  public void commit(String reservationId) {
    enter("Commit", "");
    synchronized (this) {
      String st = reservationStates.get(reservationId);
      if (st == null) {
        throw Status.NOT_FOUND.withDescription("no hold for " + reservationId)
            .asRuntimeException();
      }
      if (!st.equals("PREPARED") && !st.equals("COMMITTED")) {
        throw Status.FAILED_PRECONDITION.withDescription(reservationId + " is " + st)
            .asRuntimeException();
      }
      reservationStates.put(reservationId, "COMMITTED");
    }
  }

  @Override
  public void abort(String reservationId) {
    log.add(name + " Abort");
    synchronized (this) {
      String st = reservationStates.get(reservationId);
      if (st == null || st.equals("PREPARED")) {
        reservationStates.put(reservationId, "ABORTED");
      }
    }
  }

  @Override
  public void release(String reservationId, String reason) {
    enter("Release", "");
    List<String> bound = new ArrayList<>();
    shares.forEach((job, r) -> {
      if (r.getReservationId().equals(reservationId)) {
        bound.add(job);
      }
    });
    bound.forEach(job -> releaseShare(job, reason));
    synchronized (this) {
      if (reservationStates.containsKey(reservationId)) {
        reservationStates.put(reservationId, "RELEASED");
      }
    }
  }

  @Override
  public void openShare(String jobId, String reservationId, String user) {
    enter("OpenShare", "");
    if (!"COMMITTED".equals(reservationStates.get(reservationId))) {
      throw Status.FAILED_PRECONDITION.withDescription("reservation " + reservationId + " is "
          + reservationStates.get(reservationId) + " on site '" + name + "'").asRuntimeException();
    }
    shares.putIfAbsent(jobId, reservations.get(reservationId));
  }

  @Override
  public void releaseShare(String jobId, String reason) {
    Status failure = failures.get("ReleaseShare");
    if (failure != null) {
      log.add(name + " ReleaseShare failed");
      throw failure.asRuntimeException();
    }
    log.add(name + " ReleaseShare");
    released.add(jobId);
    if (shares.remove(jobId) != null) {
      List<ShareListener> ls = listeners.remove(jobId);
      if (ls != null) {
        ls.forEach(l -> l.onClosed(null));
      }
    }
  }

  @Override
  public List<NodeEntry> setupNodes(SetupNodesRequest request) {
    enter("SetupNodes", String.join(",", request.getPeerRangesList().stream()
        .map(r -> r.getCidr()).toList()));
    PrepareRequest share = share(request.getJobId());
    setupBridges.put(request.getJobId(), request.getBridge());
    setups.put(request.getJobId(), request);
    Ipv4Cidr range = Ipv4Cidr.parse(share.getRange().getCidr());
    List<NodeEntry> nodes = new ArrayList<>();
    for (int i = 0; i < share.getNodeCount(); i++) {
      String host = name + "-" + i;
      event(request.getJobId(), host, NodeState.NODE_SET_UP, Phase.PHASE_SETUP);
      nodes.add(NodeEntry.newBuilder().setSite(name).setIndex(i).setHostname(host)
          .setAddress(Ipv4Cidr.formatAddress(range.hostAddress(i)))
          .setPrefixLength(range.prefixLength()).setSlots(request.getSlotsPerNode())
          .setLocalUser(localUsers.getOrDefault(request.getUser(), "")).build());
    }
    return nodes;
  }

  @Override
  public List<NodeKeys> collectKeys(String jobId, Duration timeout) {
    enter("CollectKeys", "");
    List<NodeKeys> keys = new ArrayList<>();
    for (String h : hostnames(jobId)) {
      keys.add(NodeKeys.newBuilder().setHostname(h).setHostPublicKey("ssh-ed25519 HOST-" + h)
          .setUserPublicKey("ssh-ed25519 USER-" + h).build());
    }
    return keys;
  }

  @Override
  public void installTrust(String jobId, TrustBundle bundle, Duration timeout) {
    enter("InstallTrust", "");
    share(jobId);
    bundles.put(jobId, bundle);
    hostnames(jobId).forEach(h -> event(jobId, h, NodeState.NODE_KEYED, Phase.PHASE_SET_KEYS));
  }

  @Override
  public void startGuests(String jobId, Duration timeout) {
    enter("StartGuests", "");
    hostnames(jobId).forEach(h -> event(jobId, h, NodeState.NODE_READY, Phase.PHASE_RUN));
  }

  @Override
  public void execCommand(String jobId, String hostname, ExecSpec exec, Duration timeout) {
    enter("ExecCommand", hostname);
    share(jobId);
    execs.put(jobId, exec);
    event(jobId, hostname, NodeState.NODE_EXECUTING, Phase.PHASE_EXEC);
    if (!holdExit) {
      if (!stdout.isEmpty()) {
        output(jobId, hostname, OutputChunk.Stream.STDOUT, stdout);
      }
      exit(jobId, hostname, exitCode);
    }
  }

  @Override
  public AutoCloseable watchShare(String jobId, ShareListener listener) {
    log.add(name + " WatchShare");
    Status failure = watchFailures.poll();
    if (failure == null) {
      failure = watchFailure;
    }
    if (failure != null) {
      Status f = failure;
      Thread t = new Thread(() -> listener.onClosed(f.asRuntimeException()), name + "-watch");
      t.setDaemon(true);
      t.start();
      return () -> log.add(name + " CloseWatch");
    }
    listeners.computeIfAbsent(jobId, k -> new CopyOnWriteArrayList<>()).add(listener);
    return () -> {
      log.add(name + " CloseWatch");
      List<ShareListener> ls = listeners.get(jobId);
      if (ls != null) {
        ls.remove(listener);
      }
    };
  }

  @Override
  public void close() {
  }
}
