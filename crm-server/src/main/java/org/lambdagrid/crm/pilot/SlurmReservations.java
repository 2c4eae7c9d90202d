package org.lambdagrid.crm.pilot;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.PosixNames;
import org.lambdagrid.common.security.HostTools;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Slurm advance reservations for a site's grid reservations ({@code pilot.slurm.reserve}, on by
 * default with the Slurm starter). For reservation {@code r-1a2b3c4d} on site {@code tokyo},
 * after {@link #exists} ({@code scontrol -o show reservation lg-tokyo-r-1a2b3c4d}) found none of
 * that name (the CRM refuses one that exists ALREADY_EXISTS and leaves it alone; Slurm 22.05
 * would report a duplicate on busy nodes as "Requested nodes are busy"):
 *
 * <pre>
 * scontrol create reservation ReservationName=lg-tokyo-r-1a2b3c4d
 *     StartTime=2030-01-02T10:00:00 EndTime=2030-01-02T10:30:00 NodeCnt=2 Users=alice
 *     [Accounts=A] [PartitionName=P]
 * </pre>
 *
 * <ul>
 *   <li><b>Times</b> in UTC (the command runs with {@code TZ=UTC}), the window's start and end
 *       cut to the second: two grid reservations that meet still meet in Slurm, and the Slurm
 *       reservation has started when the pilots are submitted at the window's start (a pilot
 *       submitted before it waits for Slurm's next scheduling pass, up to a minute).
 *   <li><b>NodeCnt</b> is the grid node count divided by {@code pilots_per_node}, rounded up;
 *       Slurm picks the nodes in the partition ({@code pilot.slurm.partition}, else the
 *       cluster's default), skipping nodes that are down, drained, in another reservation, or
 *       running a job that has not ended by the window's start. Where it cannot, the create
 *       fails ({@code Requested nodes are busy}) and the site votes no with that reason. Slurm
 *       22.05 silently shrinks a reservation when the partition has fewer usable nodes than
 *       asked, so the CRM reads the reservation back ({@code scontrol -o show reservation NAME})
 *       and, if it got fewer nodes, deletes it and votes no.
 *   <li><b>Users</b> is the user the pilots are submitted as: the reservation's user with
 *       {@code run_as_user}, else the CRM's own user. With {@code pilot.slurm.account} it adds
 *       {@code Accounts=}, and Slurm then lets in only jobs that match both (the pilots do).
 *   <li><b>No flags.</b> Not IGNORE_JOBS (the point is to refuse nodes that local jobs hold
 *       into the window), not OVERLAP or MAINT (those share nodes with other reservations), not
 *       FLEX (the pilots must run on the reserved nodes and inside the window), not PURGE_COMP
 *       (several jobs may use one grid reservation one after the other; the CRM deletes it).
 * </ul>
 *
 * <p>Creating, showing and deleting reservations is for root, SlurmUser and Slurm operators
 * ({@code sacctmgr add user NAME AdminLevel=Operator}), so the CRM's user must be one.
 * {@link #delete} is {@code scontrol delete ReservationName=NAME}; Slurm refuses while jobs still
 * run in it ({@code Requested reservation is in use}), and the caller tries again later.
 * {@link #deleteIfAsked} (a recorded name whose hold ended or whose create did not answer) first
 * reads the reservation back and deletes it only if it has the StartTime, EndTime, Users and
 * Accounts the create passed ({@link #asked}; a started one's StartTime may have been moved
 * to "now" by slurmctld, see {@link #mismatch}): one someone else made under the name is left.
 * One scontrol does not show in full (a field missing or not in its form) is neither: the
 * delete fails and is tried again later.
 *
 * <p>{@link #capacity} is {@code sinfo -h -N [-p P] -o %N|%T|%P}: the partition's nodes that
 * respond and are idle, mixed, allocated, completing, reserved or planned (not down, drained,
 * failed or in maintenance), times {@code pilots_per_node}; cached for {@value #CAPACITY_TTL_S}
 * s. Every command runs through {@link SlurmCommands} (absolute path, no shell, a timeout): the
 * caller's deadline, and never more than {@value #TIMEOUT_S} s.
 */
public final class SlurmReservations implements BatchReservations {
  private static final Logger log = LoggerFactory.getLogger(SlurmReservations.class);
  static final int TIMEOUT_S = 10;
  private static final Duration TIMEOUT = Duration.ofSeconds(TIMEOUT_S);
  static final int CAPACITY_TTL_S = 10;
  /**
   * How far slurmctld's clock may run ahead of the CRM's: a started reservation whose StartTime
   * slurmctld moved to its "now" may show up to this much after the CRM's now ({@link #mismatch}).
   */
  static final Duration CLOCK_SKEW = Duration.ofSeconds(5);
  /** A reservation id that may be part of a Slurm reservation name. */
  private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
  private static final Pattern FIELD = Pattern.compile("(\\w+)=(\\S*)");
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss").withZone(ZoneOffset.UTC);
  /** sinfo %T states (suffixes stripped) of a node that can take jobs now or later. */
  static final Set<String> USABLE = Set.of("idle", "mixed", "allocated", "completing",
      "reserved", "planned");

  /**
   * @param site the site's name: the reservations are named {@code lg-SITE-ID}
   * @param partition {@code PartitionName=}, or null for the cluster's default partition
   * @param account {@code Accounts=}, or null
   * @param pilotsPerNode grid nodes one Slurm node hosts
   * @param runAsUser the pilots are submitted as the reservation's user (else as the CRM's)
   * @param slurmDirs where scontrol and sinfo are looked up; null for the system directories
   */
  public record Options(String site, String partition, String account, int pilotsPerNode,
      boolean runAsUser, List<Path> slurmDirs) {
    public Options {
      if (pilotsPerNode < 1) {
        throw new IllegalArgumentException("pilots_per_node: " + pilotsPerNode
            + " must be at least 1");
      }
      slurmDirs = slurmDirs == null ? HostTools.SYSTEM_DIRS : List.copyOf(slurmDirs);
    }
  }

  private final Options options;
  private final Clock clock;
  private final SlurmCommands commands;
  private final Path scontrol;
  private final Path sinfo;
  private final Object capacityLock = new Object();
  private Instant capacityAt = Instant.EPOCH; // guarded by capacityLock
  private int capacity = -1; // guarded by capacityLock
  private String capacityProblem; // the last one logged, guarded by capacityLock

  public SlurmReservations(Options options) {
    this(options, Clock.systemUTC());
  }

  public SlurmReservations(Options options, Clock clock) {
    this.options = options;
    this.clock = clock;
    this.commands = new SlurmCommands(options.slurmDirs());
    this.scontrol = commands.find("scontrol");
    this.sinfo = commands.find("sinfo");
    if (scontrol == null) {
      log.warn("scontrol is in none of {}; every reservation will be refused (install Slurm's"
          + " client commands, or set pilot.slurm.reserve: false)", commands.path());
    }
  }

  @Override
  public String name(String reservationId) {
    if (reservationId == null || !ID.matcher(reservationId).matches()) {
      throw Errors.invalid("reservation_id", reservationId, "cannot name a Slurm reservation"
          + " (letters, digits, '_', '.', '-'; at most 64)");
    }
    return "lg-" + options.site() + "-" + reservationId;
  }

  /** The user the pilots of a reservation of {@code user} are submitted as. */
  String slurmUser(String user) {
    return options.runAsUser() && user != null && !user.isBlank() ? user
        : System.getProperty("user.name");
  }

  /** Slurm nodes that host {@code nodes} grid nodes. */
  int slurmNodes(int nodes) {
    return (nodes + options.pilotsPerNode() - 1) / options.pilotsPerNode();
  }

  /**
   * What the create of {@code spec} passes: the window cut to the second, the Slurm user
   * ({@link #slurmUser}), {@code account}, the Slurm node count and {@code partition}.
   */
  @Override
  public Asked asked(Spec spec) {
    String user = slurmUser(spec.user());
    if (!PosixNames.LOGIN.matcher(user).matches()) {
      throw Errors.invalid("user", user, "is not a user name Slurm can reserve for");
    }
    return new Asked(spec.start().truncatedTo(ChronoUnit.SECONDS),
        spec.end().truncatedTo(ChronoUnit.SECONDS), user, options.account(),
        slurmNodes(spec.nodes()), options.partition());
  }

  /** scontrol's arguments for the reservation (without scontrol itself): {@link #asked}. */
  List<String> createArgs(String name, Spec spec) {
    Asked a = asked(spec);
    List<String> args = new ArrayList<>(List.of("create", "reservation",
        "ReservationName=" + name, "StartTime=" + time(a.start()),
        "EndTime=" + time(a.end()), "NodeCnt=" + a.nodes(), "Users=" + a.users()));
    if (a.account() != null) {
      args.add("Accounts=" + a.account());
    }
    if (a.partition() != null) {
      args.add("PartitionName=" + a.partition());
    }
    return args;
  }

  /** An instant as scontrol reads it under {@code TZ=UTC}, cut to the second. */
  static String time(Instant t) {
    return TIME.format(t.truncatedTo(ChronoUnit.SECONDS));
  }

  @Override
  public void create(Spec spec, io.grpc.Deadline deadline) {
    String name = name(spec.reservationId());
    List<String> args = createArgs(name, spec);
    int want = slurmNodes(spec.nodes());
    String what = "Slurm cannot reserve " + want + " node" + (want == 1 ? "" : "s")
        + (options.pilotsPerNode() > 1 ? " (for " + spec.nodes() + " pilots, "
            + options.pilotsPerNode() + " per node)" : "")
        + " of " + partition() + " from " + time(spec.start()) + "Z to " + time(spec.end())
        + "Z for user '" + args.get(6).substring("Users=".length()) + "' (ReservationName="
        + name + ")";
    if (scontrol == null) {
      throw Errors.precondition(what + ": scontrol is in none of the CRM's Slurm directories ("
          + commands.path() + ")");
    }
    List<String> cmd = new ArrayList<>(List.of(scontrol.toString()));
    cmd.addAll(args);
    SlurmCommands.Result r;
    try {
      r = run(cmd, deadline);
    } catch (IOException e) {
      // It may have been made, now or after scontrol was killed: the caller resolves the name.
      throw Errors.unavailable(what + ": " + e.getMessage());
    }
    if (r.exit() != 0) {
      String err = r.errOneLine();
      if (err.contains("Duplicate reservation name")) {
        throw Errors.alreadyExists("ReservationName: '" + name + "': Slurm already has a"
            + " reservation of that name, which this CRM did not make for reservation "
            + spec.reservationId() + " (see scontrol show reservation " + name + "); it is left"
            + " alone and nothing is held");
      }
      throw Errors.precondition(what + ": " + firstLine(r) + hint(err));
    }
    // Slurm 22.05 quietly reserves fewer nodes than asked when fewer are usable: read it back.
    Map<String, String> shown;
    try {
      shown = show(name, deadline);
    } catch (IOException e) {
      throw Errors.unavailable(what + ": made, but cannot read it back: " + e.getMessage());
    }
    String count = shown == null ? null : shown.get("NodeCnt");
    if (count != null && count.matches("\\d+") && Integer.parseInt(count) >= want) {
      log.info("reservation {}: Slurm reservation {} made: {} node(s) {} of {}, {}Z to {}Z",
          spec.reservationId(), name, count, shown.getOrDefault("Nodes", "?"), partition(),
          time(spec.start()), time(spec.end()));
      return;
    }
    String problem = shown == null ? "Slurm made it but then did not show it"
        : "Slurm has only " + count + " usable node" + ("1".equals(count) ? "" : "s")
            + " for it in the window";
    try {
      delete(name, deadline);
    } catch (BatchReservationException e) {
      throw Errors.unavailable(what + ": " + problem + ", and deleting it failed: "
          + e.getMessage());
    }
    throw Errors.precondition(what + ": " + problem);
  }

  /** Runs a Slurm command within {@code deadline}, and never longer than {@link #TIMEOUT}. */
  private SlurmCommands.Result run(List<String> cmd, io.grpc.Deadline deadline)
      throws IOException {
    long left = deadline == null ? TIMEOUT.toMillis()
        : Math.min(TIMEOUT.toMillis(), deadline.timeRemaining(TimeUnit.MILLISECONDS));
    if (left <= 0) {
      throw new IOException("no time left to run " + Path.of(cmd.get(0)).getFileName()
          + " before the caller's deadline");
    }
    return commands.run(cmd, null, Duration.ofMillis(left));
  }

  @Override
  public boolean exists(String name, io.grpc.Deadline deadline)
      throws BatchReservationException {
    return lookUp(name, deadline) != null;
  }

  /**
   * {@link #show} for {@link #exists} and {@link #deleteIfAsked}: the fields Slurm shows for
   * {@code name}, or null when it has no reservation of that name.
   *
   * @throws BatchReservationException "cannot look for Slurm reservation NAME: ..." when
   *     scontrol is missing, did not answer or failed (nothing is decided; the caller tries
   *     again later)
   */
  private Map<String, String> lookUp(String name, io.grpc.Deadline deadline)
      throws BatchReservationException {
    if (scontrol == null) {
      throw new BatchReservationException("cannot look for Slurm reservation " + name
          + ": scontrol is in none of " + commands.path());
    }
    try {
      return show(name, deadline);
    } catch (IOException e) {
      throw new BatchReservationException("cannot look for Slurm reservation " + name + ": "
          + e.getMessage());
    }
  }

  /** scontrol's first error line (it adds notes about partitions after it). */
  private static String firstLine(SlurmCommands.Result r) {
    String e = r.err().isBlank() ? r.out() : r.err();
    return e.strip().lines().findFirst().orElse("exit " + r.exit());
  }

  private String partition() {
    return options.partition() == null ? "the default partition"
        : "partition " + options.partition();
  }

  private static String hint(String err) {
    if (err.contains("Invalid user id") || err.contains("Access denied")) {
      return " (the user must exist on the Slurm cluster, and the CRM's user must be root,"
          + " SlurmUser or a Slurm operator)";
    }
    return "";
  }

  /**
   * The fields of {@code scontrol -o show reservation NAME}, or null when Slurm has no such
   * reservation: only when scontrol says so ({@code Reservation NAME not found}, which it prints
   * to stdout and exits 1). Anything else that does not show it is an error.
   *
   * @throws IOException scontrol did not answer, failed otherwise, or exited 0 without a line
   *     for the reservation
   */
  Map<String, String> show(String name, io.grpc.Deadline deadline) throws IOException {
    SlurmCommands.Result r = run(List.of(scontrol.toString(), "-o", "show",
        "reservation", name), deadline);
    if (r.exit() != 0) {
      String notFound = "Reservation " + name + " not found";
      if ((r.out() + "\n" + r.err()).lines().anyMatch(l -> l.strip().equals(notFound))) {
        return null;
      }
      throw new IOException("scontrol show reservation " + name + " exited " + r.exit() + ": "
          + r.errOneLine());
    }
    for (String line : r.out().lines().toList()) {
      Map<String, String> f = fields(line);
      if (name.equals(f.get("ReservationName"))) {
        return f;
      }
    }
    String out = r.out().strip().replace('\n', ' ');
    throw new IOException("scontrol show reservation " + name + " exited 0 but showed no"
        + " reservation of that name: " + (out.isEmpty() ? "(no output)"
            : out.length() > 200 ? out.substring(0, 200) + "..." : out));
  }

  /** {@code Key=Value} fields of one line of scontrol's one-line output. */
  static Map<String, String> fields(String line) {
    Map<String, String> m = new HashMap<>();
    Matcher x = FIELD.matcher(line);
    while (x.find()) {
      m.putIfAbsent(x.group(1), x.group(2));
    }
    return m;
  }

  @Override
  public void delete(String name, io.grpc.Deadline deadline) throws BatchReservationException {
    if (scontrol == null) {
      throw new BatchReservationException("cannot delete Slurm reservation " + name
          + ": scontrol is in none of " + commands.path());
    }
    SlurmCommands.Result r;
    try {
      r = run(List.of(scontrol.toString(), "delete", "ReservationName=" + name), deadline);
    } catch (IOException e) {
      throw new BatchReservationException("cannot delete Slurm reservation " + name + ": "
          + e.getMessage());
    }
    if (r.exit() == 0) {
      log.info("Slurm reservation {} deleted", name);
      return;
    }
    String err = r.errOneLine();
    if (err.contains("Requested reservation is invalid")) {
      return; // gone already (Slurm's ESLURM_RESERVATION_INVALID: no reservation of that name)
    }
    throw new BatchReservationException("Slurm did not delete reservation " + name + " (exit "
        + r.exit() + "): " + err);
  }

  /**
   * {@code scontrol -o show reservation NAME}, then, if Slurm shows it with the StartTime,
   * EndTime, Users and Accounts that were {@code asked} ({@link #mismatch}), {@link #delete}.
   */
  @Override
  public Mismatch deleteIfAsked(String name, Asked asked, io.grpc.Deadline deadline)
      throws BatchReservationException {
    Map<String, String> shown = lookUp(name, deadline);
    if (shown == null) {
      return null; // gone already, or never made
    }
    Mismatch m = mismatch(name, asked, shown, clock.instant());
    if (m == null) {
      delete(name, deadline);
    }
    return m;
  }

  /**
   * The first of StartTime, EndTime, Users and Accounts in which {@code shown} (the fields of
   * {@code scontrol -o show reservation}) differs from {@code asked}, or null when none does.
   * Times are read as the local times scontrol prints without a zone (it runs with
   * {@code TZ=UTC}), to the second, as {@link #time} wrote them. EndTime, Users and Accounts
   * must be exactly what was asked. StartTime is what was asked, or, once the reservation has
   * started, any time from then until {@code now} (plus {@link #CLOCK_SKEW}) and the end:
   * slurmctld moves a started reservation's StartTime to its own "now" whenever it changes it
   * (e.g. when a reserved node went away, or after node changes and a restart). NodeCnt, Nodes
   * and PartitionName are not compared: Slurm picks the nodes (and may give fewer) and names
   * the default partition.
   *
   * @param now the CRM's clock
   * @throws BatchReservationException one of those fields is not shown, or not in the form
   *     scontrol prints it in (so whether it is the one asked for cannot be told: nothing is
   *     decided; the caller tries again later)
   */
  static Mismatch mismatch(String name, Asked asked, Map<String, String> shown, Instant now)
      throws BatchReservationException {
    Instant start = shownTime(name, shown, "StartTime");
    Instant end = shownTime(name, shown, "EndTime");
    String users = shownField(name, shown, "Users");
    String accounts = shownField(name, shown, "Accounts");
    Instant askedStart = asked.start().truncatedTo(ChronoUnit.SECONDS);
    Instant askedEnd = asked.end().truncatedTo(ChronoUnit.SECONDS);
    Instant latest = now.plus(CLOCK_SKEW).isBefore(askedEnd) ? now.plus(CLOCK_SKEW) : askedEnd;
    if (!start.equals(askedStart) && (start.isBefore(askedStart) || start.isAfter(latest))) {
      return new Mismatch("StartTime", time(askedStart), shown.get("StartTime"));
    }
    if (!end.equals(askedEnd)) {
      return new Mismatch("EndTime", time(askedEnd), shown.get("EndTime"));
    }
    if (!asked.users().equals(users)) {
      return new Mismatch("Users", asked.users(), users);
    }
    String want = asked.account() == null ? "(null)" : asked.account();
    if (!want.equals(accounts)) {
      return new Mismatch("Accounts", want, accounts);
    }
    return null;
  }

  private static String shownField(String name, Map<String, String> shown, String field)
      throws BatchReservationException {
    String v = shown.get(field);
    if (v == null) {
      throw new BatchReservationException("cannot tell whether Slurm reservation " + name
          + " is the one asked for: scontrol shows no " + field);
    }
    return v;
  }

  private static Instant shownTime(String name, Map<String, String> shown, String field)
      throws BatchReservationException {
    String v = shownField(name, shown, field);
    Instant t = parseTime(v);
    if (t == null) {
      throw new BatchReservationException("cannot tell whether Slurm reservation " + name
          + " is the one asked for: scontrol shows " + field + "=" + v + ", not a time"
          + " YYYY-MM-DDTHH:MM:SS (it must run with TZ=UTC and SLURM_TIME_FORMAT=standard)");
    }
    return t;
  }

  /**
   * A time as scontrol prints it under {@code TZ=UTC} ({@code YYYY-MM-DDTHH:MM:SS}, local time
   * without a zone), or null when {@code s} is not one.
   */
  static Instant parseTime(String s) {
    if (s == null) {
      return null;
    }
    try {
      return LocalDateTime.parse(s, DateTimeFormatter.ISO_LOCAL_DATE_TIME)
          .toInstant(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      return null;
    }
  }

  @Override
  public int capacity() {
    synchronized (capacityLock) {
      Instant now = clock.instant();
      if (now.isBefore(capacityAt.plusSeconds(CAPACITY_TTL_S))) {
        return capacity;
      }
      capacityAt = now;
      String problem = null;
      int nodes = -1;
      if (sinfo == null) {
        problem = "sinfo is in none of " + commands.path();
      } else {
        List<String> cmd = new ArrayList<>(List.of(sinfo.toString(), "-h", "-N"));
        if (options.partition() != null) {
          cmd.addAll(List.of("-p", options.partition()));
        }
        cmd.addAll(List.of("-o", "%N|%T|%P"));
        try {
          SlurmCommands.Result r = commands.run(cmd, null, TIMEOUT);
          if (r.exit() != 0) {
            problem = "sinfo exited " + r.exit() + ": " + r.errOneLine();
          } else {
            nodes = usableNodes(r.out(), options.partition());
          }
        } catch (IOException e) {
          problem = e.getMessage();
        }
      }
      if (problem != null && !problem.equals(capacityProblem)) {
        log.warn("cannot count the Slurm nodes ({}); registering node_capacity", problem);
      }
      capacityProblem = problem;
      capacity = nodes < 0 ? -1 : nodes * options.pilotsPerNode();
      return capacity;
    }
  }

  /**
   * The distinct nodes in {@code %N|%T|%P} lines of sinfo that are usable ({@link #USABLE},
   * responding): of {@code partition}, or of the default partition (the one sinfo marks with
   * {@code *}) when it is null.
   */
  static int usableNodes(String sinfoOut, String partition) {
    Set<String> nodes = new HashSet<>();
    for (String line : sinfoOut.lines().toList()) {
      String[] f = line.strip().split("\\|");
      if (f.length < 3) {
        continue;
      }
      boolean ours = partition == null ? f[2].endsWith("*")
          : f[2].replace("*", "").equals(partition);
      String state = f[1];
      if (!ours || state.endsWith("*")) { // "*": not responding
        continue;
      }
      if (USABLE.contains(state.replaceAll("[~#!%$@^+-]+$", ""))) {
        nodes.add(f[0]);
      }
    }
    return nodes.size();
  }
}
