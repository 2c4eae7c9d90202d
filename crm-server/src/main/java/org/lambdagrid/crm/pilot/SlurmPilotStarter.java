package org.lambdagrid.crm.pilot;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.lambdagrid.common.security.HostTools;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts pilots through Slurm: one batch job per node, submitted with {@code sbatch} as the job's
 * user. Nothing here assumes that the CRM host is a compute node: the launcher path, the
 * NodeManager config and the log directory are paths on the nodes.
 *
 * <p>The submission is {@code [runuser -u USER --] sbatch --parsable --job-name=lg-JOB-HOST
 * --output=LOG --open-mode=append --chdir=/ --export=NONE --nodes=1 --ntasks=1 --no-requeue
 * [--time=MINUTES] [--partition=P] [--account=A] [--reservation=R] [EXTRA...]} with the batch
 * script on sbatch's stdin; {@code --reservation} names the Slurm advance reservation the CRM
 * made for the grid reservation's window ({@link SlurmReservations}), when there is one.
 * {@code runuser} is used (rather than {@code sbatch --uid}) when the CRM runs as root: munge
 * then authenticates the submission as the user, so Slurm applies the user's own
 * partition and account limits, and the job gets the user's groups; with Slurm 22.05 on Debian 12,
 * {@code sbatch --uid=USER} as root ran the job with gid 0 and root's supplementary group. Every
 * tool runs by the absolute path found once at construction ({@link HostTools}): sbatch, squeue
 * and scancel in {@code pilot.slurm.bin_dir} or the system directories, runuser in the system
 * directories; never through the CRM's PATH.
 *
 * <p>The credential travels inside the batch script, as a here-document on the launcher's stdin
 * (the launcher reads its first line). It is on no command line and in no environment; Slurm
 * keeps the script readable only by root/SlurmUser (StateSaveLocation) and, on the node, by the
 * job's user (the spool copy is mode 0700), and {@code scontrol write batch_script} is refused to
 * other users. The credential is single-use and expires at the end of the launch phase.
 *
 * <p>{@code --time} is the time left until the reservation's window ends, rounded up to whole
 * minutes (Slurm's unit); an open-ended window leaves the partition's default. {@code --no-requeue}
 * because a requeued pilot would present a credential that was already used.
 *
 * <p>Liveness comes from {@code squeue -h -t all -j IDS -o %i|%T|%r}: one query for every pilot
 * this starter tracks, at most once per {@code pollInterval}, so the 100 ms polling of the launch
 * phase does not load slurmctld. A job squeue no longer knows is gone. A pilot still PENDING
 * {@code pendingGrace} after submission fails the launch phase with Slurm's reason.
 *
 * <p>{@link #stop} is {@code scancel ID} (Slurm sends SIGTERM to the launcher and the NodeManager,
 * then SIGKILL after its KillWait) and waits up to {@code stopWait} for the job to leave the
 * queue's active states. Idempotent.
 */
public final class SlurmPilotStarter implements PilotStarter {
  private static final Logger log = LoggerFactory.getLogger(SlurmPilotStarter.class);
  private static final Duration SBATCH_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration QUERY_TIMEOUT = Duration.ofSeconds(10);
  private static final Pattern JOB_ID = Pattern.compile("^(\\d+)(?:;(\\S+))?$");
  private static final Pattern CREDENTIAL = Pattern.compile("[A-Za-z0-9_.~+/=-]+");
  /** Slurm states in which the launcher may still be running (or is about to). */
  static final Set<String> ACTIVE = Set.of("PENDING", "CONFIGURING", "RUNNING", "SUSPENDED",
      "STOPPED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING");
  private static final String HEREDOC_END = "LAMBDAGRID_PILOT_CREDENTIAL";

  /**
   * @param launcher the launcher's path on the compute nodes
   * @param runAsUser submit as the job's user (needs root); false submits as the CRM's user
   * @param launcherArgs appended to the launcher's command line ({@code pilot.extra_args})
   * @param nodemanagerProfile passed as {@code --profile}, or null
   * @param logDir where the pilots' output goes ({@code --output}); must exist on the nodes
   * @param partition {@code --partition}, or null for the cluster's default
   * @param account {@code --account}, or null
   * @param sbatchArgs appended to sbatch's options ({@code pilot.slurm.extra_args})
   * @param pendingGrace how long a pilot may stay PENDING before its launch phase fails
   * @param stopWait how long {@link #stop} waits for a cancelled job to end
   * @param pollInterval the longest a cached squeue answer is used
   * @param slurmDirs where sbatch, squeue and scancel are looked up ({@code pilot.slurm.bin_dir});
   *     null for {@link HostTools#SYSTEM_DIRS}; never the PATH. runuser is always looked up in
   *     the system directories.
   */
  public record Options(Path launcher, boolean runAsUser, List<String> launcherArgs,
      String nodemanagerProfile, Path logDir, String partition, String account,
      List<String> sbatchArgs, Duration pendingGrace, Duration stopWait, Duration pollInterval,
      List<Path> slurmDirs) {
    public Options {
      launcherArgs = List.copyOf(launcherArgs);
      sbatchArgs = List.copyOf(sbatchArgs);
      slurmDirs = slurmDirs == null ? HostTools.SYSTEM_DIRS : List.copyOf(slurmDirs);
      for (Path d : slurmDirs) {
        if (!d.isAbsolute()) {
          throw new IllegalArgumentException("bin_dir: '" + d + "' must be an absolute path");
        }
      }
      launcher = launcher.toAbsolutePath();
      logDir = logDir.toAbsolutePath();
    }
  }

  /** One line of squeue, or what we concluded without one. */
  record JobStatus(String state, String reason) {
    static final JobStatus SUBMITTED = new JobStatus("SUBMITTED", "");
    /** squeue no longer knows the job: it ended and was purged. */
    static final JobStatus GONE = new JobStatus("GONE", "");

    boolean active() {
      return ACTIVE.contains(state) || this == SUBMITTED;
    }

    String describe() {
      return state.equals("GONE") ? "no longer in the Slurm queue"
          : state + (reason.isEmpty() || reason.equals("None") ? "" : " (" + reason + ")");
    }
  }

  private final Options options;
  private final Clock clock;
  /** The tools, found once (null: missing; the operations that need one fail saying so). */
  private final Path sbatch;
  private final Path squeue;
  private final Path scancel;
  private final Path runuser;
  private final SlurmCommands commands;
  private final java.util.concurrent.atomic.AtomicBoolean warnedLogDir =
      new java.util.concurrent.atomic.AtomicBoolean();
  private final Set<SlurmHandle> tracked = ConcurrentHashMap.newKeySet();
  private final Object pollLock = new Object();
  private Instant lastPoll = Instant.EPOCH; // guarded by pollLock
  private Set<String> lastPolled = Set.of(); // guarded by pollLock
  private boolean warnedQuery; // guarded by pollLock

  public SlurmPilotStarter(Options options) {
    this(options, Clock.systemUTC());
  }

  public SlurmPilotStarter(Options options, Clock clock) {
    this.options = options;
    this.clock = clock;
    this.commands = new SlurmCommands(options.slurmDirs());
    this.sbatch = commands.find("sbatch");
    this.squeue = commands.find("squeue");
    this.scancel = commands.find("scancel");
    this.runuser = HostTools.find("runuser", HostTools.SYSTEM_DIRS);
    if (sbatch == null) {
      log.warn("sbatch is in none of {}; every pilot start will fail (restart the CRM once it"
          + " is installed)", path());
    }
  }

  /** The batch script: the launcher's command, with the credential on its stdin. */
  String script(PilotLaunch launch) {
    StringBuilder sb = new StringBuilder("#!/bin/sh\n");
    sb.append("# lambdagrid pilot of job ").append(launch.jobId()).append(" node ")
        .append(launch.nodeIndex()).append(" (").append(launch.hostname()).append(")\n");
    sb.append("PATH=${PATH:-/usr/local/bin:/usr/bin:/bin}; export PATH\n");
    sb.append("exec");
    for (String a : launcherCommand(launch)) {
      sb.append(' ').append(quote(a));
    }
    sb.append(" <<'").append(HEREDOC_END).append("'\n").append(launch.credential()).append('\n')
        .append(HEREDOC_END).append('\n');
    return sb.toString();
  }

  /** The launcher's command line on the node (without the credential). */
  List<String> launcherCommand(PilotLaunch launch) {
    List<String> cmd = new ArrayList<>();
    cmd.add(options.launcher().toString());
    cmd.addAll(List.of("--crm", launch.crmPilotEndpoint().toString(), "--job", launch.jobId(),
        "--node", Integer.toString(launch.nodeIndex())));
    if (options.nodemanagerProfile() != null) {
      cmd.addAll(List.of("--profile", options.nodemanagerProfile()));
    }
    cmd.addAll(options.launcherArgs());
    return cmd;
  }

  /** sbatch's arguments (without the sbatch executable and any user switch). */
  List<String> sbatchArgs(PilotLaunch launch, Path logFile, Instant now)
      throws PilotStartException {
    List<String> args = new ArrayList<>(List.of("--parsable",
        "--job-name=" + jobName(launch), "--output=" + logFile, "--open-mode=append",
        "--chdir=/", "--export=NONE", "--nodes=1", "--ntasks=1", "--no-requeue"));
    if (launch.windowEnd() != null) {
      long seconds = Duration.between(now, launch.windowEnd()).toSeconds();
      if (seconds <= 0) {
        throw new PilotStartException("the job's window ended at " + launch.windowEnd()
            + "; no time is left for its pilot");
      }
      args.add("--time=" + ((seconds + 59) / 60));
    }
    if (options.partition() != null) {
      args.add("--partition=" + options.partition());
    }
    if (options.account() != null) {
      args.add("--account=" + options.account());
    }
    if (launch.batchReservation() != null) {
      args.add("--reservation=" + launch.batchReservation());
    }
    args.addAll(options.sbatchArgs());
    return args;
  }

  static String jobName(PilotLaunch launch) {
    return "lg-" + launch.jobId() + "-" + launch.hostname();
  }

  @Override
  public PilotHandle start(PilotLaunch launch) throws PilotStartException {
    if (!CREDENTIAL.matcher(launch.credential()).matches()) {
      throw new PilotStartException("the pilot credential has characters a batch script cannot"
          + " carry safely");
    }
    if (sbatch == null) {
      throw new PilotStartException("sbatch is in none of the CRM's Slurm directories (" + path()
          + "); install Slurm's client commands (Debian: slurm-client) on the CRM host, or name"
          + " their directory in pilot.slurm.bin_dir, and restart the CRM");
    }
    List<String> cmd = new ArrayList<>();
    LocalPilotStarter.UserInfo user = null;
    if (options.runAsUser()) {
      user = LocalPilotStarter.switchUser(launch.user());
      if (user != null) {
        if (runuser == null) {
          throw new PilotStartException("runuser (util-linux) is in none of "
              + HostTools.path(HostTools.SYSTEM_DIRS) + "; it submits the pilot as the job's"
              + " user");
        }
        cmd.addAll(List.of(runuser.toString(), "-u", launch.user(), "--"));
      }
    }
    Path logFile = options.logDir().resolve(launch.jobId() + "-" + launch.nodeIndex() + ".log");
    Instant now = clock.instant();
    cmd.add(sbatch.toString());
    cmd.addAll(sbatchArgs(launch, logFile, now));
    prepareLog(launch, logFile, user, cmd);

    SlurmCommands.Result r;
    try {
      r = run(cmd, script(launch), SBATCH_TIMEOUT);
    } catch (IOException e) {
      throw new PilotStartException("cannot run sbatch: " + e.getMessage());
    }
    if (r.exit() != 0) {
      throw new PilotStartException("sbatch refused the pilot of " + launch.hostname()
          + " (exit " + r.exit() + "): " + r.errOneLine());
    }
    String id = parseJobId(r.out());
    if (id == null) {
      throw new PilotStartException("sbatch printed no job id for the pilot of "
          + launch.hostname() + ": '" + r.out().strip() + "'");
    }
    SlurmHandle h = new SlurmHandle(launch, id, now, logFile);
    tracked.add(h);
    log.info("job {}: submitted the pilot of {} as Slurm job {} (user {})", launch.jobId(),
        launch.hostname(), id, launch.user());
    return h;
  }

  /**
   * Where this host has the log directory and only root (or the CRM's user) can change it (the
   * default {@code STATE_DIR/pilots}, or a node's directory when the CRM host is a node): creates
   * {@code JOB-N.log} there with a header, mode 0640, and gives it to the job's user, so Slurm,
   * which opens {@code --output} as the user, can append to it. Created without following a link
   * and chowned (lchown) where no one else can swap it; an existing entry is reused only if it is
   * a regular file with one link owned by the user or the CRM, else the start fails naming it.
   *
   * <p>A log directory that users can write on this host (a shared or sticky one, for Slurm to
   * create the files as the user) is left alone: the CRM creates, truncates and chowns nothing
   * there. Neither is a directory the CRM cannot create here (it may exist only on the nodes).
   */
  private void prepareLog(PilotLaunch launch, Path logFile, LocalPilotStarter.UserInfo user,
      List<String> cmd) throws PilotStartException {
    int me = LocalPilotStarter.currentUid();
    Path real;
    try {
      real = PilotLogs.secureDirectory(options.logDir(), me).resolve(logFile.getFileName());
    } catch (IOException e) {
      if (warnedLogDir.compareAndSet(false, true)) {
        log.info("pilot logs: the CRM does not create them in {} on this host ({}); Slurm"
            + " writes them there as the job's user", options.logDir(), e.getMessage());
      }
      return;
    }
    Set<Integer> owners = user == null ? Set.of(me) : Set.of(me, Integer.parseInt(user.uid()));
    try {
      PilotLogs.Stat st = PilotLogs.createOrAppend(real, "# lambdagrid pilot of job "
          + launch.jobId() + " node " + launch.nodeIndex() + " (" + launch.hostname()
          + "), submitted " + clock.instant() + "\n# " + String.join(" ", cmd) + "\n",
          "rw-r-----", owners);
      if (user != null && (st.uid() != Integer.parseInt(user.uid())
          || st.gid() != Integer.parseInt(user.gid()))) {
        PilotLogs.chown(real, Integer.parseInt(user.uid()), Integer.parseInt(user.gid()));
      }
    } catch (IOException e) {
      throw new PilotStartException("cannot prepare the pilot log " + real + ": "
          + e.getMessage());
    }
  }

  /** The job id from {@code sbatch --parsable} ("42" or "42;cluster"), or null. */
  static String parseJobId(String out) {
    for (String line : out.strip().lines().toList()) {
      Matcher m = JOB_ID.matcher(line.strip());
      if (m.matches()) {
        return m.group(1);
      }
    }
    return null;
  }

  /** {@code ID|STATE|REASON} lines of squeue, by id; lines that do not parse are skipped. */
  static Map<String, JobStatus> parseSqueue(String out) {
    Map<String, JobStatus> m = new LinkedHashMap<>();
    for (String line : out.lines().toList()) {
      String[] f = line.strip().split("\\|", 3);
      if (f.length >= 2 && !f[0].isEmpty() && !f[1].isEmpty()) {
        m.put(f[0], new JobStatus(f[1], f.length > 2 ? f[2] : ""));
      }
    }
    return m;
  }

  @Override
  public boolean isAlive(PilotHandle handle) {
    return status((SlurmHandle) handle, false).active();
  }

  @Override
  public String launchProblem(PilotHandle handle) {
    SlurmHandle h = (SlurmHandle) handle;
    JobStatus s = status(h, false);
    if (s.state().equals("PENDING")) {
      Duration waited = Duration.between(h.submitted, clock.instant());
      if (waited.compareTo(options.pendingGrace()) >= 0) {
        return "pilot of " + h.launch.hostname() + " still pending in Slurm (job " + h.slurmId
            + ", reason: " + s.reason() + ") after " + seconds(waited);
      }
      return null;
    }
    return s.active() ? null
        : "its pilot ended in Slurm before dialling in (" + h.describe() + ")";
  }

  @Override
  public void stop(PilotHandle handle) {
    SlurmHandle h = (SlurmHandle) handle;
    synchronized (h) {
      if (h.stopped) {
        return;
      }
      if (scancel == null) {
        log.warn("job {}: cannot cancel Slurm job {} of {}: scancel is in none of {}",
            h.launch.jobId(), h.slurmId, h.launch.hostname(), path());
      } else {
        try {
          SlurmCommands.Result r = run(List.of(scancel.toString(), h.slurmId), null, QUERY_TIMEOUT);
          if (r.exit() != 0 && !r.err().contains("already completing or completed")
              && !r.err().contains("Invalid job id")) {
            log.warn("job {}: scancel {} ({}) exited {}: {}", h.launch.jobId(), h.slurmId,
                h.launch.hostname(), r.exit(), r.errOneLine());
          }
        } catch (IOException e) {
          log.warn("job {}: scancel {}: {}", h.launch.jobId(), h.slurmId, e.toString());
        }
      }
      long deadline = System.nanoTime() + options.stopWait().toNanos();
      while (true) {
        JobStatus s = status(h, true);
        if (!s.active() && !s.state().equals("COMPLETING")) {
          break;
        }
        if (System.nanoTime() >= deadline) {
          log.warn("job {}: Slurm job {} of {} is still {} {} after scancel", h.launch.jobId(),
              h.slurmId, h.launch.hostname(), s.describe(), seconds(options.stopWait()));
          break;
        }
        sleep(Duration.ofMillis(200));
      }
      h.stopped = true;
      tracked.remove(h);
    }
  }

  /**
   * The handle's Slurm status: the cached one if it is final or younger than the poll interval,
   * else a fresh squeue for every tracked pilot. A failed query leaves the last known status
   * (so a slurmctld hiccup does not fail a job) and is logged once.
   */
  JobStatus status(SlurmHandle h, boolean fresh) {
    synchronized (pollLock) {
      JobStatus last = h.status;
      if (!last.active() && !last.state().equals("COMPLETING")) {
        return last; // final
      }
      Instant now = clock.instant();
      if (fresh || !lastPolled.contains(h.slurmId)
          || !now.isBefore(lastPoll.plus(options.pollInterval()))) {
        poll(h, now);
      }
      return h.status;
    }
  }

  private void poll(SlurmHandle extra, Instant now) {
    Map<String, SlurmHandle> byId = new HashMap<>();
    for (SlurmHandle t : tracked) {
      if (t.status.active() || t.status.state().equals("COMPLETING")) {
        byId.put(t.slurmId, t);
      }
    }
    byId.put(extra.slurmId, extra);
    lastPoll = now;
    if (squeue == null) {
      warnQuery("squeue is in none of " + path());
      return;
    }
    SlurmCommands.Result r;
    try {
      r = run(List.of(squeue.toString(), "-h", "-t", "all", "-o", "%i|%T|%r", "-j",
          String.join(",", byId.keySet())), null, QUERY_TIMEOUT);
    } catch (IOException e) {
      warnQuery(e.toString());
      return;
    }
    if (r.exit() != 0 && r.err().contains("Invalid job id")) {
      // A single id that slurmctld no longer knows (a list would just omit it).
      byId.values().forEach(t -> t.status = JobStatus.GONE);
    } else if (r.exit() != 0) {
      warnQuery("squeue exited " + r.exit() + ": " + r.errOneLine());
      return;
    } else {
      Map<String, JobStatus> found = parseSqueue(r.out());
      byId.forEach((id, t) -> t.status = found.getOrDefault(id, JobStatus.GONE));
    }
    lastPolled = Set.copyOf(byId.keySet());
    warnedQuery = false;
  }

  private void warnQuery(String why) {
    if (!warnedQuery) {
      log.warn("cannot ask Slurm about the pilots (keeping their last known state): {}", why);
      warnedQuery = true;
    }
  }

  /** The directories sbatch, squeue and scancel are looked up in, as a PATH value. */
  private String path() {
    return HostTools.path(options.slurmDirs());
  }

  private SlurmCommands.Result run(List<String> cmd, String stdin, Duration timeout)
      throws IOException {
    return commands.run(cmd, stdin, timeout);
  }

  /** Single-quotes a word for /bin/sh. */
  static String quote(String s) {
    if (s.matches("[A-Za-z0-9_./:=@%+,-]+")) {
      return s;
    }
    return "'" + s.replace("'", "'\\''") + "'";
  }

  private static String seconds(Duration d) {
    return d.toSeconds() + "s";
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A submitted pilot: its Slurm job id and last known status. */
  static final class SlurmHandle implements PilotHandle {
    final PilotLaunch launch;
    final String slurmId;
    final Instant submitted;
    final Path logFile;
    volatile JobStatus status = JobStatus.SUBMITTED; // written under pollLock
    boolean stopped; // guarded by this

    SlurmHandle(PilotLaunch launch, String slurmId, Instant submitted, Path logFile) {
      this.launch = launch;
      this.slurmId = slurmId;
      this.submitted = submitted;
      this.logFile = logFile;
    }

    /** The Slurm job id. */
    public String slurmJobId() {
      return slurmId;
    }

    @Override
    public PilotLaunch launch() {
      return launch;
    }

    @Override
    public String describe() {
      return "Slurm job " + slurmId + ", " + status.describe() + "; log: " + logFile;
    }
  }
}
