package org.lambdagrid.crm.pilot;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.Processes;
import org.lambdagrid.common.security.HostTools;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts pilots on this machine: one launcher process per node, the one-machine deployment.
 *
 * <p>The command is {@code [/usr/bin/setpriv --reuid=UID --regid=GID --init-groups --] LAUNCHER
 * --crm HOST:PORT --job JOB --node N [--profile NAME] [EXTRA_ARGS...]}. The {@code setpriv}
 * prefix is used when {@code runAsUser} is set and the CRM runs as root, so the launcher runs as
 * the job's user (HOME, USER and LOGNAME are set to the user's; the rest of the CRM's environment
 * is kept). setpriv and getent are found once in {@link HostTools#SYSTEM_DIRS}, not on the PATH.
 *
 * <p>The credential is written as the first line of the launcher's stdin, and stdin stays open:
 * the launcher (and the NodeManager behind it) treat EOF as "tear down and exit", so the pilot
 * also goes away if the CRM dies. The launcher's stdout and stderr go to
 * {@code LOG_DIR/JOB-N.log}, a file and not a pipe, and the JVM closes every other descriptor in
 * the child, so no other process holds the stdin pipe open (or EOF would never come). The CRM
 * creates that file itself ({@link PilotLogs}): only in a log directory that no one but root (or
 * the CRM's user) can change, created 0755 if missing, never through a link, so a user cannot
 * make root write, truncate or chown another file; a log directory others could change fails
 * the start, naming it.
 *
 * <p>{@link #stop} closes stdin, waits {@code eofGrace} for the launcher and its descendants to
 * exit, then SIGTERMs what is left, waits {@code termGrace}, and SIGKILLs the rest. It returns
 * once the launcher is reaped, so {@link #isAlive} and {@link PilotHandle#describe} tell the end.
 */
public final class LocalPilotStarter implements PilotStarter {
  private static final Logger log = LoggerFactory.getLogger(LocalPilotStarter.class);

  /**
   * @param launcher the launcher executable
   * @param runAsUser run the launcher as the job's user (needs root); false for tests
   * @param extraArgs appended to the launcher's arguments
   * @param nodemanagerProfile passed as {@code --profile}, or null
   * @param logDir per-pilot log files go here; created (0755) if missing; it and its parents
   *     must be writable by no one but root or the CRM's user
   * @param eofGrace how long stop() waits after closing stdin before SIGTERM
   * @param termGrace how long stop() waits after SIGTERM before SIGKILL
   */
  public record Options(Path launcher, boolean runAsUser, List<String> extraArgs,
      String nodemanagerProfile, Path logDir, Duration eofGrace, Duration termGrace) {
    public Options {
      extraArgs = List.copyOf(extraArgs);
    }
  }

  private final Options options;
  /** Found once, in {@link HostTools#SYSTEM_DIRS}; null if missing (a start as root fails). */
  private final Path setpriv = HostTools.find("setpriv", HostTools.SYSTEM_DIRS);

  /**
   * @throws IllegalArgumentException naming the option ({@code pilot.launcher: ...}) when the
   *     launcher is not an executable file
   */
  public LocalPilotStarter(Options options) {
    Path l = options.launcher();
    if (!Files.isRegularFile(l) || !Files.isExecutable(l)) {
      throw new IllegalArgumentException("pilot.launcher: '" + l + "' is not an executable file");
    }
    this.options = options;
  }

  /** The command line for one launch (without the credential, which goes to stdin). */
  public List<String> command(PilotLaunch launch, List<String> userPrefix) {
    List<String> cmd = new ArrayList<>(userPrefix);
    cmd.add(options.launcher().toAbsolutePath().toString());
    cmd.addAll(List.of("--crm", launch.crmPilotEndpoint().toString(), "--job", launch.jobId(),
        "--node", Integer.toString(launch.nodeIndex())));
    if (options.nodemanagerProfile() != null) {
      cmd.addAll(List.of("--profile", options.nodemanagerProfile()));
    }
    cmd.addAll(options.extraArgs());
    return cmd;
  }

  @Override
  public PilotHandle start(PilotLaunch launch) throws PilotStartException {
    List<String> prefix = new ArrayList<>();
    UserInfo user = null;
    if (options.runAsUser()) {
      user = recentlySwitchedUser(launch.user());
      if (user != null) {
        if (setpriv == null) {
          throw new PilotStartException("setpriv (util-linux) is in none of "
              + HostTools.path(HostTools.SYSTEM_DIRS) + "; the CRM starts the launcher as the"
              + " job's user with it");
        }
        prefix.addAll(List.of(setpriv.toString(), "--reuid=" + user.uid, "--regid=" + user.gid,
            "--init-groups", "--"));
      }
    }
    List<String> cmd = command(launch, prefix);
    Path logFile = createLog(launch, cmd);
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        // Reopened by path, which is safe: no one but root can change the directory.
        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
        .redirectInput(ProcessBuilder.Redirect.PIPE);
    if (user != null) {
      pb.environment().put("HOME", user.home);
      pb.environment().put("USER", launch.user());
      pb.environment().put("LOGNAME", launch.user());
      pb.directory(Path.of(user.home).toFile().isDirectory() ? Path.of(user.home).toFile()
          : Path.of("/").toFile());
    }
    Process process;
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new PilotStartException("cannot run " + cmd.get(0) + ": " + e.getMessage());
    }
    OutputStream stdin = process.getOutputStream();
    try {
      stdin.write((launch.credential() + "\n").getBytes(StandardCharsets.UTF_8));
      stdin.flush();
    } catch (IOException e) {
      // The launcher died at once; isAlive() reports it and the phase fails naming the log.
      log.debug("writing the credential to pid {}: {}", process.pid(), e.toString());
    }
    return new LocalHandle(launch, process, stdin, logFile);
  }

  /**
   * Creates {@code LOG_DIR/JOB-N.log} with a header, owned by the CRM and mode 0644, in a log
   * directory only root (or the CRM's user) can change; a log directory anyone else could
   * change, or an existing entry that is not the CRM's own regular file, fails the start.
   *
   * @return the log's real path, which the launcher's output is appended to
   */
  private Path createLog(PilotLaunch launch, List<String> cmd) throws PilotStartException {
    String name = launch.jobId() + "-" + launch.nodeIndex() + ".log";
    Path logFile = options.logDir().resolve(name);
    try {
      logFile = PilotLogs.secureDirectory(options.logDir(), currentUid()).resolve(name);
      PilotLogs.createOrAppend(logFile, "# lambdagrid pilot of job " + launch.jobId() + " node "
          + launch.nodeIndex() + " (" + launch.hostname() + "), started " + Instant.now()
          + "\n# " + String.join(" ", cmd) + "\n", "rw-r--r--", Set.of(currentUid()));
      return logFile;
    } catch (IOException e) {
      throw new PilotStartException("cannot write the pilot log " + logFile + ": "
          + e.getMessage());
    }
  }

  @Override
  public boolean isAlive(PilotHandle handle) {
    return ((LocalHandle) handle).process.isAlive();
  }

  @Override
  public void stop(PilotHandle handle) {
    LocalHandle h = (LocalHandle) handle;
    synchronized (h) {
      if (h.stopped) {
        return;
      }
      Set<ProcessHandle> tree = new LinkedHashSet<>();
      collect(h.process.toHandle(), tree);
      try {
        h.stdin.close(); // EOF: the launcher's signal to tear down and exit
      } catch (IOException e) {
        log.debug("closing stdin of pid {}: {}", h.process.pid(), e.toString());
      }
      if (!awaitGone(h.process.toHandle(), tree, options.eofGrace())) {
        log.warn("pilot of job {} node {} ({}) still running {} after EOF; sending SIGTERM",
            h.launch.jobId(), h.launch.nodeIndex(), h.describe(), options.eofGrace());
        tree.stream().filter(Processes::running).forEach(ProcessHandle::destroy);
        if (!awaitGone(h.process.toHandle(), tree, options.termGrace())) {
          log.warn("pilot of job {} node {} still running after SIGTERM; sending SIGKILL to {}",
              h.launch.jobId(), h.launch.nodeIndex(),
              tree.stream().filter(Processes::running).map(ProcessHandle::pid).toList());
          tree.stream().filter(Processes::running).forEach(ProcessHandle::destroyForcibly);
          awaitGone(h.process.toHandle(), tree, Duration.ofSeconds(2));
        }
      }
      reap(h);
      h.stopped = true;
    }
  }

  /**
   * The launcher is our child: once it has exited, JDK's reaper collects it moments later, and
   * only then does {@link Process#isAlive()} turn false and its exit code become known. Waits for
   * that (bounded), so that after stop() returns isAlive() and describe() tell the outcome.
   */
  private static void reap(LocalHandle h) {
    if (Processes.running(h.process.toHandle())) {
      return; // survived SIGKILL (uninterruptible sleep); already logged, nothing to wait for
    }
    try {
      h.process.waitFor(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Waits until every process of the tree is gone, adding new descendants of the root. */
  private static boolean awaitGone(ProcessHandle root, Set<ProcessHandle> tree, Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    while (true) {
      if (root.isAlive()) {
        collect(root, tree);
      }
      if (tree.stream().noneMatch(Processes::running)) {
        return true;
      }
      if (System.nanoTime() >= deadline) {
        return false;
      }
      try {
        TimeUnit.MILLISECONDS.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
  }

  private static void collect(ProcessHandle root, Set<ProcessHandle> into) {
    into.add(root);
    root.descendants().forEach(into::add);
  }

  /** How long a passwd lookup is reused: the pilots of one share start within moments. */
  private static final long USER_REUSE_NANOS = Duration.ofSeconds(10).toNanos();

  private record LookedUp(UserInfo info, long atNanos) {}

  /** {@link #switchUser} results of the last {@link #USER_REUSE_NANOS}, by user name. */
  private final Map<String, LookedUp> recentUsers = new ConcurrentHashMap<>();

  /**
   * {@link #switchUser}, reusing a lookup of the last 10 s: a share of N nodes would otherwise
   * fork N getent processes for the same user at once. Failures are not reused.
   */
  private UserInfo recentlySwitchedUser(String user) throws PilotStartException {
    long now = System.nanoTime();
    LookedUp hit = user == null ? null : recentUsers.get(user);
    if (hit != null && now - hit.atNanos() < USER_REUSE_NANOS) {
      return hit.info();
    }
    UserInfo info = switchUser(user);
    recentUsers.put(user, new LookedUp(info, now));
    return info;
  }

  /** getent, found once in the system directories (null if missing). */
  private static final Path GETENT = HostTools.find("getent", HostTools.SYSTEM_DIRS);

  /** A job user's passwd entry (shared with {@link SlurmPilotStarter}). */
  record UserInfo(String uid, String gid, String home) {}

  /**
   * The user to switch to before running the pilot, or null when no switch is needed (the CRM
   * already runs as that user). Refuses root, unknown users, and a non-root CRM asked to start
   * pilots as someone else.
   */
  static UserInfo switchUser(String user) throws PilotStartException {
    if (user == null || user.isBlank()) {
      throw new PilotStartException("the job has no user to run the pilot as");
    }
    int myUid = currentUid();
    String me = System.getProperty("user.name");
    if (myUid != 0) {
      if (user.equals(me)) {
        return null;
      }
      throw new PilotStartException("the CRM runs as '" + me + "', not root, so it cannot start"
          + " pilots as '" + user + "'; run it as root or set pilot.run_as_user: false");
    }
    String entry;
    try {
      if (GETENT == null) {
        throw new PilotStartException("getent is in none of "
            + HostTools.path(HostTools.SYSTEM_DIRS) + "; the CRM looks users up with it");
      }
      Process p = new ProcessBuilder(GETENT.toString(), "passwd", user)
          .redirectErrorStream(true).start();
      p.getOutputStream().close();
      entry = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (!p.waitFor(5, TimeUnit.SECONDS) || p.exitValue() != 0 || entry.isEmpty()) {
        throw new PilotStartException("user '" + user + "' does not exist on this host");
      }
    } catch (IOException e) {
      throw new PilotStartException("cannot look up user '" + user + "': " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new PilotStartException("interrupted while looking up user '" + user + "'");
    }
    String[] f = entry.split(":", -1);
    if (f.length < 7) {
      throw new PilotStartException("unexpected passwd entry for '" + user + "': " + entry);
    }
    if ("0".equals(f[2])) {
      throw new PilotStartException("refusing to run a pilot as root (user '" + user + "')");
    }
    return new UserInfo(f[2], f[3], f[5]);
  }

  static int currentUid() {
    try {
      return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return "root".equals(System.getProperty("user.name")) ? 0 : -1;
    }
  }

  /** A launcher process of this starter. */
  private static final class LocalHandle implements PilotHandle {
    final PilotLaunch launch;
    final Process process;
    final OutputStream stdin;
    final Path logFile;
    boolean stopped; // guarded by this

    LocalHandle(PilotLaunch launch, Process process, OutputStream stdin, Path logFile) {
      this.launch = launch;
      this.process = process;
      this.stdin = stdin;
      this.logFile = logFile;
    }

    @Override
    public PilotLaunch launch() {
      return launch;
    }

    @Override
    public String describe() {
      String state = process.isAlive() ? "running" : "exited with code " + process.exitValue();
      return "pid " + process.pid() + ", " + state + "; log: " + logFile;
    }
  }
}
