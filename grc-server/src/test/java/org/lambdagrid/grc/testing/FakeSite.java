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
import org.lambdagrid.grc.SiteClient;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.ReserveShareRequest;
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
  private final Map<String, ReserveShareRequest> shares = new ConcurrentHashMap<>();
  private final Map<String, List<ShareListener>> listeners = new ConcurrentHashMap<>();
  private final List<String> released = new CopyOnWriteArrayList<>();
  private final Map<String, TrustBundle> bundles = new ConcurrentHashMap<>();
  private final Map<String, ExecSpec> execs = new ConcurrentHashMap<>();
  private volatile int exitCode;
  private volatile String stdout = "";
  private volatile boolean holdExit;

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
  public FakeSite recoverFrom(String method) {
    failures.remove(method);
    return this;
  }

  /** Makes every later call of {@code method} block until interrupted. */
  public FakeSite hangOn(String method) {
    hangs.put(method, new CountDownLatch(1));
    return this;
  }

  public FakeSite exitCode(int code) {
    this.exitCode = code;
    return this;
  }

  public FakeSite stdout(String text) {
    this.stdout = text;
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

  /** Pushes a NODE_LOST event for the node on the job's WatchShare. */
  public void loseNode(String jobId, String hostname, String why) {
    each(jobId, l -> l.onEvent(Event.newBuilder().setSite(name).setHostname(hostname)
        .setNodeState(NodeState.NODE_LOST).setMessage(why).build()));
  }

  public boolean isWatched(String jobId) {
    return !listeners.getOrDefault(jobId, List.of()).isEmpty();
  }

  public List<String> released() {
    return List.copyOf(released);
  }

  public Map<String, ReserveShareRequest> shares() {
    return Map.copyOf(shares);
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

  private ReserveShareRequest share(String jobId) {
    ReserveShareRequest r = shares.get(jobId);
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
  public void reserveShare(ReserveShareRequest request) {
    enter("ReserveShare", request.getRange().getCidr());
    shares.put(request.getJobId(), request);
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
    ReserveShareRequest share = share(request.getJobId());
    Ipv4Cidr range = Ipv4Cidr.parse(share.getRange().getCidr());
    List<NodeEntry> nodes = new ArrayList<>();
    for (int i = 0; i < share.getNodeCount(); i++) {
      String host = name + "-" + i;
      event(request.getJobId(), host, NodeState.NODE_SET_UP, Phase.PHASE_SETUP);
      nodes.add(NodeEntry.newBuilder().setSite(name).setIndex(i).setHostname(host)
          .setAddress(Ipv4Cidr.formatAddress(range.hostAddress(i)))
          .setPrefixLength(range.prefixLength()).setSlots(request.getSlotsPerNode()).build());
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
    listeners.computeIfAbsent(jobId, k -> new CopyOnWriteArrayList<>()).add(listener);
    return () -> {
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
