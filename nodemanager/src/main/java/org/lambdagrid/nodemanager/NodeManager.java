package org.lambdagrid.nodemanager;

import com.google.protobuf.ByteString;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.lambdagrid.nodemanager.driver.LimitEvents;
import org.lambdagrid.nodemanager.driver.RunningCommand;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.CommandReply;
import org.lambdagrid.proto.v1.ConnectRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.ExecResult;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.GetKeysResult;
import org.lambdagrid.proto.v1.GetStatusResult;
import org.lambdagrid.proto.v1.NodeNotification;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.RunResult;
import org.lambdagrid.proto.v1.SetKeysResult;
import org.lambdagrid.proto.v1.SetupCommand;
import org.lambdagrid.proto.v1.SetupResult;
import org.lambdagrid.proto.v1.ShutdownResult;
import org.lambdagrid.proto.v1.TrustBundle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pilot: dials its CRM's {@code PilotService.Connect}, says hello, then obeys the CRM's
 * commands on that one stream, driving one guest through a {@link GuestDriver}.
 *
 * <p>One guest: a NodeManager is one node of one job and sets up exactly one guest in its life.
 * SETUP builds it only from CONNECTED, which no state returns to; a repeat of that SETUP is
 * answered without building, and any other SETUP once a guest was set up (built, or its build
 * failed) is refused saying so ({@link #setup}). The guest's state here (its spec and handle,
 * the OOM kill counts) is therefore that one guest's; a node agent running many pilots runs a
 * NodeManager, with its own counts, per pilot.
 *
 * <p>Commands run one at a time, in arrival order, on the NodeManager's command thread. Two are
 * answered out of band: GET_STATUS at once (so a node stuck in a driver call still answers it),
 * and SHUTDOWN, which interrupts the running command and tears down.
 *
 * <p>The CRM welcomes an accepted hello with a {@code PilotWelcome} carrying the node's reconnect
 * credential (kept, never logged, not answered). Once welcomed, a stream that breaks (an error
 * other than PERMISSION_DENIED, or the CRM completing it without SHUTDOWN: the CRM died or is
 * unreachable) does not end the NodeManager: it keeps the guest and the running command, holds
 * what it would have sent (notifications, the command's exit, and up to {@value
 * CrmLink#HELD_OUTPUT_BYTES} bytes of output; output beyond that is dropped and counted, and one
 * stderr chunk says so after resuming) and redials with back-off ({@code 250 ms} doubling to
 * {@code 2 s}) with a hello carrying {@code resume}, the reconnect credential, its state and, if
 * the command's exit was sent on an earlier stream, that exit again (it may not have reached the
 * GRC). The first stream on which a welcome then arrives gets what was held, in order, with an
 * exit that happened while redialling last, after the output written before it. A redial refused
 * with PERMISSION_DENIED (the CRM does not know the job any more), or {@code reconnect_grace}
 * passing without a welcome, ends it. The stream and its redials are the {@link CrmLink}'s; this
 * class keeps the node's state machine and the guest.
 *
 * <p>Every way out tears the guest down first (stop, then destroy): SHUTDOWN, the CRM refusing
 * the pilot, closing or breaking the stream before it welcomed the pilot, refusing to re-adopt
 * it or not coming back within {@code reconnect_grace}, {@link #close}, a {@link Lifeline}
 * ending (these two also while redialling). A command whose driver call fails also destroys the
 * guest before the error reply; the node is then FAILED and waits for SHUTDOWN. What destroy
 * cannot remove is logged, reported in the SHUTDOWN reply and in {@link Termination#leftovers()}.
 *
 * <p>Embeddable: it owns no process-wide state (no signal handlers, no {@code System.exit}); the
 * caller owns the channel and the driver's life beyond {@code destroy}. Thread-safe.
 */
public final class NodeManager implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NodeManager.class);
  private static final Duration EXEC_POLL = Duration.ofMillis(500);
  /** How often the guest's limit events are looked at while a guest with a memory limit is up. */
  static final Duration LIMITS_POLL = Duration.ofSeconds(1);
  /** Looks at every NodeManager's guest limits in this process (the node agent runs many). */
  private static final ScheduledExecutorService LIMITS = Executors.newSingleThreadScheduledExecutor(
      r -> {
        Thread t = new Thread(r, "nm-limits");
        t.setDaemon(true);
        return t;
      });

  private final NodeManagerConfig config;
  private final GuestDriver driver;
  private final PilotIdentity identity;
  private final String name;
  private final ExecutorService commands;
  private final CompletableFuture<Termination> termination = new CompletableFuture<>();
  private final AtomicBoolean started = new AtomicBoolean();
  private final AtomicBoolean ending = new AtomicBoolean();

  /**
   * The stream to the CRM, with its own lock. Lock order: this NodeManager's monitor, then the
   * link's; the link never calls back into this class with its lock held.
   */
  private final CrmLink link;

  /** Guarded by this (the monitor guards the state machine: state and detail). */
  private PilotState state = PilotState.CONNECTING;
  /** Guarded by this: the message of the last state change, for GET_STATUS. */
  private String detail = "connecting";

  // Written by the command thread; read by teardown once the command thread is done (or has
  // missed teardown_timeout), hence volatile.
  private volatile GuestSpec spec;
  private volatile GuestHandle guest;
  private volatile RunningCommand running;
  private volatile Thread execWatcher;
  /** The periodic look at the guest's limit events, while a guest with a memory limit is up. */
  private volatile ScheduledFuture<?> limitsWatch;
  // The OOM kill counts of this NodeManager's one guest (see the class comment), as
  // GuestDriver#limitEvents reads them from that guest's memory cgroup.
  /** OOM kills of the guest already reported (a note, or the command's exit). */
  private final AtomicLong oomKillsReported = new AtomicLong();
  /** The guest's OOM kill count when EXEC started: only kills after it are the command's. */
  private volatile long oomKillsAtExec;
  /** The guest's OOM kill count at the previous look (see {@link #noteLimitEvents}). */
  private volatile long oomKillsSeen;

  /**
   * @param config the NodeManager's configuration (its connect and teardown timeouts are used)
   * @param driver the guest driver; this NodeManager builds at most one guest with it
   * @param channel to the CRM; not owned (the caller shuts it down after termination). If it is
   *     a {@link ManagedChannel}, {@link #start} first waits for it to connect.
   * @param identity job id, node index and one-time credential for the hello
   */
  public NodeManager(NodeManagerConfig config, GuestDriver driver, Channel channel,
      PilotIdentity identity) {
    this(config, driver, channel, identity, Clock.systemUTC(), null);
  }

  /**
   * As the public constructor, with the clock that measures {@code connect_timeout} and the
   * scheduler for the redials and the {@code reconnect_grace} timer (null: a daemon thread of
   * its own). The scheduler is shut down at termination.
   */
  NodeManager(NodeManagerConfig config, GuestDriver driver, Channel channel,
      PilotIdentity identity, Clock clock, ScheduledExecutorService redials) {
    this.config = config;
    this.driver = driver;
    this.identity = identity;
    this.name = "nm-" + identity.jobId() + "-" + identity.nodeIndex();
    this.commands = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, name + "-commands");
      t.setDaemon(true);
      return t;
    });
    this.link = new CrmLink(channel, identity, driver.name(), config.connectTimeout(),
        config.reconnectGrace(), name, new LinkEvents(), clock,
        redials != null ? redials : CrmLink.redialThread(name));
  }

  /**
   * Connects to the CRM and says hello. Returns once the hello is sent; commands are then served
   * until termination. Call once.
   *
   * @throws CrmUnreachableException if the channel did not become ready within
   *     {@code connect_timeout}; the NodeManager is then terminated (nothing was built)
   */
  public void start() throws CrmUnreachableException {
    if (!started.compareAndSet(false, true)) {
      throw new IllegalStateException(name + " already started");
    }
    log.info("{}: starting with driver {} ({})", name, driver.name(), identity);
    destroyRecoveredGuests();
    try {
      link.open();
    } catch (CrmUnreachableException e) {
      ending.set(true);
      commands.shutdownNow();
      link.close();
      termination.complete(new Termination(Termination.Reason.CRM_FAILED, e.getMessage(),
          List.of()));
      throw e;
    }
    // The CRM may already have refused the hello and teardown may have begun: then no CONNECTED.
    moveIfAllowed(PilotState.CONNECTED, "pilot connected with driver " + driver.name());
  }

  /** Tears down when {@code lifeline} ends ("the launcher is gone"). Returns the lifeline. */
  public Lifeline closeWhenEnded(Lifeline lifeline) {
    termination.whenComplete((t, e) -> lifeline.close());
    return lifeline.start(reason -> closeAsync("launcher gone: " + reason));
  }

  /** Starts teardown and returns at once. Idempotent. */
  public void closeAsync(String reason) {
    end(Termination.Reason.CLOSED, reason, null);
  }

  /**
   * Tears the guest down, closes the stream and waits for termination (bounded by twice the
   * teardown timeout). Idempotent.
   */
  @Override
  public void close() {
    closeAsync("closed");
    try {
      termination.get(config.teardownTimeout().toMillis() * 2 + 5000, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      log.error("{}: teardown did not finish: {}", name, e.toString());
    }
  }

  /** Blocks until the NodeManager has torn down and ended. */
  public Termination awaitTermination() throws InterruptedException {
    try {
      return termination.get();
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
  }

  /** Waits up to {@code timeout}; empty if still running. */
  public Optional<Termination> awaitTermination(Duration timeout) throws InterruptedException {
    try {
      return Optional.of(termination.get(timeout.toMillis(), TimeUnit.MILLISECONDS));
    } catch (TimeoutException e) {
      return Optional.empty();
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
  }

  public synchronized PilotState state() {
    return state;
  }

  /** Whether the stream broke after a welcome and the CRM has not taken this pilot back yet. */
  public boolean redialling() {
    return link.redialling();
  }

  // ------------------------------------------------------------------ the CRM's commands

  /** What the link tells this NodeManager; called without the link's lock (see CrmLink). */
  private final class LinkEvents implements CrmLink.Listener {
    @Override
    public void onCommand(ConnectResponse command) {
      switch (command.getCommandCase()) {
        case SHUTDOWN -> end(Termination.Reason.SHUTDOWN,
            "the CRM sent SHUTDOWN" + (command.getShutdown().getReason().isEmpty() ? ""
                : ": " + command.getShutdown().getReason()), command.getRequestId());
        case GET_STATUS -> {
          GetStatusResult status;
          synchronized (NodeManager.this) {
            status = GetStatusResult.newBuilder().setState(state.toProto()).setDetail(detail)
                .build();
          }
          reply(CommandReply.newBuilder().setRequestId(command.getRequestId())
              .setGetStatus(status));
        }
        case COMMAND_NOT_SET -> reply(CommandReply.newBuilder()
            .setRequestId(command.getRequestId())
            .setError("unknown command (this pilot does not understand it; is it older than"
                + " the CRM?)"));
        default -> {
          if (ending.get()) {
            reply(CommandReply.newBuilder().setRequestId(command.getRequestId())
                .setError(commandName(command) + ": refused: node " + hostname()
                    + " is shutting down"));
            return;
          }
          try {
            commands.execute(() -> serve(command));
          } catch (RejectedExecutionException e) {
            reply(CommandReply.newBuilder().setRequestId(command.getRequestId())
                .setError(commandName(command) + ": refused: node " + hostname()
                    + " is shutting down"));
          }
        }
      }
    }

    @Override
    public void onLost(Termination.Reason reason, String why) {
      end(reason, why, null);
    }

    @Override
    public PilotState stateNow() {
      return state();
    }

    @Override
    public String hostname() {
      return NodeManager.this.hostname();
    }
  }

  // ------------------------------------------------------------------ commands

  /** A command refused without touching the guest (wrong state, malformed); no teardown. */
  private static final class Refused extends Exception {
    Refused(String message) {
      super(message);
    }
  }

  /** Runs one command on the command thread and replies. */
  private void serve(ConnectResponse command) {
    String what = commandName(command);
    CommandReply.Builder reply = CommandReply.newBuilder().setRequestId(command.getRequestId());
    try {
      switch (command.getCommandCase()) {
        case SETUP -> {
          SetupResult.Builder built = SetupResult.newBuilder();
          if (setup(command.getSetup())) {
            built.setKeys(getKeys()); // so the CRM needs no GET_KEYS round trip
          }
          reply.setSetup(built);
        }
        case GET_KEYS -> reply.setGetKeys(getKeys());
        case SET_KEYS -> {
          setKeys(command.getSetKeys().getBundle());
          reply.setSetKeys(SetKeysResult.getDefaultInstance());
        }
        case RUN -> {
          run();
          reply.setRun(RunResult.getDefaultInstance());
        }
        case EXEC -> {
          exec(command.getExec().getExec());
          reply.setExec(ExecResult.getDefaultInstance());
        }
        default -> throw new Refused("not a queued command");
      }
    } catch (Refused e) {
      log.warn("{}: {} refused: {}", name, what, e.getMessage());
      reply.setError(what + ": " + e.getMessage());
    } catch (GuestException | RuntimeException e) {
      if (ending.get()) {
        reply.setError(what + ": interrupted: node " + hostname() + " is shutting down");
      } else {
        String message = what + " failed on " + hostname() + ": " + e.getMessage();
        log.error("{}: {}", name, message, e instanceof GuestException ? null : e);
        List<String> left = destroyGuest();
        if (!left.isEmpty()) {
          message += "; teardown left: " + String.join("; ", left);
        }
        moveIfAllowed(PilotState.FAILED, message);
        reply.setError(message);
      }
    }
    reply(reply);
    Thread watcher = execWatcher;
    if (command.getCommandCase() == ConnectResponse.CommandCase.EXEC && watcher != null
        && watcher.getState() == Thread.State.NEW) {
      watcher.start();
    }
  }

  /**
   * SETUP; true when it built the guest, false for a repeat of the SETUP that did. Builds at
   * most once per NodeManager (the one-guest contract of the class comment): once a guest was
   * set up, another SETUP is refused naming it, so nothing here (the OOM counts included) is
   * ever shared by two guests.
   */
  private boolean setup(SetupCommand c) throws Refused, GuestException {
    GuestSpec wanted = toSpec(c);
    GuestSpec earlier = spec;
    if (earlier != null) {
      if (guest != null && wanted.equals(earlier)) {
        return false; // a repeated SETUP with the same arguments: already done
      }
      throw new Refused("this pilot already set up its guest (for " + earlier.hostname() + " at "
          + earlier.address() + "/" + earlier.prefixLength() + "; now " + state()
          + (guest != null ? ", and these arguments differ" : ", torn down after a failure")
          + "); a pilot sets up exactly one guest, for one node of one job");
    }
    PilotState now = state();
    if (now != PilotState.CONNECTED) {
      throw new Refused("not allowed in state " + now);
    }
    spec = wanted;
    for (String problem : destroyEarlierIncarnations(wanted)) {
      log.error("{}: earlier guest of {} on this node: teardown left: {}", name,
          wanted.hostname(), problem);
    }
    guest = driver.build(wanted);
    move(PilotState.SET_UP, "guest " + guest.id() + " built for " + wanted.hostname() + " at "
        + wanted.address() + "/" + wanted.prefixLength()
        + (wanted.shape().limited() ? " with " + wanted.shape().describe() : ""));
    if (wanted.memoryBytes() > 0) {
      GuestHandle g = guest;
      limitsWatch = LIMITS.scheduleWithFixedDelay(() -> noteLimitEvents(g), LIMITS_POLL.toMillis(),
          LIMITS_POLL.toMillis(), TimeUnit.MILLISECONDS);
    }
    return true;
  }

  /**
   * Reports, as a note (no state change), OOM kills of {@code g} not reported yet: an
   * MPI rank on this node that the kernel killed for the guest's memory limit, while the command
   * runs on another node, is named in the job's events this way. While the command runs, a
   * kill is noted only once a second look still finds the command running: a kill the command
   * dies of is reported once, in its exit ({@link #watch}), not also as a note.
   */
  private void noteLimitEvents(GuestHandle g) {
    LimitEvents now = limitEventsOf(g);
    long seen = oomKillsSeen;
    oomKillsSeen = now.oomKills();
    LimitEvents ev = state() == PilotState.EXECUTING
        ? new LimitEvents(Math.min(now.oomKills(), seen), now.memoryLimitBytes()) : now;
    long before = oomKillsReported.get();
    if (ev.oomKills() <= before || !oomKillsReported.compareAndSet(before, ev.oomKills())) {
      return;
    }
    synchronized (this) {
      if (ending.get() || guest != g) {
        return;
      }
      String message = "node " + hostname() + ": " + ev.describe();
      log.warn("{}: {}", name, message);
      detail = message;
      send(ConnectRequest.newBuilder().setNotification(NodeNotification.newBuilder()
          .setState(state.toProto()).setMessage(message).setNote(true)
          .setTime(ProtoTime.toProto(Instant.now()))).build());
    }
  }

  /** The driver's count for {@code g}; NONE if the driver fails (its contract says it does not). */
  private LimitEvents limitEventsOf(GuestHandle g) {
    if (g == null) {
      return LimitEvents.NONE;
    }
    try {
      return driver.limitEvents(g);
    } catch (RuntimeException e) {
      log.warn("{}: cannot read the limit events of guest {}: {}", name, g.id(), e.toString());
      return LimitEvents.NONE;
    }
  }

  private GuestSpec toSpec(SetupCommand c) throws Refused {
    if (!c.getJobId().isEmpty() && !c.getJobId().equals(identity.jobId())) {
      throw new Refused("job_id: '" + c.getJobId() + "' is not this pilot's job '"
          + identity.jobId() + "'");
    }
    if (c.getHostname().isEmpty()) {
      throw new Refused("hostname: must not be empty");
    }
    try {
      Ipv4Cidr.parseAddress(c.getAddress());
    } catch (IllegalArgumentException e) {
      throw new Refused("address: " + e.getMessage());
    }
    if (c.getPrefixLength() < 1 || c.getPrefixLength() > 32) {
      throw new Refused("prefix_length: " + c.getPrefixLength() + " is not in 1..32");
    }
    List<String> routes = new ArrayList<>();
    for (int i = 0; i < c.getRoutesCount(); i++) {
      AddressRange r = c.getRoutes(i);
      try {
        routes.add(Ipv4Cidr.parse(r.getCidr()).toString());
      } catch (IllegalArgumentException e) {
        throw new Refused("routes[" + i + "]: " + e.getMessage());
      }
    }
    if (c.getUser().isEmpty()) {
      throw new Refused("user: must not be empty");
    }
    if (c.getUser().equals("root")) {
      throw new Refused("user: 'root' may not run jobs; jobs never run as root");
    }
    if (identity.launchedBy() != null && !identity.launchedBy().equals(c.getUser())) {
      throw new Refused("user: '" + c.getUser() + "' is not the user who started this pilot ('"
          + identity.launchedBy() + "')");
    }
    NodeShape shape;
    try {
      shape = NodeShape.checked("cpus", c.getCpus(), "memory_bytes", c.getMemoryBytes());
    } catch (Errors.RequestException e) {
      throw new Refused(e.getMessage());
    }
    if (shape.limited() && !driver.capabilities().resourceLimits()) {
      throw new Refused((c.getCpus() != 0 ? "cpus" : "memory_bytes") + ": the " + driver.name()
          + " guest driver of node " + c.getHostname() + " cannot limit a guest's CPUs or"
          + " memory; leave --cpus and --memory unset");
    }
    return new GuestSpec(identity.jobId(), c.getHostname(), c.getAddress(), c.getPrefixLength(),
        routes, c.getUser(), c.getBridge()).withShape(shape);
  }

  private GetKeysResult getKeys() throws Refused, GuestException {
    requireGuest("GET_KEYS", PilotState.SET_UP, PilotState.KEYED, PilotState.READY,
        PilotState.EXECUTING, PilotState.DONE);
    GuestKeys keys = driver.publicKeys(guest);
    return GetKeysResult.newBuilder().setHostPublicKey(keys.hostPublicKey())
        .setUserPublicKey(keys.userPublicKey()).build();
  }

  private void setKeys(TrustBundle b) throws Refused, GuestException {
    PilotState now = requireGuest("SET_KEYS", PilotState.SET_UP, PilotState.KEYED, PilotState.READY);
    driver.installTrust(guest, new GuestTrust(b.getHostfile(), b.getKnownHosts(),
        b.getAuthorizedKeys(), b.getHosts(), logins(b)));
    if (now == PilotState.SET_UP) {
      move(PilotState.KEYED, "trust installed for " + b.getNodesCount() + " nodes");
    }
  }

  private static final java.util.regex.Pattern HOST_NAME =
      java.util.regex.Pattern.compile("[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?");

  /**
   * Per node of the bundle, the account the guest's ssh logs in with there (NodeEntry.local_user:
   * the node's site may run the grid user as another name). A node without one (a GRC that
   * predates it) is left out: ssh then uses the guest's own user. Every field goes into the
   * user's ssh config, so each must be a plain name or address.
   */
  static List<GuestTrust.Login> logins(TrustBundle b) throws Refused {
    List<GuestTrust.Login> out = new ArrayList<>();
    for (int i = 0; i < b.getNodesCount(); i++) {
      var n = b.getNodes(i);
      if (n.getLocalUser().isEmpty()) {
        continue;
      }
      String at = "bundle.nodes[" + i + "].";
      if (!org.lambdagrid.common.PosixNames.LOGIN.matcher(n.getLocalUser()).matches()
          || n.getLocalUser().equals("root")) {
        throw new Refused(at + "local_user: '" + n.getLocalUser() + "' is not a login name a"
            + " job may run as");
      }
      if (!HOST_NAME.matcher(n.getHostname()).matches()) {
        throw new Refused(at + "hostname: '" + n.getHostname() + "' is not a host name");
      }
      if (!Ipv4Cidr.isAddress(n.getAddress())) {
        throw new Refused(at + "address: '" + n.getAddress() + "' is not an IPv4 address");
      }
      out.add(new GuestTrust.Login(n.getHostname(), n.getAddress(), n.getLocalUser()));
    }
    return out;
  }

  private void run() throws Refused, GuestException {
    PilotState now = requireGuest("RUN", PilotState.KEYED, PilotState.READY);
    driver.start(guest);
    if (now == PilotState.KEYED) {
      move(PilotState.READY, "guest " + guest.id() + " started");
    }
  }

  private void exec(ExecSpec e) throws Refused, GuestException {
    PilotState now = state();
    if (now == PilotState.EXECUTING || now == PilotState.DONE) {
      throw new Refused("a command was already started on " + hostname()
          + "; EXEC runs at most once");
    }
    requireGuest("EXEC", PilotState.READY);
    if (e.getArgvCount() == 0) {
      throw new Refused("argv: must not be empty");
    }
    if (!e.getUser().isEmpty() && !e.getUser().equals(spec.user())) {
      throw new Refused("user: '" + e.getUser() + "' is not the guest's user ('" + spec.user()
          + "')");
    }
    ExecRequest request = new ExecRequest(e.getArgvList(), e.getEnvMap(),
        e.getWorkingDirectory().isEmpty() ? null : e.getWorkingDirectory(),
        e.getUser().isEmpty() ? spec.user() : e.getUser());
    String host = hostname();
    oomKillsAtExec = limitEventsOf(guest).oomKills();
    move(PilotState.EXECUTING, "command starting on " + host + ": " + String.join(" ",
        e.getArgvList()));
    RunningCommand cmd = driver.exec(guest, request, (stderr, data) -> send(
        ConnectRequest.newBuilder().setOutput(OutputChunk.newBuilder()
            .setStream(stderr ? OutputChunk.Stream.STDERR : OutputChunk.Stream.STDOUT)
            .setData(ByteString.copyFrom(data)).setHostname(host)).build()));
    running = cmd;
    Thread watcher = new Thread(() -> watch(cmd, host), name + "-exec");
    watcher.setDaemon(true);
    execWatcher = watcher; // started by serve() after the EXEC reply, so the exit follows it
  }

  /** Waits for the command on its own thread; reports the exit, then DONE. */
  private void watch(RunningCommand cmd, String host) {
    OptionalInt code = OptionalInt.empty();
    try {
      while (code.isEmpty()) {
        code = cmd.waitFor(EXEC_POLL);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    int exit = code.getAsInt();
    String message = exit > 128 ? "killed by signal " + (exit - 128) : "exited with " + exit;
    String done = "command " + message;
    LimitEvents total = limitEventsOf(guest);
    // Only kills while the command ran are its own: one before EXEC (noted then) says nothing
    // about why the command failed.
    LimitEvents ev = new LimitEvents(Math.max(0, total.oomKills() - oomKillsAtExec),
        total.memoryLimitBytes());
    if (ev.oomKills() > 0) {
      oomKillsReported.accumulateAndGet(total.oomKills(), Math::max);
      // SIGKILL with OOM kills in the guest since EXEC: the kernel killed the command (or what
      // it waited for) for the memory limit; anything else: it noticed and exited on its own.
      String why = exit == 128 + 9
          ? "the job exceeded " + ev.memoryLimit() + ": killed by the kernel's OOM killer"
          : ev.describe() + "; the command " + message;
      done = done + ": " + why;
      message = "node " + host + ": " + why;
    }
    log.info("{}: command on {} {}", name, host, message);
    send(ConnectRequest.newBuilder().setExit(CommandExit.newBuilder().setHostname(host)
        .setExitCode(exit).setMessage(message)).build());
    moveIfAllowed(PilotState.DONE, done);
  }

  private PilotState requireGuest(String what, PilotState... allowed) throws Refused {
    PilotState now = state();
    for (PilotState s : allowed) {
      if (s == now && guest != null) {
        return now;
      }
    }
    throw new Refused("not allowed in state " + now + " (allowed in " + List.of(allowed) + ")");
  }

  // ------------------------------------------------------------------ teardown

  /**
   * Ends the NodeManager once, whatever called it: interrupts the running command, tears the
   * guest down on a teardown thread, reports STOPPED, answers SHUTDOWN if that was the cause,
   * completes the stream and then {@link #termination}.
   */
  private void end(Termination.Reason reason, String message, Long shutdownRequestId) {
    if (!ending.compareAndSet(false, true)) {
      if (shutdownRequestId != null) {
        reply(CommandReply.newBuilder().setRequestId(shutdownRequestId)
            .setShutdown(ShutdownResult.getDefaultInstance()));
      }
      return;
    }
    link.stopRedialling();
    log.info("{}: ending: {}", name, message);
    Thread t = new Thread(() -> {
      List<String> left = List.of();
      try {
        left = teardown();
      } catch (RuntimeException e) {
        log.error("{}: teardown failed", name, e);
        left = List.of("teardown failed: " + e);
      } finally {
        String stopped = message + (left.isEmpty() ? "; guest torn down"
            : "; teardown left: " + String.join("; ", left));
        moveIfAllowed(PilotState.STOPPED, stopped);
        if (shutdownRequestId != null) {
          CommandReply.Builder r = CommandReply.newBuilder().setRequestId(shutdownRequestId)
              .setShutdown(ShutdownResult.getDefaultInstance());
          if (!left.isEmpty()) {
            r.setError("SHUTDOWN: teardown of " + hostname() + " left: " + String.join("; ", left));
          }
          reply(r);
        }
        link.close();
        termination.complete(new Termination(reason, message, left));
        log.info("{}: ended ({})", name, reason);
      }
    }, name + "-teardown");
    t.start();
  }

  /** Stops the command thread, the command and the guest. Returns what could not be removed. */
  private List<String> teardown() {
    commands.shutdownNow();
    try {
      if (!commands.awaitTermination(config.teardownTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
        log.error("{}: a command did not return within {}s of being interrupted; destroying the"
            + " guest anyway", name, config.teardownTimeout().toSeconds());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    List<String> left = destroyGuest();
    Thread watcher = execWatcher;
    if (watcher != null) {
      try {
        watcher.join(config.teardownTimeout().toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return left;
  }

  /**
   * Kills the command, stops and destroys the guest (or, if build did not return a handle, what
   * the driver recorded for this job and hostname). Never throws; idempotent. Returns what is
   * left, and logs it.
   */
  private List<String> destroyGuest() {
    List<String> left = new ArrayList<>();
    ScheduledFuture<?> watch = limitsWatch;
    if (watch != null) {
      watch.cancel(false);
    }
    RunningCommand cmd = running;
    if (cmd != null) {
      try {
        cmd.kill();
      } catch (RuntimeException e) {
        left.add("command: kill failed: " + e.getMessage());
      }
    }
    GuestHandle g = guest;
    if (g != null) {
      left.addAll(stopAndDestroy(g));
      guest = null;
    } else if (spec != null) {
      left.addAll(destroyEarlierIncarnations(spec));
    }
    if (!left.isEmpty()) {
      log.error("{}: guest teardown left: {}", name, String.join("; ", left));
    }
    return left;
  }

  /**
   * GuestDriver#recover's contract: the guests it returns belong to no live NodeManager (a
   * crashed one's), and the NodeManager destroys them at start-up.
   */
  private void destroyRecoveredGuests() {
    List<GuestHandle> recorded;
    try {
      recorded = driver.recover();
    } catch (RuntimeException e) {
      log.error("{}: cannot list the guests the {} driver recorded: {}", name, driver.name(),
          e.toString());
      return;
    }
    for (GuestHandle h : recorded) {
      log.info("{}: destroying guest {} left by a NodeManager that is gone", name, h.id());
      List<String> left = stopAndDestroy(h);
      if (!left.isEmpty()) {
        log.error("{}: guest {} of an earlier NodeManager: teardown left: {}", name, h.id(),
            String.join("; ", left));
      }
    }
  }

  /** Guests the driver recorded for this job and hostname (a half-built one, or a crashed pilot's). */
  private List<String> destroyEarlierIncarnations(GuestSpec s) {
    List<String> left = new ArrayList<>();
    List<GuestHandle> recorded;
    try {
      recorded = driver.recover();
    } catch (RuntimeException e) {
      return List.of("cannot list recorded guests: " + e.getMessage());
    }
    for (GuestHandle h : recorded) {
      if (h.spec() != null && s.jobId().equals(h.spec().jobId())
          && s.hostname().equals(h.spec().hostname())) {
        log.info("{}: destroying recorded guest {} of {}", name, h.id(), s.hostname());
        left.addAll(stopAndDestroy(h));
      }
    }
    return left;
  }

  private List<String> stopAndDestroy(GuestHandle g) {
    List<String> left = new ArrayList<>();
    try {
      driver.stop(g);
    } catch (RuntimeException e) {
      left.add("guest " + g.id() + ": stop failed: " + e.getMessage());
    }
    try {
      left.addAll(driver.destroy(g));
    } catch (RuntimeException e) {
      left.add("guest " + g.id() + ": destroy failed: " + e.getMessage());
    }
    return left;
  }

  // ------------------------------------------------------------------ state and sending

  private synchronized void move(PilotState to, String message) {
    state = PilotState.MACHINE.check(state, to);
    detail = message;
    log.info("{}: {} ({})", name, to, message);
    send(ConnectRequest.newBuilder().setNotification(NodeNotification.newBuilder()
        .setState(to.toProto()).setMessage(message)
        .setTime(ProtoTime.toProto(Instant.now()))).build());
  }

  /** Moves unless the table forbids it (a race with teardown); returns whether it moved. */
  private synchronized boolean moveIfAllowed(PilotState to, String message) {
    if (!PilotState.MACHINE.canMove(state, to)) {
      return false;
    }
    move(to, message);
    return true;
  }

  private void reply(CommandReply.Builder reply) {
    link.reply(reply);
  }

  private void send(ConnectRequest message) {
    link.send(message);
  }

  private String hostname() {
    GuestSpec s = spec;
    return s == null ? "node " + identity.nodeIndex() : s.hostname();
  }

  /** The command's name in replies and logs: its oneof case ("GET_KEYS"), "UNKNOWN" if unset. */
  static String commandName(ConnectResponse c) {
    return switch (c.getCommandCase()) {
      case SETUP -> "SETUP";
      case GET_KEYS -> "GET_KEYS";
      case SET_KEYS -> "SET_KEYS";
      case RUN -> "RUN";
      case EXEC -> "EXEC";
      case SHUTDOWN -> "SHUTDOWN";
      case GET_STATUS -> "GET_STATUS";
      case WELCOME -> "WELCOME";
      case COMMAND_NOT_SET -> "UNKNOWN";
    };
  }
}
