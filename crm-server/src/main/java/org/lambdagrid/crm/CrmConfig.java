package org.lambdagrid.crm;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.ops.HttpConfig;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.common.store.StateConfig;
import org.lambdagrid.crm.site.SiteAccounts;
import org.lambdagrid.crm.site.SiteSettings;

/**
 * A CRM's configuration file ({@code crm.yaml}), read with
 * {@link org.lambdagrid.common.ConfigLoader}. Every key, its default and its bounds are declared
 * here once; the compact constructor fills defaults and rejects bad values with a message that
 * starts with the field name.
 *
 * <pre>
 * site: tokyo                      # required; [a-z][a-z0-9-]{0,15}; hostnames are tokyo-0, ...
 * listen: 0.0.0.0:7100             # required; SiteService and PilotService share this port
 * advertise: crm-tokyo.lan:7100    # what the GRC and the pilots dial; default = listen
 *                                  # (required when listen is 0.0.0.0)
 * grc: grc.lan:7000                # required; the GRC's SiteRegistryService
 * node_capacity: 4                 # required, >= 1
 * ranges: [10.10.0.0/16]           # required; published pools, must not overlap each other
 * slots_per_node: 1                # default 1
 * state_dir: /run/lambdagrid/crm-tokyo   # default /run/lambdagrid/crm-SITE; pilot logs and the
 *                                  # state database (crm.mv.db) go here; /run does not survive
 *                                  # a reboot, so use /var/lib/... to keep shares across one
 * state:                           # optional; see org.lambdagrid.common.store.StateConfig
 *   url: jdbc:h2:file:/var/lib/lambdagrid/crm-tokyo/crm   # default jdbc:h2:file:STATE_DIR/crm
 * phase_timeout: 60s               # default 60s; barrier timeout when the GRC sends none
 * shutdown_wait: 5s                # default 5s; how long release waits for SHUTDOWN replies
 * hold_time: 120s                  # default 120s; a prepared reservation not committed within
 *                                  # this expires (also across a CRM restart)
 * pilot:
 *   starter: local                 # default local; or slurm (sbatch, see slurm:)
 *   launcher: scripts/lambdagrid-launcher   # default; relative to the working directory
 *   run_as_user: true              # default true; false runs the launcher as the CRM's user
 *   extra_args: []                 # appended to the launcher's command line
 *   nodemanager_profile: gpu      # passed as --profile: the nodes' ETC/nodemanager.d/gpu.yaml
 *   credential_ttl: 2m             # how long a pilot's one-time credential is valid after it
 *                                  # was issued; default: until the launch phase's deadline
 *   reconnect_grace: 60s           # default 60s: after a restart, how long a share whose guests
 *                                  # were all started waits for its pilots to redial and for
 *                                  # the GRC to watch it again (see docs/operators.md)
 *   stop_grace: 10s                # default 10s: local: after stdin EOF, before SIGTERM;
 *                                  # slurm: how long stop waits for a cancelled pilot to end
 *   slurm:                         # only with starter: slurm
 *     partition: batch             # --partition; default: the cluster's default partition
 *     account: grid                # --account; optional
 *     extra_args: [--qos=grid]     # more sbatch options (not the ones the starter sets)
 *     pending_grace: 60s           # default 60s: a pilot still PENDING this long after
 *                                  # submission fails the launch phase with Slurm's reason
 *     log_dir: /shared/lg/pilots   # --output directory, a path on the nodes; default
 *                                  # STATE_DIR/pilots
 *     bin_dir: /opt/slurm/bin      # where sbatch, squeue, scancel, scontrol and sinfo are
 *                                  # (absolute); default: the first of /usr/local/sbin:
 *                                  # /usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin that has
 *                                  # each (never the PATH)
 *     reserve: true                # default true: each prepared reservation gets a Slurm
 *                                  # advance reservation (scontrol create reservation; the
 *                                  # CRM's user must be root, SlurmUser or a Slurm operator)
 *                                  # and the pilots run in it (sbatch --reservation)
 *     pilots_per_node: 1           # default 1: grid nodes (pilots) one Slurm node hosts; the
 *                                  # Slurm reservation holds nodes / pilots_per_node nodes
 *                                  # (rounded up), and the registered capacity is at most
 *                                  # pilots_per_node x the partition's usable nodes
 * http:                            # optional: the operations port, plain HTTP (/metrics)
 *   listen: 127.0.0.1:7381
 * overlay:                         # optional: this site is routed, not joined at layer 2 (see
 *                                  # docs/reservations.md); sent to the GRC when registering
 *   endpoint: 172.31.255.2         # required in the section: IPv4 address of the site's VTEP
 *                                  # on the routed underlay (the other sites' VTEPs send to it)
 *   netns: lg-site-tokyo           # testbed only: the network namespace that address is in
 *   underlay_mtu: 1500             # default 1500 (1330..65535); the overlay's MTU (and the
 *                                  # guests') is the smallest of its sites' less 50
 * accounts:                        # optional: the local account each grid user runs as here
 *   map: {alice: a.smith}          # grid user -> local account; two users never share one
 *   prefix: ""                     # a user not in map runs as prefix + name + suffix
 *   suffix: ""                     # (default: the account of the same name)
 *   require_map: false             # true: a grid user not in map is refused (at Prepare)
 *   min_uid: 1000                  # an account with a lower uid (a system account) is refused
 * tls:                             # required by crm-server (see TlsConfig)
 *   ca: /etc/lambdagrid/tls/ca.crt
 *   cert: /etc/lambdagrid/tls/crm-tokyo.crt   # a crm certificate whose CN is this site
 *   key: /etc/lambdagrid/tls/crm-tokyo.key
 * </pre>
 */
public record CrmConfig(
    String site,
    String listen,
    String advertise,
    String grc,
    @JsonProperty("node_capacity") Integer nodeCapacity,
    List<String> ranges,
    @JsonProperty("slots_per_node") Integer slotsPerNode,
    @JsonProperty("state_dir") String stateDir,
    @JsonProperty("phase_timeout") String phaseTimeout,
    @JsonProperty("shutdown_wait") String shutdownWait,
    Pilot pilot,
    TlsConfig tls,
    StateConfig state,
    @JsonProperty("hold_time") String holdTime,
    HttpConfig http,
    Accounts accounts,
    Overlay overlay) {

  private static final Pattern SITE_NAME = Pattern.compile("[a-z][a-z0-9-]{0,15}");

  public CrmConfig {
    if (site == null || site.isEmpty()) {
      throw new IllegalArgumentException("site: is required");
    }
    if (!SITE_NAME.matcher(site).matches()) {
      throw new IllegalArgumentException("site: '" + site
          + "' is not a site name (a lower-case letter, then up to 15 of a-z, 0-9, -)");
    }
    Endpoint listenAt = endpoint("listen", listen, true);
    if (advertise == null || advertise.isEmpty()) {
      if (listenAt.host().equals("0.0.0.0") || listenAt.host().equals("::")
          || listenAt.host().equals("[::]")) {
        throw new IllegalArgumentException("advertise: is required when listen is a wildcard"
            + " address ('" + listen + "'); give the host:port the GRC and pilots dial");
      }
      advertise = listen;
    }
    endpoint("advertise", advertise, true);
    endpoint("grc", grc, true);
    if (nodeCapacity == null) {
      throw new IllegalArgumentException("node_capacity: is required");
    }
    if (nodeCapacity < 1) {
      throw new IllegalArgumentException("node_capacity: " + nodeCapacity + " must be at least 1");
    }
    if (ranges == null || ranges.isEmpty()) {
      throw new IllegalArgumentException("ranges: at least one CIDR block is required");
    }
    ranges = List.copyOf(ranges);
    List<Ipv4Cidr> parsed = new ArrayList<>();
    for (int i = 0; i < ranges.size(); i++) {
      Ipv4Cidr c;
      try {
        c = Ipv4Cidr.parse(ranges.get(i));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("ranges[" + i + "]: " + e.getMessage());
      }
      for (int j = 0; j < parsed.size(); j++) {
        if (parsed.get(j).overlaps(c)) {
          throw new IllegalArgumentException("ranges[" + i + "]: '" + c + "' overlaps ranges["
              + j + "] '" + parsed.get(j) + "'");
        }
      }
      parsed.add(c);
    }
    slotsPerNode = slotsPerNode == null ? 1 : slotsPerNode;
    if (slotsPerNode < 1) {
      throw new IllegalArgumentException("slots_per_node: " + slotsPerNode + " must be at least 1");
    }
    stateDir = stateDir == null || stateDir.isEmpty() ? "/run/lambdagrid/crm-" + site : stateDir;
    phaseTimeout = phaseTimeout == null ? "60s" : phaseTimeout;
    duration("phase_timeout", phaseTimeout);
    shutdownWait = shutdownWait == null ? "5s" : shutdownWait;
    duration("shutdown_wait", shutdownWait);
    pilot = pilot == null ? new Pilot(null, null, null, null, null, null, null, null, null)
        : pilot;
    state = state == null ? StateConfig.defaults() : state;
    holdTime = holdTime == null || holdTime.isEmpty() ? "120s" : holdTime;
    duration("hold_time", holdTime);
    accounts = accounts == null ? new Accounts(null, null, null, null, null) : accounts;
  }

  /** Without an {@code overlay} section (the site is not routed). */
  public CrmConfig(String site, String listen, String advertise, String grc, Integer nodeCapacity,
      List<String> ranges, Integer slotsPerNode, String stateDir, String phaseTimeout,
      String shutdownWait, Pilot pilot, TlsConfig tls, StateConfig state, String holdTime,
      HttpConfig http, Accounts accounts) {
    this(site, listen, advertise, grc, nodeCapacity, ranges, slotsPerNode, stateDir, phaseTimeout,
        shutdownWait, pilot, tls, state, holdTime, http, accounts, null);
  }

  /**
   * The {@code overlay:} section of a routed site: where its VXLAN tunnel endpoint is on the
   * routed underlay ({@code endpoint}, an IPv4 address), the network namespace it is in (testbed;
   * empty: the network provider's own) and the underlay's MTU. The CRM sends it in its
   * registration; the GRC then joins this site's reservations by a VXLAN overlay.
   */
  public record Overlay(String endpoint, String netns, @JsonProperty("underlay_mtu") Integer underlayMtu) {
    private static final Pattern IPV4 = Pattern.compile(
        "((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])");
    private static final Pattern NETNS = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}");

    public Overlay {
      if (endpoint == null || endpoint.isEmpty()) {
        throw new IllegalArgumentException("overlay.endpoint: is required in an overlay section (the"
            + " IPv4 address of this site's VTEP on the routed underlay)");
      }
      if (!IPV4.matcher(endpoint).matches()) {
        throw new IllegalArgumentException("overlay.endpoint: '" + endpoint + "' is not an IPv4 address");
      }
      netns = netns == null ? "" : netns;
      if (!netns.isEmpty() && !NETNS.matcher(netns).matches()) {
        throw new IllegalArgumentException("overlay.netns: '" + netns + "' is not a network namespace"
            + " name (1-64 of A-Z a-z 0-9 _ . -, not starting with . or -)");
      }
      underlayMtu = underlayMtu == null ? 1500 : underlayMtu;
      if (underlayMtu < 1330 || underlayMtu > 65535) {
        throw new IllegalArgumentException("overlay.underlay_mtu: " + underlayMtu + " is not 1330..65535"
            + " (the overlay's MTU is 50 less and must be at least 1280)");
      }
    }
  }

  /** Without an {@code accounts} section (every grid user runs as the same name). */
  public CrmConfig(String site, String listen, String advertise, String grc, Integer nodeCapacity,
      List<String> ranges, Integer slotsPerNode, String stateDir, String phaseTimeout,
      String shutdownWait, Pilot pilot, TlsConfig tls, StateConfig state, String holdTime,
      HttpConfig http) {
    this(site, listen, advertise, grc, nodeCapacity, ranges, slotsPerNode, stateDir, phaseTimeout,
        shutdownWait, pilot, tls, state, holdTime, http, null);
  }

  /** Without an {@code http} section (no operations port). */
  public CrmConfig(String site, String listen, String advertise, String grc, Integer nodeCapacity,
      List<String> ranges, Integer slotsPerNode, String stateDir, String phaseTimeout,
      String shutdownWait, Pilot pilot, TlsConfig tls, StateConfig state, String holdTime) {
    this(site, listen, advertise, grc, nodeCapacity, ranges, slotsPerNode, stateDir, phaseTimeout,
        shutdownWait, pilot, tls, state, holdTime, null);
  }

  /** Without {@code hold_time} (120 s). */
  public CrmConfig(String site, String listen, String advertise, String grc, Integer nodeCapacity,
      List<String> ranges, Integer slotsPerNode, String stateDir, String phaseTimeout,
      String shutdownWait, Pilot pilot, TlsConfig tls, StateConfig state) {
    this(site, listen, advertise, grc, nodeCapacity, ranges, slotsPerNode, stateDir, phaseTimeout,
        shutdownWait, pilot, tls, state, null);
  }

  /** Without a {@code state} section. */
  public CrmConfig(String site, String listen, String advertise, String grc, Integer nodeCapacity,
      List<String> ranges, Integer slotsPerNode, String stateDir, String phaseTimeout,
      String shutdownWait, Pilot pilot, TlsConfig tls) {
    this(site, listen, advertise, grc, nodeCapacity, ranges, slotsPerNode, stateDir, phaseTimeout,
        shutdownWait, pilot, tls, null);
  }

  /** The JDBC URL of the state database. */
  public String stateUrl() {
    return state.effectiveUrl(java.nio.file.Path.of(stateDir), "crm");
  }

  /** Without a {@code tls} section (in-process servers, tests). */
  public CrmConfig(String site, String listen, String advertise, String grc, Integer nodeCapacity,
      List<String> ranges, Integer slotsPerNode, String stateDir, String phaseTimeout,
      String shutdownWait, Pilot pilot) {
    this(site, listen, advertise, grc, nodeCapacity, ranges, slotsPerNode, stateDir, phaseTimeout,
        shutdownWait, pilot, null);
  }

  /**
   * The {@code accounts:} section: which local account each grid user's guests and command run
   * as on this site ({@link SiteAccounts}). Checked when read: names must be login names, none
   * root, no account given to two grid users.
   */
  public record Accounts(
      java.util.Map<String, String> map,
      String prefix,
      String suffix,
      @JsonProperty("require_map") Boolean requireMap,
      @JsonProperty("min_uid") Integer minUid) {
    public Accounts {
      map = map == null ? java.util.Map.of() : java.util.Collections.unmodifiableMap(
          new java.util.TreeMap<>(map));
      prefix = prefix == null ? "" : prefix;
      suffix = suffix == null ? "" : suffix;
      requireMap = requireMap != null && requireMap;
      minUid = minUid == null ? SiteAccounts.DEFAULT_MIN_UID : minUid;
      rules(map, prefix, suffix, requireMap, minUid); // validates
    }

    public Accounts(java.util.Map<String, String> map, String prefix, String suffix,
        Boolean requireMap) {
      this(map, prefix, suffix, requireMap, null);
    }

    private static SiteAccounts rules(java.util.Map<String, String> map, String prefix,
        String suffix, boolean requireMap, int minUid) {
      return SiteAccounts.of(map, prefix, suffix, requireMap, minUid);
    }

    /** The site core's view of this section. */
    @JsonIgnore
    public SiteAccounts siteAccounts() {
      return rules(map, prefix, suffix, requireMap, minUid);
    }
  }

  /** The {@code pilot:} section: how the CRM starts pilots. */
  public record Pilot(
      String starter,
      String launcher,
      @JsonProperty("run_as_user") Boolean runAsUser,
      @JsonProperty("extra_args") List<String> extraArgs,
      @JsonProperty("nodemanager_profile") String nodemanagerProfile,
      @JsonProperty("stop_grace") String stopGrace,
      Slurm slurm,
      @JsonProperty("credential_ttl") String credentialTtl,
      @JsonProperty("reconnect_grace") String reconnectGrace) {
    public static final List<String> STARTERS = List.of("local", "slurm");

    /** Without {@code credential_ttl} and {@code reconnect_grace}. */
    public Pilot(String starter, String launcher, Boolean runAsUser, List<String> extraArgs,
        String nodemanagerProfile, String stopGrace, Slurm slurm) {
      this(starter, launcher, runAsUser, extraArgs, nodemanagerProfile, stopGrace, slurm, null,
          null);
    }

    /** Without {@code reconnect_grace}. */
    public Pilot(String starter, String launcher, Boolean runAsUser, List<String> extraArgs,
        String nodemanagerProfile, String stopGrace, Slurm slurm, String credentialTtl) {
      this(starter, launcher, runAsUser, extraArgs, nodemanagerProfile, stopGrace, slurm,
          credentialTtl, null);
    }

    public Pilot {
      starter = starter == null ? "local" : starter;
      if (!STARTERS.contains(starter)) {
        throw new IllegalArgumentException("starter: '" + starter
            + "' is not a known pilot starter (known: " + String.join(", ", STARTERS) + ")");
      }
      launcher = launcher == null || launcher.isEmpty() ? "scripts/lambdagrid-launcher" : launcher;
      runAsUser = runAsUser == null || runAsUser;
      extraArgs = extraArgs == null ? List.of() : List.copyOf(extraArgs);
      nodemanagerProfile = nodemanagerProfile == null || nodemanagerProfile.isEmpty()
          ? null : nodemanagerProfile;
      if (nodemanagerProfile != null
          && !org.lambdagrid.common.PilotProfiles.PROFILE.matcher(nodemanagerProfile).matches()) {
        throw new IllegalArgumentException("nodemanager_profile: '" + nodemanagerProfile
            + "' is not a profile name (letters, digits, '_', '.', '-'; the nodes read"
            + " ETC/nodemanager.d/NAME.yaml)");
      }
      stopGrace = stopGrace == null ? "10s" : stopGrace;
      duration("stop_grace", stopGrace);
      if (credentialTtl != null && !credentialTtl.isEmpty()) {
        duration("credential_ttl", credentialTtl);
      } else {
        credentialTtl = null;
      }
      reconnectGrace = reconnectGrace == null || reconnectGrace.isEmpty() ? "60s"
          : reconnectGrace;
      duration("reconnect_grace", reconnectGrace);
      if (starter.equals("slurm")) {
        slurm = slurm == null ? new Slurm(null, null, null, null, null) : slurm;
      } else if (slurm != null) {
        throw new IllegalArgumentException("slurm: is only read with starter: slurm (starter is '"
            + starter + "')");
      }
    }

    @JsonIgnore
    public Duration stopGraceDuration() {
      return Quantities.parseDuration(stopGrace);
    }
  }

  /** The {@code pilot.slurm:} section: how the Slurm starter submits pilots. */
  public record Slurm(
      String partition,
      String account,
      @JsonProperty("extra_args") List<String> extraArgs,
      @JsonProperty("pending_grace") String pendingGrace,
      @JsonProperty("log_dir") String logDir,
      @JsonProperty("bin_dir") String binDir,
      Boolean reserve,
      @JsonProperty("pilots_per_node") Integer pilotsPerNode) {
    /** Options the starter sets itself; extra_args may not set them again. */
    public static final List<String> RESERVED = List.of("--parsable", "--job-name", "-J",
        "--output", "-o", "--error", "-e", "--open-mode", "--chdir", "-D", "--export",
        "--time", "-t", "--uid", "--gid", "--wrap", "--partition", "-p", "--account", "-A",
        "--requeue", "--no-requeue", "--array", "-a", "--reservation");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.:+-]+");

    /** Without {@code bin_dir}, {@code reserve} and {@code pilots_per_node}. */
    public Slurm(String partition, String account, List<String> extraArgs, String pendingGrace,
        String logDir) {
      this(partition, account, extraArgs, pendingGrace, logDir, null);
    }

    /** Without {@code reserve} and {@code pilots_per_node}. */
    public Slurm(String partition, String account, List<String> extraArgs, String pendingGrace,
        String logDir, String binDir) {
      this(partition, account, extraArgs, pendingGrace, logDir, binDir, null, null);
    }

    public Slurm {
      partition = name("partition", partition);
      account = name("account", account);
      extraArgs = extraArgs == null ? List.of() : List.copyOf(extraArgs);
      for (int i = 0; i < extraArgs.size(); i++) {
        String a = extraArgs.get(i);
        String field = "extra_args[" + i + "]";
        if (a == null || !a.startsWith("-")) {
          throw new IllegalArgumentException(field + ": '" + a + "' is not an sbatch option"
              + " (write options as one word each, e.g. --qos=grid)");
        }
        String opt = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
        String key = opt.length() > 2 && !opt.startsWith("--") ? opt.substring(0, 2) : opt;
        if (RESERVED.contains(key)) {
          throw new IllegalArgumentException(field + ": '" + a + "' is set by the Slurm starter"
              + (key.matches("--partition|-p|--account|-A")
                  ? " (use pilot.slurm.partition / account)" : ""));
        }
      }
      pendingGrace = pendingGrace == null ? "60s" : pendingGrace;
      duration("pending_grace", pendingGrace);
      logDir = logDir == null || logDir.isEmpty() ? null : logDir;
      if (logDir != null && !logDir.startsWith("/")) {
        throw new IllegalArgumentException("log_dir: '" + logDir + "' must be an absolute path"
            + " (a directory on the compute nodes)");
      }
      binDir = binDir == null || binDir.isEmpty() ? null : binDir;
      if (binDir != null && !binDir.startsWith("/")) {
        throw new IllegalArgumentException("bin_dir: '" + binDir + "' must be an absolute path"
            + " (the directory of sbatch, squeue and scancel on the CRM host)");
      }
      reserve = reserve == null || reserve;
      pilotsPerNode = pilotsPerNode == null ? 1 : pilotsPerNode;
      if (pilotsPerNode < 1) {
        throw new IllegalArgumentException("pilots_per_node: " + pilotsPerNode
            + " must be at least 1");
      }
    }

    private static String name(String field, String value) {
      if (value == null || value.isEmpty()) {
        return null;
      }
      if (!NAME.matcher(value).matches()) {
        throw new IllegalArgumentException(field + ": '" + value + "' is not a Slurm "
            + field + " name");
      }
      return value;
    }

    @JsonIgnore
    public Duration pendingGraceDuration() {
      return Quantities.parseDuration(pendingGrace);
    }
  }

  @JsonIgnore
  public Endpoint listenEndpoint() {
    return Endpoint.parse(listen);
  }

  @JsonIgnore
  public Endpoint advertiseEndpoint() {
    return Endpoint.parse(advertise);
  }

  @JsonIgnore
  public Endpoint grcEndpoint() {
    return Endpoint.parse(grc);
  }

  @JsonIgnore
  public List<Ipv4Cidr> cidrs() {
    return ranges.stream().map(Ipv4Cidr::parse).toList();
  }

  @JsonIgnore
  public Duration phaseTimeoutDuration() {
    return Quantities.parseDuration(phaseTimeout);
  }

  @JsonIgnore
  public Duration shutdownWaitDuration() {
    return Quantities.parseDuration(shutdownWait);
  }

  /** The site core's view of this configuration. */
  @JsonIgnore
  public SiteSettings siteSettings() {
    return new SiteSettings(site, nodeCapacity, cidrs(), slotsPerNode, phaseTimeoutDuration(),
        shutdownWaitDuration(), Quantities.parseDuration(holdTime),
        pilot.credentialTtl() == null ? null
            : Quantities.parseDuration(pilot.credentialTtl()),
        Quantities.parseDuration(pilot.reconnectGrace()), accounts.siteAccounts());
  }

  private static Endpoint endpoint(String field, String value, boolean required) {
    if (value == null || value.isEmpty()) {
      if (required) {
        throw new IllegalArgumentException(field + ": is required (host:port)");
      }
      return null;
    }
    try {
      return Endpoint.parse(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(field + ": " + e.getMessage());
    }
  }

  private static void duration(String field, String value) {
    try {
      Duration d = Quantities.parseDuration(value);
      if (d.isZero()) {
        throw new IllegalArgumentException(field + ": '" + value + "' must be more than 0");
      }
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage().startsWith(field) ? e.getMessage()
          : field + ": " + e.getMessage());
    }
  }
}
