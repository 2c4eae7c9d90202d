package org.lambdagrid.nodemanager.agent;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.PilotProfiles;
import org.lambdagrid.nodemanager.CrmChannels;
import org.lambdagrid.nodemanager.Lifeline;
import org.lambdagrid.nodemanager.NodeManagerMain;
import org.lambdagrid.nodemanager.PilotIdentity;
import org.lambdagrid.nodemanager.PilotRun;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent: one long-lived process per host that runs the pilots of the launchers that
 * connect to its Unix socket, each on its own threads in this JVM, instead of one NodeManager JVM
 * per pilot started through sudo. On a host that carries many guests (the one-machine testbed, a
 * site that packs several guests per machine) it removes a JVM start-up per node per job. What a
 * pilot does is the same either way ({@link PilotRun}).
 *
 * <p>Protocol, one connection per pilot, UTF-8 lines:
 *
 * <pre>
 *   launcher -> agent   pilot CRM_HOST:PORT JOB NODE CREDENTIAL [PROFILE]
 *   agent -> launcher   zero or more error lines ("nodemanager: ..."), then
 *                       lambdagrid-agent-exit CODE          (the exit codes of NodeManagerMain)
 * </pre>
 *
 * After its request line the launcher sends nothing more. EOF from it (it half-closed the
 * connection on SIGTERM, exited, or was killed) is the pilot's lifeline: the pilot tears its
 * guest down and ends, then the agent sends the exit line and closes. The connection is held by
 * the launcher process alone, so even SIGKILL of the launcher ends the pilot. The pilot's stream
 * to its CRM is independent of it: when that stream breaks, the pilot may keep its guest and
 * redial for {@code reconnect_grace} (see {@code NodeManager}) while the connection stays open;
 * only its end reports the exit line.
 *
 * <p>Who: a pilot runs for the connecting process's user, read from the socket's peer
 * credentials (SO_PEERCRED), as a NodeManager started through sudo runs for SUDO_USER: when that
 * user is not the agent's own, the guest and the command are for that user only. The config is
 * the operator's: the agent's default, or the profile PROFILE names ({@link PilotProfiles}); it
 * must be a file only root can change, and the TLS key must be readable by root only. The socket
 * is world-connectable (0666), which grants what the sudoers rule for {@code nodemanager} grants
 * in the other mode; its directory must be root's alone, so the socket path is root's too.
 *
 * <p>Bounds ({@link Limits}): at most 1024 connections at once (more are told so and closed),
 * and the request line must arrive within 10 s (else the connection is told so and closed).
 *
 * <p>Stopping the agent ({@link #close}, on SIGTERM) ends every pilot's lifeline, waits for their
 * teardown, and removes the socket.
 */
public final class NodeAgent implements AutoCloseable {
  /** The last line the agent sends on a connection, followed by the exit code. */
  public static final String EXIT_LINE = "lambdagrid-agent-exit";
  private static final int MAX_REQUEST = 4096;

  /**
   * What the host's users, who may all connect, can hold of the agent.
   *
   * @param maxConnections connections (pilots) served at once; each holds a thread
   * @param requestTimeout how long a connection may take to send its request line
   */
  record Limits(int maxConnections, Duration requestTimeout) {
    static final Limits DEFAULT = new Limits(1024, Duration.ofSeconds(10));
  }
  private static final Duration TEARDOWN_WAIT = Duration.ofSeconds(60);
  private static final Logger log = LoggerFactory.getLogger(NodeAgent.class);
  private static final java.util.concurrent.ScheduledExecutorService TIMEOUTS =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "node-agent-request-timeout");
        t.setDaemon(true);
        return t;
      });

  private final Path socket;
  private final Path defaultConfig;
  private final String ownUser;
  private final ServerSocketChannel server;
  private final Limits limits;
  /** One TLS connection per CRM for every pilot of this host. */
  private final CrmChannels channels = CrmChannels.shared();
  private final Set<SocketChannel> connections = ConcurrentHashMap.newKeySet();
  private final Set<Thread> pilots = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;
  /** Pilots past their request line, in PilotRun (the metric; connections may be idle). */
  private final java.util.concurrent.atomic.AtomicInteger running =
      new java.util.concurrent.atomic.AtomicInteger();
  private final AgentMetrics metrics = new AgentMetrics(running::get);

  private NodeAgent(Path socket, Path defaultConfig, ServerSocketChannel server, Limits limits) {
    this.socket = socket;
    this.limits = limits;
    this.defaultConfig = defaultConfig;
    this.ownUser = System.getProperty("user.name");
    this.server = server;
  }

  /**
   * Listens on {@code socket}: creates its directory (0755) if missing, which must be root's
   * alone when the agent runs as root, replaces a stale socket left by an agent that died, and
   * refuses (IllegalStateException) if another agent still answers there or the path holds
   * anything but a socket (never deleted).
   *
   * @param defaultConfig the config for pilots whose launcher names no profile; null: defaults
   */
  public static NodeAgent bind(Path socket, Path defaultConfig) throws IOException {
    return bind(socket, defaultConfig, Limits.DEFAULT);
  }

  static NodeAgent bind(Path socket, Path defaultConfig, Limits limits) throws IOException {
    Path dir = socket.toAbsolutePath().normalize().getParent();
    Files.createDirectories(dir);
    if (org.lambdagrid.common.HostCommand.isRoot()) {
      try {
        org.lambdagrid.common.security.SecurePaths.requireRootOnly(dir, "--agent");
      } catch (org.lambdagrid.common.ConfigException e) {
        throw new IllegalStateException(e.getMessage()
            + "; the socket's directory must be root's alone");
      }
    }
    if (Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      if (!org.lambdagrid.common.security.SecurePaths.Stat.of(socket).isSocket()) {
        throw new IllegalStateException(socket + " exists and is not a socket; not removing it");
      }
      try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
        throw new IllegalStateException("another node agent is already listening on " + socket);
      } catch (IOException stale) {
        Files.delete(socket);
      }
    }
    ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    s.bind(UnixDomainSocketAddress.of(socket));
    Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw-rw-"));
    log.info("node agent listening on {} (default pilot config: {})", socket,
        defaultConfig == null ? "defaults" : defaultConfig);
    return new NodeAgent(socket, defaultConfig, s, limits);
  }

  /** The agent's metrics: pilots, exits, guests built, failed and undone. */
  public AgentMetrics metrics() {
    return metrics;
  }

  /** Accepts connections until {@link #close}; each pilot runs on its own thread. */
  public void serve() {
    while (!closed) {
      SocketChannel ch;
      try {
        ch = server.accept();
      } catch (ClosedChannelException e) {
        return;
      } catch (IOException e) {
        if (closed) {
          return;
        }
        log.warn("node agent: accept failed: {}", e.toString());
        continue;
      }
      if (connections.size() >= limits.maxConnections()) {
        refuse(ch, "node agent: " + limits.maxConnections() + " pilots are running on this host"
            + " already; try again later");
        continue;
      }
      connections.add(ch);
      Thread t = new Thread(() -> {
        try {
          handle(ch);
        } finally {
          connections.remove(ch);
          pilots.remove(Thread.currentThread());
        }
      }, "pilot-connection");
      pilots.add(t);
      t.start();
    }
  }

  private static void refuse(SocketChannel ch, String message) {
    try (ch) {
      ch.write(ByteBuffer.wrap(("nodemanager: " + message + "\n" + EXIT_LINE + " "
          + NodeManagerMain.USAGE + "\n").getBytes(StandardCharsets.UTF_8)));
    } catch (IOException ignored) {
      // the launcher is gone already
    }
  }

  /**
   * The user a pilot is launched by: null when the peer is the agent's own user (as when root
   * runs {@code nodemanager} directly), else the peer's user name.
   */
  static String launchedBy(String peerUser, String ownUser) {
    return peerUser.equals(ownUser) ? null : peerUser;
  }

  private void handle(SocketChannel ch) {
    InputStream in = new ChannelInput(ch);
    PrintWriter err = new PrintWriter(new OutputStreamWriter(new ChannelOutput(ch),
        StandardCharsets.UTF_8), true);
    int code;
    String who = "?";
    try {
      UnixDomainPrincipal peer = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
      who = peer.user().getName();
      Request r = Request.parse(readRequest(ch, in));
      Thread.currentThread().setName("pilot-" + r.job() + "-" + r.node());
      PilotIdentity identity = new PilotIdentity(r.job(), r.node(), r.credential(),
          launchedBy(who, ownUser));
      log.info("node agent: pilot for job {} node {} launched by {}", r.job(), r.node(), who);
      Path config = r.profile() != null
          ? PilotProfiles.resolve(PilotProfiles.etcDir(), r.profile()) : defaultConfig;
      running.incrementAndGet();
      try {
        code = PilotRun.run(r.crm(), identity, config,
            List.of(Lifeline.ofStream(in, "launcher connection")), err, false, channels,
            metrics::wrap);
      } finally {
        running.decrementAndGet();
      }
    } catch (IllegalArgumentException | org.lambdagrid.common.ConfigException e) {
      code = PilotRun.fail(err, NodeManagerMain.USAGE, e.getMessage());
    } catch (IOException e) {
      code = PilotRun.fail(err, NodeManagerMain.USAGE, "request: " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      code = NodeManagerMain.FAILED;
    } catch (RuntimeException e) {
      log.error("node agent: pilot launched by {} failed", who, e);
      code = PilotRun.fail(err, NodeManagerMain.FAILED, e.toString());
    }
    metrics.pilotEnded(code);
    err.println(EXIT_LINE + " " + code);
    err.flush();
    try {
      ch.close();
    } catch (IOException ignored) {
      // the launcher is gone already
    }
  }

  /** The request line, or IOException if it does not arrive within the request timeout. */
  private String readRequest(SocketChannel ch, InputStream in) throws IOException {
    // 0 reading, 1 read, 2 timed out: whichever side moves it off 0 first decides, so a timeout
    // that fires just as the line arrives either ended the read or does nothing.
    var state = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.ScheduledFuture<?> timeout = TIMEOUTS.schedule(() -> {
      if (state.compareAndSet(0, 2)) {
        try {
          ch.shutdownInput(); // the blocked read sees EOF
        } catch (IOException ignored) {
          // closed already
        }
      }
    }, limits.requestTimeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    try {
      String line = readLine(in);
      if (!state.compareAndSet(0, 1)) {
        throw new IOException("the request line came too late");
      }
      return line;
    } catch (IOException e) {
      throw new IOException(e.getMessage() + " (the request must arrive within "
          + org.lambdagrid.common.Quantities.formatDuration(limits.requestTimeout()) + ")");
    } finally {
      timeout.cancel(false);
    }
  }

  /** Reads up to the first newline, byte by byte so nothing after it is consumed. */
  private static String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("the launcher closed the connection before its request line");
      }
      if (b == '\n') {
        return line.toString(StandardCharsets.UTF_8);
      }
      if (line.size() >= MAX_REQUEST) {
        throw new IOException("request line longer than " + MAX_REQUEST + " bytes");
      }
      line.write(b);
    }
  }

  /**
   * One launcher's request.
   *
   * @param profile the operator's config profile the launcher names, or null for the default
   */
  record Request(Endpoint crm, String job, int node, String credential, String profile) {
    /** Parses a request line; IllegalArgumentException names the field and value. */
    static Request parse(String line) {
      String[] f = line.strip().split(" +");
      if (f.length < 5 || f.length > 6 || !f[0].equals("pilot")) {
        throw new IllegalArgumentException("request: expected 'pilot CRM JOB NODE CREDENTIAL"
            + " [PROFILE]', got " + f.length + " fields" + (f.length > 0 ? " starting '" + f[0]
            + "'" : ""));
      }
      Endpoint crm;
      try {
        crm = Endpoint.parse(f[1]);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--crm: " + e.getMessage());
      }
      int node;
      try {
        node = Integer.parseInt(f[3]);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--node: '" + f[3] + "' is not a node index");
      }
      String profile = f.length == 6 ? PilotProfiles.checkName(f[5]) : null;
      return new Request(crm, f[2], node, f[4], profile);
    }

    @Override
    public String toString() {
      return "Request[crm=" + crm + ", job=" + job + ", node=" + node + ", profile=" + profile
          + "]";
    }
  }

  /** Stops accepting, ends every pilot's lifeline, waits for their teardown. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      server.close();
    } catch (IOException ignored) {
      // closing anyway
    }
    for (SocketChannel ch : connections) {
      try {
        ch.shutdownInput(); // the pilot's lifeline sees EOF and tears down
      } catch (IOException ignored) {
        // already closed
      }
    }
    long deadline = System.nanoTime() + TEARDOWN_WAIT.toNanos();
    for (Thread t : pilots) {
      try {
        t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    try {
      Files.deleteIfExists(socket);
    } catch (IOException e) {
      log.warn("node agent: cannot remove {}: {}", socket, e.toString());
    }
    log.info("node agent on {} stopped", socket);
  }

  /**
   * Reads the channel directly. (Not {@code Channels.newInputStream}: its blocking read holds
   * the channel's blocking lock, which the other direction's writes then wait for.)
   */
  private static final class ChannelInput extends InputStream {
    private final SocketChannel ch;

    ChannelInput(SocketChannel ch) {
      this.ch = ch;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      return len == 0 ? 0 : ch.read(ByteBuffer.wrap(b, off, len));
    }
  }

  /** Writes the channel directly (see {@link ChannelInput}). */
  private static final class ChannelOutput extends OutputStream {
    private final SocketChannel ch;

    ChannelOutput(SocketChannel ch) {
      this.ch = ch;
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      ByteBuffer buf = ByteBuffer.wrap(b, off, len);
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
    }
  }
}
