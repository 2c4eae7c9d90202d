package org.lambdagrid.crm.site;

import static org.lambdagrid.common.ProtoNames.shortName;
import static org.lambdagrid.proto.v1.NodeState.NODE_CONNECTED;
import static org.lambdagrid.proto.v1.NodeState.NODE_DONE;
import static org.lambdagrid.proto.v1.NodeState.NODE_EXECUTING;
import static org.lambdagrid.proto.v1.NodeState.NODE_KEYED;
import static org.lambdagrid.proto.v1.NodeState.NODE_LAUNCHING;
import static org.lambdagrid.proto.v1.NodeState.NODE_LOST;
import static org.lambdagrid.proto.v1.NodeState.NODE_READY;
import static org.lambdagrid.proto.v1.NodeState.NODE_SET_UP;
import static org.lambdagrid.proto.v1.NodeState.NODE_STOPPED;

import io.grpc.Context;
import io.grpc.Status;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Errors.RequestException;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.crm.pilot.CommandFailedException;
import org.lambdagrid.crm.pilot.PilotHandle;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.crm.pilot.PilotListener;
import org.lambdagrid.crm.pilot.PilotLostException;
import org.lambdagrid.crm.pilot.PilotSession;
import org.lambdagrid.crm.pilot.PilotStartException;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.ExecCommand;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.GetKeysCommand;
import org.lambdagrid.proto.v1.GetKeysResult;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.NodeNotification;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.PilotHello;
import org.lambdagrid.proto.v1.PilotWelcome;
import org.lambdagrid.proto.v1.RunCommand;
import org.lambdagrid.proto.v1.SetKeysCommand;
import org.lambdagrid.proto.v1.SetupCommand;
import org.lambdagrid.proto.v1.ShutdownCommand;
import org.lambdagrid.proto.v1.TrustBundle;
import org.lambdagrid.proto.v1.WatchShareResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One job's share of this site: the hold, its nodes, their pilots, and its event history.
 *
 * <p>Threading: phase calls are serialised by {@code phaseLock} and block their caller until the
 * barrier completes. Node state is guarded by {@code this}; nothing that can call out (pilot
 * streams, watchers, starters) is invoked while holding it. Updates go to the share's
 * {@link ShareHistory} (its lock is taken after this one), which calls the watchers; which pilot
 * may take which node is decided by {@link PilotAdmission}.
 *
 * <p>Protobuf messages (NodeEntry, NodeKeys, TrustBundle, ExecSpec, WatchShareResponse) are used
 * as plain data here: they pass through this site unchanged between the GRC and the pilots.
 *
 * <p>Re-adoption: every accepted pilot gets a reconnect credential in its welcome. Once
 * StartGuests has completed, the share is recorded as running ({@link SiteLedger#shareRunning},
 * with the credentials' hashes). A CRM restarted from that record builds the share again with
 * {@link #Share(ShareSpec, SiteShares, SiteLedger.Running)}: its nodes are READY without a
 * pilot, and a pilot that redials with its reconnect credential (hello with resume) is bound to
 * its node again. A node whose pilot is not back within the reconnect grace is LOST, and a
 * share nobody watched again by then is released ({@link #reconnectGraceEnded}). In a CRM that
 * did not restart, a broken stream makes the node LOST at once, so a resume is refused there.
 */
final class Share {
  private static final Logger log = LoggerFactory.getLogger(Share.class);
  private static final long POLL_MILLIS = 100;

  final ShareSpec spec;
  private final SiteShares site;
  private final ShareHistory history;
  private final PilotAdmission admission;
  private final ReentrantLock phaseLock = new ReentrantLock();
  private final CompletableFuture<Void> releasedFuture = new CompletableFuture<>();

  // Guarded by this.
  private final List<Node> nodes = new ArrayList<>();
  private boolean releasing;
  /** The grid user the share's guests are for, and its local account here (which they run as). */
  private String gridUser;
  private String guestUser;
  private List<Ipv4Cidr> peerRanges = List.of();
  private int slots;
  private String bridge = "";
  private NodeShape shape = NodeShape.NONE;
  private boolean runningRecorded;
  private boolean suspended;
  private final boolean restored;

  Share(ShareSpec spec, SiteShares site) {
    this(spec, site, false);
  }

  private Share(ShareSpec spec, SiteShares site, boolean restored) {
    this.spec = spec;
    this.site = site;
    this.history = new ShareHistory(spec.jobId(), site.incarnation(), site.executor());
    this.admission = new PilotAdmission(spec.jobId(), site.settings().site(), site.clock());
    this.restored = restored;
  }

  /**
   * A running share put back after a CRM restart: nodes READY, no pilot connected yet, EXEC not
   * repeatable; its history starts here (the GRC already has everything before the restart).
   */
  Share(ShareSpec spec, SiteShares site, SiteLedger.Running running) {
    this(spec, site, true);
    synchronized (this) {
      gridUser = spec.user();
      guestUser = running.guestUser();
      slots = running.slots();
      runningRecorded = true;
      for (int i = 0; i < spec.nodeCount(); i++) {
        Node n = new Node(i, NODE_READY, "the CRM restarted; waiting up to "
            + Quantities.formatDuration(site.settings().reconnectGrace())
            + " for the pilot to redial");
        n.credentials = PilotCredentials.restored(i < running.reconnectHashes().size()
            ? running.reconnectHashes().get(i) : "");
        n.execSent = true;
        n.phase = Phase.PHASE_EXEC;
        nodes.add(n);
      }
    }
  }

  // ------------------------------------------------------------------------------ phases

  List<NodeEntry> setupNodes(SetupParams params) {
    Duration timeout = site.timeoutOr(params.timeout());
    Instant deadline = site.clock().instant().plus(timeout);
    phaseLock.lock();
    try {
      List<Node> toStart = new ArrayList<>();
      String user = params.user().isEmpty() ? spec.user() : params.user();
      boolean first;
      synchronized (this) {
        first = nodes.isEmpty();
      }
      // The account rule may look the uid up (getent, up to seconds): not under the monitor.
      String account = first ? site.settings().accounts().localAccount(user) : null;
      synchronized (this) {
        checkOpen();
        if (nodes.isEmpty()) {
          gridUser = user;
          guestUser = account != null ? account
              : site.settings().accounts().localAccount(gridUser);
          if (!guestUser.equals(gridUser)) {
            log.info("job {}: grid user '{}' runs as local account '{}' on site '{}' ({})",
                spec.jobId(), gridUser, guestUser, site.settings().site(),
                site.settings().accounts().origin(gridUser));
          }
          peerRanges = params.peerRanges();
          bridge = params.bridge();
          shape = params.shape();
          slots = params.slotsPerNode() > 0 ? params.slotsPerNode() : site.settings().slotsPerNode();
          for (int i = 0; i < spec.nodeCount(); i++) {
            nodes.add(new Node(i));
          }
        }
        checkNoneLost();
        for (Node n : nodes) {
          if (n.handle == null && n.state == NODE_LAUNCHING) {
            n.credentials.issue(
                site.settings().credentialExpiry(site.clock().instant(), deadline));
            n.phase = Phase.PHASE_LAUNCH;
            toStart.add(n);
          }
        }
      }
      for (Node n : toStart) {
        startPilot(n);
      }
      List<Node> targets = pending(NODE_SET_UP);
      runPhase(Phase.PHASE_LAUNCH, timeout, targets, n -> n.connected.thenCompose(session -> {
        n.phase = Phase.PHASE_SETUP;
        return session.send(ConnectResponse.newBuilder().setSetup(setupCommand(n)));
      }).thenAccept(reply -> {
        if (reply.getSetup().hasKeys()) {
          keep(n, reply.getSetup().getKeys()); // CollectKeys then needs no GET_KEYS here
        }
        move(n, NODE_SET_UP, "guest built with address "
            + Ipv4Cidr.formatAddress(n.address) + "/" + spec.range().prefixLength());
      }));
      synchronized (this) {
        return nodes.stream().map(this::entry).toList();
      }
    } finally {
      phaseLock.unlock();
    }
  }

  List<NodeKeys> collectKeys(Duration timeout) {
    phaseLock.lock();
    try {
      List<Node> targets;
      synchronized (this) {
        requireReached(NODE_SET_UP, "SetupNodes");
        targets = nodes.stream().filter(n -> n.keys == null).toList();
      }
      runPhase(Phase.PHASE_KEYS, site.timeoutOr(timeout), targets, n -> send(n,
          ConnectResponse.newBuilder().setGetKeys(GetKeysCommand.getDefaultInstance()))
          .thenApply(reply -> keep(n, reply.getGetKeys())));
      synchronized (this) {
        return nodes.stream().map(n -> n.keys).toList();
      }
    } finally {
      phaseLock.unlock();
    }
  }

  /** Records node {@code n}'s public keys (from its SETUP or GET_KEYS reply); returns them. */
  private synchronized NodeKeys keep(Node n, GetKeysResult keys) {
    n.keys = NodeKeys.newBuilder().setHostname(n.hostname)
        .setAddress(Ipv4Cidr.formatAddress(n.address))
        .setHostPublicKey(keys.getHostPublicKey())
        .setUserPublicKey(keys.getUserPublicKey()).build();
    return n.keys;
  }

  void installTrust(TrustBundle bundle, Duration timeout) {
    phaseLock.lock();
    try {
      synchronized (this) {
        requireReached(NODE_SET_UP, "SetupNodes");
      }
      runPhase(Phase.PHASE_SET_KEYS, site.timeoutOr(timeout), pending(NODE_KEYED), n -> send(n,
          ConnectResponse.newBuilder().setSetKeys(SetKeysCommand.newBuilder().setBundle(bundle)))
          .thenAccept(reply -> move(n, NODE_KEYED, "trust bundle installed ("
              + bundle.getNodesCount() + " nodes)")));
    } finally {
      phaseLock.unlock();
    }
  }

  void startGuests(Duration timeout) {
    phaseLock.lock();
    try {
      synchronized (this) {
        requireReached(NODE_KEYED, "InstallTrust");
      }
      runPhase(Phase.PHASE_RUN, site.timeoutOr(timeout), pending(NODE_READY), n -> send(n,
          ConnectResponse.newBuilder().setRun(RunCommand.getDefaultInstance()))
          .thenAccept(reply -> move(n, NODE_READY, "sshd accepts on "
              + Ipv4Cidr.formatAddress(n.address))));
      SiteLedger.Running running;
      synchronized (this) {
        checkOpen();
        if (runningRecorded) {
          return;
        }
        running = new SiteLedger.Running(guestUser, slots,
            nodes.stream().map(n -> n.credentials.reconnectHash()).toList());
      }
      site.ledger().shareRunning(spec.jobId(), running); // from here a restart can re-adopt
      synchronized (this) {
        runningRecorded = true;
      }
    } finally {
      phaseLock.unlock();
    }
  }

  void execCommand(String hostname, ExecSpec exec) {
    phaseLock.lock();
    try {
      Node node;
      synchronized (this) {
        checkOpen();
        node = nodes.stream().filter(n -> n.hostname.equals(hostname)).findFirst().orElseThrow(
            () -> Errors.invalid("hostname", hostname, "is not a node of job " + spec.jobId()
                + " on site '" + site.settings().site() + "'"
                + (nodes.isEmpty() ? " (its nodes are not set up yet)"
                    : " (its nodes: " + nodes.stream().map(n -> n.hostname)
                        .collect(Collectors.joining(", ")) + ")")));
        if (node.execSent) {
          throw Errors.precondition("node " + hostname + " already ran a command for job "
              + spec.jobId() + "; EXEC is not repeated");
        }
        if (node.state == NODE_LOST) {
          throw Errors.aborted(node.lostMessage);
        }
        if (node.state != NODE_READY) {
          throw Errors.precondition("node " + hostname + " is " + shortName(node.state)
              + ", not READY; call StartGuests first");
        }
        node.execSent = true;
      }
      ExecSpec asLocal = localExec(exec);
      runPhase(Phase.PHASE_EXEC, site.settings().phaseTimeout(), List.of(node), n -> send(n,
          ConnectResponse.newBuilder().setExec(ExecCommand.newBuilder().setExec(asLocal)))
          .thenAccept(reply -> {
            synchronized (this) {
              if (n.state == NODE_READY) { // the exit may have overtaken the reply
                move(n, NODE_EXECUTING, "running " + String.join(" ", exec.getArgvList()));
              }
            }
          }));
    } finally {
      phaseLock.unlock();
    }
  }

  /**
   * Tears everything down: SHUTDOWN to connected pilots (waiting briefly for their replies), then
   * the starter stops every pilot, nodes go to STOPPED, watchers complete. Idempotent; concurrent
   * callers wait for the first one. Never throws.
   */
  void release(String reason) {
    boolean first;
    synchronized (this) {
      first = !releasing;
      releasing = true;
      for (Node n : nodes) {
        n.credentials.useUp(); // no pilot of this share may dial in any more
      }
    }
    if (!first) {
      // Wait outside the monitor: the first caller needs it to move nodes to STOPPED.
      awaitQuietly(releasedFuture);
      return;
    }
    try {
      List<Node> all = snapshot();
      RequestException released = Errors.aborted(title() + " was released: " + reason);
      for (Node n : all) {
        n.connected.completeExceptionally(released);
      }
      List<CompletableFuture<CommandReply>> replies = new ArrayList<>();
      for (Node n : all) {
        PilotSession s = n.session;
        if (s != null && s.isOpen()) {
          n.phase = Phase.PHASE_TEARDOWN;
          replies.add(s.send(ConnectResponse.newBuilder()
              .setShutdown(ShutdownCommand.newBuilder().setReason(reason))));
        }
      }
      try {
        CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new))
            .get(site.settings().shutdownWait().toMillis(), TimeUnit.MILLISECONDS);
      } catch (TimeoutException | ExecutionException e) {
        log.debug("job {}: not every pilot answered SHUTDOWN: {}", spec.jobId(), e.toString());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      List<Future<?>> stops = new ArrayList<>();
      for (Node n : all) {
        if (n.handle != null) {
          PilotHandle h = n.handle;
          stops.add(site.executor().submit(() -> {
            try {
              site.starter().stop(h);
            } catch (RuntimeException e) {
              log.warn("job {}: stopping pilot of {} ({}) failed: {}", spec.jobId(), n.hostname,
                  h.describe(), e.toString());
            }
          }));
        }
      }
      for (Future<?> f : stops) {
        awaitQuietly(f);
      }
      for (Node n : all) {
        if (n.session != null) {
          n.session.close("share released");
        }
        move(n, NODE_STOPPED, "released: " + reason);
      }
    } finally {
      history.released();
      releasedFuture.complete(null);
      log.info("job {}: share released ({})", spec.jobId(), reason);
    }
  }

  /**
   * Leaves a running share to the next start of this CRM (a clean stop with a durable ledger):
   * the pilots' streams end with UNAVAILABLE, so they keep their guests and redial; watchers hear
   * {@link ShareWatcher#onSuspended}; no node becomes LOST and nothing is torn down.
   *
   * @return false, doing nothing, if the share is not running (the caller releases it instead)
   */
  boolean suspend(String why) {
    List<Node> all;
    synchronized (this) {
      if (!runningRecorded || releasing) {
        return false;
      }
      suspended = true;
      all = List.copyOf(nodes);
      history.suspended(why); // watchers are told on the history's own thread
    }
    for (Node n : all) {
      PilotSession s = n.session;
      if (s != null) {
        s.abort(Status.UNAVAILABLE.withDescription(why));
      }
    }
    log.info("job {}: share left running for the next start of this CRM ({})", spec.jobId(), why);
    return true;
  }

  // ------------------------------------------------------------------------------ watching

  /** Adds a watcher; it gets the history first. Returns a handle that removes it. */
  Runnable watch(ShareWatcher watcher) {
    return history.watch(watcher);
  }

  // ------------------------------------------------------------------------------ pilots

  /**
   * Validates a hello for this share and binds the session to its node. A first hello must carry
   * the node's one-time credential; a resumed one its reconnect credential.
   */
  PilotListener accept(PilotHello hello, PilotSession session) {
    if (hello.getResume()) {
      return resume(hello, session);
    }
    Node node;
    String reconnect = PilotCredentials.newSecret();
    synchronized (this) {
      node = admission.admit(hello, nodes, releasing, reconnect);
      node.session = session;
      session.setName(node.hostname);
      move(node, NODE_CONNECTED, "pilot connected from host '" + hello.getHost() + "'"
          + (hello.getDriver().isEmpty() ? "" : " with guest driver '" + hello.getDriver() + "'"));
    }
    log.info("job {}: pilot of {} connected from {}", spec.jobId(), node.hostname,
        hello.getHost());
    session.sendOneWay(welcome(reconnect)); // before any command
    node.connected.complete(session); // outside the lock: dependants send SETUP from here
    return node;
  }

  /** A pilot redialling after its stream broke: only a restored share's node takes it back. */
  private PilotListener resume(PilotHello hello, PilotSession session) {
    Node node;
    synchronized (this) {
      node = admission.readmit(hello, nodes, releasing, suspended);
      node.session = session;
      session.setName(node.hostname);
      note(node, "pilot of " + node.hostname + " re-adopted from host '" + hello.getHost()
          + "' (it reports " + shortName(hello.getState()) + ")");
    }
    log.info("job {}: pilot of {} re-adopted from {} ({})", spec.jobId(), node.hostname,
        hello.getHost(), hello.getState());
    session.sendOneWay(welcome(hello.getCredential()));
    synchronized (this) {
      if (hello.getState() == NODE_EXECUTING && node.state == NODE_READY) {
        move(node, NODE_EXECUTING, "command running (reported by the re-adopted pilot)");
      }
    }
    boolean exitSeen;
    synchronized (this) {
      exitSeen = node.state == NODE_DONE;
    }
    if (hello.hasExit() && !exitSeen) {
      node.onExit(hello.getExit());
    }
    return node;
  }

  /**
   * For a restored share, at the end of the reconnect grace: nodes whose pilot did not come back
   * are LOST, and a share the GRC did not watch again is released (the GRC no longer runs it).
   */
  void reconnectGraceEnded() {
    List<Node> missing = new ArrayList<>();
    boolean unclaimed;
    String grace = Quantities.formatDuration(site.settings().reconnectGrace());
    synchronized (this) {
      if (releasing || !restored) {
        return;
      }
      for (Node n : nodes) {
        if (n.session == null && n.state != NODE_LOST && n.state != NODE_STOPPED) {
          missing.add(n);
        }
      }
      unclaimed = !history.watched();
    }
    for (Node n : missing) {
      move(n, NODE_LOST, "node " + n.hostname + " was lost: its pilot did not come back within "
          + grace + " of the CRM restart");
    }
    if (unclaimed) {
      site.release(spec.jobId(), "nobody watched the share within " + grace
          + " of the CRM restart (the GRC no longer runs job " + spec.jobId() + ")");
    }
  }

  private static ConnectResponse welcome(String reconnect) {
    return ConnectResponse.newBuilder()
        .setWelcome(PilotWelcome.newBuilder().setReconnectCredential(reconnect)).build();
  }

  private void startPilot(Node n) {
    PilotLaunch launch = new PilotLaunch(spec.jobId(), n.index, n.hostname, guestUser,
        n.credentials.launchCredential(), site.pilotEndpoint(), spec.end(),
        site.batchReservation(spec.reservationId()));
    // A starter that opens gRPC calls (in-JVM pilots in tests) must not inherit the SetupNodes
    // call's context, or its calls would be cancelled when SetupNodes returns.
    Context previous = Context.ROOT.attach();
    try {
      PilotHandle handle = site.starter().start(launch);
      synchronized (this) {
        n.handle = handle;
      }
      log.info("job {}: started pilot of {} ({})", spec.jobId(), n.hostname, handle.describe());
    } catch (PilotStartException | RuntimeException e) {
      String msg = "node " + n.hostname + " failed phase LAUNCH: could not start its pilot: "
          + e.getMessage() + accountNote(e.getMessage());
      move(n, NODE_LOST, msg);
      throw Errors.aborted(msg);
    } finally {
      Context.ROOT.detach(previous);
    }
  }

  private CompletableFuture<CommandReply> send(Node n, ConnectResponse.Builder command) {
    PilotSession s = n.session;
    if (s == null) {
      return CompletableFuture.failedFuture(new PilotLostException(
          "node " + n.hostname + " has no pilot connected"));
    }
    return s.send(command);
  }

  // ------------------------------------------------------------------------------ barrier

  /**
   * Runs {@code op} on every target and waits until all succeed, one fails, or the timeout
   * passes. While waiting, pilots that are still launching are checked for liveness.
   *
   * @throws RequestException ABORTED or DEADLINE_EXCEEDED naming the first failing node
   */
  private <T> void runPhase(Phase phase, Duration timeout, List<Node> targets,
      Function<Node, CompletableFuture<T>> op) {
    if (targets.isEmpty()) {
      return;
    }
    Instant deadline = site.clock().instant().plus(timeout);
    CompletableFuture<Void> outcome = new CompletableFuture<>();
    List<CompletableFuture<T>> futures = new ArrayList<>();
    for (Node n : targets) {
      n.phase = phase;
      n.phaseActive = true;
      CompletableFuture<T> f;
      try {
        f = op.apply(n);
      } catch (RuntimeException e) {
        f = CompletableFuture.failedFuture(e);
      }
      f.whenComplete((v, t) -> {
        if (t != null) {
          outcome.completeExceptionally(failure(n, t));
        }
      });
      futures.add(f);
    }
    // Only success completes here: a failure is reported by that node's own handler above
    // (dependents run in no fixed order, so this one may run before it).
    CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new))
        .whenComplete((v, t) -> {
          if (t == null) {
            outcome.complete(null);
          }
        });
    try {
      while (true) {
        long left = Duration.between(site.clock().instant(), deadline).toMillis();
        if (left <= 0) {
          throw missed(targets, futures, timeout);
        }
        try {
          outcome.get(Math.min(left, POLL_MILLIS), TimeUnit.MILLISECONDS);
          return;
        } catch (TimeoutException e) {
          checkLaunchers(targets);
        } catch (ExecutionException e) {
          throw (RequestException) e.getCause();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw Errors.aborted("phase " + shortName(phase) + " of job " + spec.jobId()
              + " was interrupted (the CRM is shutting down)");
        }
      }
    } finally {
      for (Node n : targets) {
        n.phaseActive = false;
      }
    }
  }

  private RequestException failure(Node n, Throwable t) {
    Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    String phase = shortName(n.phase);
    if (cause instanceof RequestException r) {
      return r;
    }
    if (cause instanceof CommandFailedException) {
      String msg = "node " + n.hostname + " failed phase " + phase + ": " + cause.getMessage()
          + accountNote(cause.getMessage());
      note(n, msg);
      return Errors.aborted(msg);
    }
    if (cause instanceof PilotLostException) {
      return Errors.aborted("node " + n.hostname + " was lost during phase " + phase
          + " (pilot disconnected)");
    }
    log.warn("job {}: node {} failed phase {}", spec.jobId(), n.hostname, phase, cause);
    return Errors.aborted("node " + n.hostname + " failed phase " + phase + ": " + cause);
  }

  private <T> RequestException missed(List<Node> targets, List<CompletableFuture<T>> futures,
      Duration timeout) {
    for (int i = 0; i < targets.size(); i++) {
      if (!futures.get(i).isDone()) {
        Node n = targets.get(i);
        PilotHandle h = n.handle;
        String msg = "node " + n.hostname + " missed phase " + shortName(n.phase) + " after "
            + Quantities.formatDuration(timeout) + (n.phase == Phase.PHASE_LAUNCH && h != null
                ? " (pilot: " + h.describe() + ")" : "");
        move(n, NODE_LOST, msg);
        return new RequestException(Status.Code.DEADLINE_EXCEEDED, msg);
      }
    }
    // Everything finished just as the deadline passed; report the first failure if any.
    for (int i = 0; i < targets.size(); i++) {
      CompletableFuture<T> f = futures.get(i);
      if (f.isCompletedExceptionally()) {
        try {
          f.join();
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
          return failure(targets.get(i), e);
        }
      }
    }
    return Errors.aborted("phase of job " + spec.jobId() + " ended at its deadline");
  }

  private void checkLaunchers(List<Node> targets) {
    for (Node n : targets) {
      PilotHandle h = n.handle;
      if (h == null || n.connected.isDone()) {
        continue;
      }
      String problem = site.starter().launchProblem(h);
      if (problem != null) {
        String msg = "node " + n.hostname + " failed phase LAUNCH: " + problem;
        if (n.connected.completeExceptionally(Errors.aborted(msg))) {
          move(n, NODE_LOST, msg);
        }
      }
    }
  }

  // ------------------------------------------------------------------------------ states

  /** Moves a node and emits the event. No-op if already there; ignored out of LOST/STOPPED. */
  private void move(Node n, NodeState to, String message) {
    synchronized (this) {
      if (n.state == to || n.state == NODE_STOPPED) {
        return;
      }
      if (n.state == NODE_LOST && to != NODE_STOPPED) {
        log.debug("job {}: {} is LOST; ignoring move to {}", spec.jobId(), n.hostname, to);
        return;
      }
      n.state = NodeStates.MACHINE.check(n.state, to);
      if (to == NODE_LOST) {
        n.lostMessage = message;
        log.warn("job {}: {}", spec.jobId(), message);
      }
      history.emit(WatchShareResponse.newBuilder().setEvent(event(n, message)).build());
    }
  }

  /** An event about a node that does not change its state (e.g. the pilot's error text). */
  private void note(Node n, String message) {
    synchronized (this) {
      history.emit(WatchShareResponse.newBuilder().setEvent(event(n, message)).build());
    }
  }

  private Event event(Node n, String message) {
    return Event.newBuilder().setTime(ProtoTime.toProto(site.clock().instant()))
        .setJobId(spec.jobId()).setSite(site.settings().site()).setHostname(n.hostname)
        .setNodeState(n.state).setPhase(n.phase).setMessage(message).build();
  }

  private void checkOpen() {
    if (releasing) {
      throw Errors.precondition(title() + " is being released");
    }
  }

  /** "the share of job J on site 'S'", for messages. */
  private String title() {
    return "the share of job " + spec.jobId() + " on site '" + site.settings().site() + "'";
  }

  private void checkNoneLost() {
    for (Node n : nodes) {
      if (n.state == NODE_LOST) {
        throw Errors.aborted(n.lostMessage);
      }
    }
  }

  private void requireReached(NodeState needed, String call) {
    checkOpen();
    if (nodes.isEmpty()) {
      throw Errors.precondition("job " + spec.jobId() + " has no nodes set up on site '"
          + site.settings().site() + "'; call SetupNodes first");
    }
    checkNoneLost();
    for (Node n : nodes) {
      if (!NodeStates.reached(n.state, needed)) {
        throw Errors.precondition("node " + n.hostname + " is " + shortName(n.state) + ", not "
            + shortName(needed) + "; call " + call + " first");
      }
    }
  }

  private List<Node> pending(NodeState target) {
    synchronized (this) {
      return nodes.stream().filter(n -> !NodeStates.reached(n.state, target)).toList();
    }
  }

  private List<Node> snapshot() {
    synchronized (this) {
      return List.copyOf(nodes);
    }
  }

  /** Adds this share's nodes, by state, to {@code into}. */
  void countNodes(Map<NodeState, Integer> into) {
    synchronized (this) {
      nodes.forEach(n -> into.merge(n.state, 1, Integer::sum));
    }
  }

  int nodeCount() {
    return spec.nodeCount();
  }

  private SetupCommand setupCommand(Node n) {
    return SetupCommand.newBuilder().setJobId(spec.jobId()).setHostname(n.hostname)
        .setAddress(Ipv4Cidr.formatAddress(n.address))
        .setPrefixLength(spec.range().prefixLength())
        .addAllRoutes(peerRanges.stream()
            .map(r -> AddressRange.newBuilder().setCidr(r.toString()).build()).toList())
        .setUser(guestUser).setBridge(bridge).setCpus(shape.cpus())
        .setMemoryBytes(shape.memoryBytes()).build();
  }

  private NodeEntry entry(Node n) {
    return NodeEntry.newBuilder().setSite(site.settings().site()).setIndex(n.index)
        .setHostname(n.hostname).setAddress(Ipv4Cidr.formatAddress(n.address))
        .setPrefixLength(spec.range().prefixLength()).setSlots(slots).setLocalUser(guestUser)
        .build();
  }

  /**
   * The GRC's EXEC as the pilot must see it: the job's grid user becomes the guest's local
   * account; no user (the guest's) or any other is passed on as it is (the pilot refuses a user
   * that is not the guest's).
   */
  private synchronized ExecSpec localExec(ExecSpec exec) {
    String u = exec.getUser();
    if (guestUser == null || u.isEmpty() || u.equals(guestUser) || !u.equals(gridUser)) {
      return exec;
    }
    return exec.toBuilder().setUser(guestUser).build();
  }

  /**
   * For a failure {@code message} that names the guest's user ("user 'a.smith' does not exist on
   * this node"): which rule of crm.yaml made that account, when it is not simply the grid user's
   * own name; "" otherwise.
   */
  private synchronized String accountNote(String message) {
    if (guestUser == null || gridUser == null || guestUser.equals(gridUser) || message == null
        || !message.contains("'" + guestUser + "'")) {
      return "";
    }
    return " (local account '" + guestUser + "' is grid user '" + gridUser + "' on site '"
        + site.settings().site() + "' by " + site.settings().accounts().origin(gridUser)
        + " in crm.yaml)";
  }

  private static void awaitQuietly(Future<?> f) {
    try {
      f.get();
    } catch (ExecutionException e) {
      log.debug("ignored: {}", e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // ------------------------------------------------------------------------------ node

  /** One node of the share. Mutable fields are guarded by the share's lock unless volatile. */
  private final class Node implements PilotListener, PilotAdmission.Seat {
    final int index;
    final String hostname;
    final long address;
    final CompletableFuture<PilotSession> connected = new CompletableFuture<>();
    NodeState state = NODE_LAUNCHING;
    volatile Phase phase = Phase.PHASE_LAUNCH;
    volatile boolean phaseActive;
    PilotCredentials credentials = new PilotCredentials();
    volatile PilotHandle handle;
    volatile PilotSession session;
    NodeKeys keys;
    boolean execSent;
    String lostMessage;

    Node(int index) {
      this(index, NODE_LAUNCHING, "starting pilot");
    }

    Node(int index, NodeState initial, String message) {
      this.index = index;
      this.hostname = site.settings().site() + "-" + index;
      this.address = spec.range().hostAddress(index);
      this.state = initial;
      history.emit(WatchShareResponse.newBuilder().setEvent(event(this, message)).build());
    }

    @Override
    public PilotCredentials credentials() {
      return credentials;
    }

    @Override
    public NodeState state() {
      return state;
    }

    @Override
    public String lostMessage() {
      return lostMessage;
    }

    @Override
    public boolean pilotConnected() {
      return session != null && session.isOpen();
    }

    @Override
    public void onNotification(NodeNotification notification) {
      NodeState to = notification.getState();
      synchronized (Share.this) {
        boolean forward = to != NODE_LOST && to != NODE_STOPPED
            && NodeStates.MACHINE.canMove(state, to);
        if (notification.getNote()) {
          if (!notification.getMessage().isEmpty()) {
            note(this, notification.getMessage()); // e.g. the guest hit its memory limit
          }
        } else if (forward) {
          move(this, to, notification.getMessage().isEmpty()
              ? "reported by the pilot" : notification.getMessage());
        } else if (!notification.getMessage().isEmpty()) {
          log.info("job {}: {} ({}): {}", spec.jobId(), hostname, to, notification.getMessage());
        }
      }
    }

    @Override
    public void onOutput(OutputChunk chunk) {
      OutputChunk c = chunk.getHostname().isEmpty()
          ? chunk.toBuilder().setHostname(hostname).build() : chunk;
      history.emit(WatchShareResponse.newBuilder().setOutput(c).build());
    }

    @Override
    public void onExit(CommandExit exit) {
      CommandExit e = exit.getHostname().isEmpty()
          ? exit.toBuilder().setHostname(hostname).build() : exit;
      synchronized (Share.this) {
        if (state == NODE_READY) {
          move(this, NODE_EXECUTING, "command started");
        }
        move(this, NODE_DONE, "command exited with code " + e.getExitCode()
            + (e.getMessage().isEmpty() ? "" : ": " + e.getMessage()));
        history.emit(WatchShareResponse.newBuilder().setExit(e).build());
      }
    }

    @Override
    public void onDisconnected(String why) {
      synchronized (Share.this) {
        if (releasing || suspended || state == NODE_STOPPED || state == NODE_LOST) {
          return;
        }
        move(this, NODE_LOST, phaseActive
            ? "node " + hostname + " was lost during phase " + shortName(phase)
                + " (pilot disconnected)"
            : "node " + hostname + " was lost (" + why + ")");
      }
    }
  }
}
