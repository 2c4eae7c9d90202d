package org.lambdagrid.grc;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.IpLiteral;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.ops.HttpConfig;
import org.lambdagrid.common.security.SessionTokens;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.common.store.StateConfig;
import org.lambdagrid.grc.job.CoordinatorSettings;
import org.lambdagrid.grc.reservation.ReservationService;
import org.lambdagrid.grc.reservation.Topology;
import org.lambdagrid.grc.site.SiteRegistry;

/**
 * The GRC daemon's configuration, read from YAML by {@link org.lambdagrid.common.ConfigLoader}.
 * Every field is optional; a missing one takes the default shown.
 *
 * <pre>
 * listen: 127.0.0.1:7300        # host:port of GridService + SiteRegistryService (port 0 = any)
 * phase_timeouts:
 *   setup: 120s                 # LAUNCH + SETUP (pilots go through the batch system)
 *   keys: 30s
 *   set_keys: 30s
 *   run: 30s                    # sshd up on every guest
 *   exec: 30s                   # starting the command (not its run time)
 * rpc_timeout: 10s              # Prepare/Commit/Abort/Release, OpenShare, ReleaseShare
 * call_margin: 5s               # added to a phase timeout for the call deadline
 * crm_grace: 60s                # a RUNNING job whose CRM's stream breaks waits this long for
 *                               # the CRM to come back (restarted, with the job's share)
 * default_duration: 1h          # a job's window when the user gives none
 * max_duration: 7d              # the longest reservation (or job window) the GRC grants
 * max_horizon: 90d              # how far ahead of now a reservation's window may start
 * output_buffer_bytes: 16777216 # output kept in memory per running job (oldest dropped beyond,
 *                               # counted; also at most one retained chunk per 256 bytes of it)
 * topology:                     # the inter-site network the co-allocator reserves bandwidth on
 *   sites: [alpha, bravo, core] # every point of the network; a site's nodes come from its CRM's
 *                               # registration; a name no CRM registers (core) is a network point
 *   links:                      # undirected, with a capacity (200M, 1G, 10G, bit/s)
 *     - {a: alpha, b: core, capacity: 1G}
 *     - {a: bravo, b: core, capacity: 1G}
 * network:
 *   provider: calendar          # calendar (books the link calendars) or testbed (also builds a
 *                               # shaped private layer-2 segment per reservation on this host)
 *   state_dir: /run/lambdagrid/grc-net   # testbed: where segment records live
 *   hold_time: 120s             # a prepared hold without commit expires after this
 * state_dir: /var/lib/lambdagrid/grc   # the state database (grc.mv.db) lives here
 * state:                        # optional; see org.lambdagrid.common.store.StateConfig
 *   url: jdbc:postgresql://db.example/lambdagrid   # default jdbc:h2:file:STATE_DIR/grc
 *   user: lambdagrid
 *   password_file: /etc/lambdagrid/grc-db.password
 * tokens:                       # optional: a second port for users with operator-issued tokens
 *   listen: 0.0.0.0:7302        # TLS with the GRC's certificate, no client certificate; GridService
 *   file: /etc/lambdagrid/tokens   # hashes of issued tokens (grc-server issue-token)
 * local:                        # optional (needs tokens): local users log in by peer credentials
 *   socket: /run/lambdagrid/grc.sock   # default; mode 0666 in a directory only root may write
 *   session_ttl: 5m             # how long a session token is accepted (default 5m)
 *   session_idle: 2m            # ... and unused (default 2m, at least 1m)
 *   max_sessions: 1024          # live sessions of all local users together; a login beyond is
 *   max_sessions_per_user: 64   # refused, as is one beyond a user's own bound
 *   endpoint: grc.example.org:7302   # the token port to tell them (default: tokens.listen)
 * http:                         # optional: the operations port (plain HTTP): /metrics for
 *   listen: 127.0.0.1:7380      # Prometheus, and the timeline page's files (loopback peers only)
 * timeline:                     # optional (needs http): turns the timeline page's data on, for
 *   tokens_file: /etc/lambdagrid/timeline.tokens   # operators who sign in with an operator
 *                               # token of this file (grc-server issue-token --operator); without
 *                               # it the page's JSON answers 403 (see docs/operators.md)
 * tls:                          # required by grc-server (see TlsConfig); in-process tests omit it
 *   ca: /etc/lambdagrid/tls/ca.crt
 *   cert: /etc/lambdagrid/tls/grc.crt   # a grc certificate (scripts/lambdagrid-ca issue DIR grc HOST)
 *   key: /etc/lambdagrid/tls/grc.key
 * </pre>
 *
 * Durations take the forms {@link Quantities#parseDuration} accepts: 250ms, 90s, 5m, 1h30m.
 * Port 7300 is the GRC's default; CRMs and the {@code grc} command use it when told nothing.
 */
public record GrcConfig(
    String listen,
    @JsonProperty("phase_timeouts") PhaseTimeouts phaseTimeouts,
    @JsonProperty("rpc_timeout") String rpcTimeout,
    @JsonProperty("call_margin") String callMargin,
    @JsonProperty("default_duration") String defaultDuration,
    @JsonProperty("output_buffer_bytes") Long outputBufferBytes,
    TopologyConfig topology,
    NetworkConfig network,
    TlsConfig tls,
    @JsonProperty("state_dir") String stateDir,
    StateConfig state,
    Tokens tokens,
    Local local,
    @JsonProperty("crm_grace") String crmGrace,
    @JsonProperty("max_duration") String maxDuration,
    @JsonProperty("max_horizon") String maxHorizon,
    HttpConfig http,
    TimelineConfig timeline) {

  public static final String DEFAULT_LISTEN = "127.0.0.1:7300";
  public static final String DEFAULT_STATE_DIR = "/var/lib/lambdagrid/grc";
  public static final String DEFAULT_MAX_DURATION = "7d";
  public static final String DEFAULT_MAX_HORIZON = "90d";

  public GrcConfig {
    listen = listen == null ? DEFAULT_LISTEN : listen;
    try {
      Endpoint.parse(listen);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("listen: " + e.getMessage());
    }
    phaseTimeouts = phaseTimeouts == null ? PhaseTimeouts.defaults() : phaseTimeouts;
    rpcTimeout = positive("rpc_timeout", rpcTimeout, "10s");
    callMargin = positive("call_margin", callMargin, "5s");
    defaultDuration = positive("default_duration", defaultDuration, "1h");
    crmGrace = positive("crm_grace", crmGrace, "60s");
    maxDuration = positive("max_duration", maxDuration, DEFAULT_MAX_DURATION);
    maxHorizon = positive("max_horizon", maxHorizon, DEFAULT_MAX_HORIZON);
    if (d(defaultDuration).compareTo(d(maxDuration)) > 0) {
      throw new IllegalArgumentException("default_duration: '" + defaultDuration
          + "' is longer than max_duration ('" + maxDuration + "')");
    }
    outputBufferBytes = outputBufferBytes == null ? 16L << 20 : outputBufferBytes;
    if (outputBufferBytes < 1024) {
      throw new IllegalArgumentException("output_buffer_bytes: '" + outputBufferBytes
          + "' is too small (at least 1024)");
    }
    topology = topology == null ? new TopologyConfig(null, null) : topology;
    network = network == null ? NetworkConfig.defaults() : network;
    stateDir = stateDir == null || stateDir.isEmpty() ? DEFAULT_STATE_DIR : stateDir;
    if (!Path.of(stateDir).isAbsolute()) {
      throw new IllegalArgumentException("state_dir: '" + stateDir + "' is not an absolute path");
    }
    state = state == null ? StateConfig.defaults() : state;
    if (local != null && tokens == null) {
      throw new IllegalArgumentException("local: needs a tokens section (local users get session"
          + " tokens for the token port)");
    }
    if (timeline != null && http == null) {
      throw new IllegalArgumentException("timeline: needs an http section (the page is served"
          + " on the operations port, http.listen)");
    }
  }

  /** Without a {@code timeline} section (the timeline page's data off). */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TopologyConfig topology,
      NetworkConfig network, TlsConfig tls, String stateDir, StateConfig state, Tokens tokens,
      Local local, String crmGrace, String maxDuration, String maxHorizon, HttpConfig http) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes,
        topology, network, tls, stateDir, state, tokens, local, crmGrace, maxDuration, maxHorizon,
        http, null);
  }

  /**
   * The {@code timeline:} section: the page's JSON is answered only to a request that carries an
   * operator token of {@code tokens_file} (a {@link org.lambdagrid.common.security.BearerTokens}
   * file, read at start and re-read when it changes). Its own file, not {@code tokens.file}:
   * turning the page on is a deliberate act, and its tokens sign in to this page only.
   */
  public record TimelineConfig(@JsonProperty("tokens_file") String tokensFile) {
    public TimelineConfig {
      if (tokensFile == null || tokensFile.isBlank()) {
        throw new IllegalArgumentException("tokens_file: is required in a timeline"
            + " section (a file of operator tokens: grc-server issue-token --file FILE"
            + " --operator NAME)");
      }
      if (!Path.of(tokensFile).isAbsolute()) {
        throw new IllegalArgumentException("tokens_file: '" + tokensFile
            + "' is not an absolute path");
      }
    }
  }

  /** Without an {@code http} section (no operations port). */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TopologyConfig topology,
      NetworkConfig network, TlsConfig tls, String stateDir, StateConfig state, Tokens tokens,
      Local local, String crmGrace, String maxDuration, String maxHorizon) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes,
        topology, network, tls, stateDir, state, tokens, local, crmGrace, maxDuration, maxHorizon,
        null);
  }

  /** Without {@code max_duration} and {@code max_horizon} (the defaults, 7d and 90d). */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TopologyConfig topology,
      NetworkConfig network, TlsConfig tls, String stateDir, StateConfig state, Tokens tokens,
      Local local, String crmGrace) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes,
        topology, network, tls, stateDir, state, tokens, local, crmGrace, null, null);
  }

  /** Without {@code crm_grace} (the default, 60s). */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TopologyConfig topology,
      NetworkConfig network, TlsConfig tls, String stateDir, StateConfig state, Tokens tokens,
      Local local) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes,
        topology, network, tls, stateDir, state, tokens, local, null);
  }

  /** Without a {@code local} section. */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TopologyConfig topology,
      NetworkConfig network, TlsConfig tls, String stateDir, StateConfig state, Tokens tokens) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes,
        topology, network, tls, stateDir, state, tokens, null);
  }

  /**
   * The {@code local:} section: the Unix socket on which local users log in (by their peer
   * credentials) for a session token on the token port, how long a session lasts (default 5m)
   * and how long it may go unused (default 2m, at least 1m: the {@code grc} CLI logs in again
   * after 30 s without a call), how many sessions live at once (default 1024) and per user
   * (default 64), and the token port's host:port to tell them (default: the tokens listen
   * address, 127.0.0.1 for a wildcard host).
   */
  public record Local(String socket, @JsonProperty("session_ttl") String sessionTtl,
      String endpoint, @JsonProperty("session_idle") String sessionIdle,
      @JsonProperty("max_sessions") Integer maxSessions,
      @JsonProperty("max_sessions_per_user") Integer maxSessionsPerUser) {
    public static final String DEFAULT_SOCKET = "/run/lambdagrid/grc.sock";
    public static final Duration MIN_IDLE = Duration.ofMinutes(1);

    public Local {
      socket = socket == null || socket.isEmpty() ? DEFAULT_SOCKET : socket;
      if (!Path.of(socket).isAbsolute()) {
        throw new IllegalArgumentException("socket: '" + socket + "' is not an absolute path");
      }
      sessionTtl = positive("session_ttl", sessionTtl, "5m");
      sessionIdle = positive("session_idle", sessionIdle, "2m");
      if (d(sessionIdle).compareTo(MIN_IDLE) < 0) {
        throw new IllegalArgumentException("session_idle: '" + sessionIdle + "' is shorter than"
            + " 1m (the grc CLI reuses a session for up to 30 s between calls)");
      }
      maxSessions = atLeastOne("max_sessions", maxSessions,
          SessionTokens.DEFAULT_MAX_SESSIONS);
      maxSessionsPerUser = atLeastOne("max_sessions_per_user", maxSessionsPerUser,
          SessionTokens.DEFAULT_MAX_PER_USER);
      if (endpoint != null) {
        try {
          Endpoint.parse(endpoint);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("endpoint: " + e.getMessage());
        }
      }
    }

    /** Only socket, ttl and endpoint; the other fields take their defaults. */
    public Local(String socket, String sessionTtl, String endpoint) {
      this(socket, sessionTtl, endpoint, null, null, null);
    }

    private static int atLeastOne(String field, Integer value, int dflt) {
      if (value == null) {
        return dflt;
      }
      if (value < 1) {
        throw new IllegalArgumentException(field + ": '" + value + "' must be at least 1");
      }
      return value;
    }

    public Duration sessionTtlDuration() {
      return Quantities.parseDuration(sessionTtl);
    }

    /** The session store these settings describe. */
    public SessionTokens sessions(java.time.Clock clock) {
      return new SessionTokens(clock, sessionTtlDuration(), d(sessionIdle), maxSessions,
          maxSessionsPerUser);
    }
  }

  /** No topology, the calendar network provider, no {@code tokens} section. */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TlsConfig tls,
      String stateDir, StateConfig state) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes, null,
        null, tls, stateDir, state, null);
  }

  /** The {@code tokens:} section: the port for token holders and the file of issued tokens. */
  public record Tokens(String listen, String file) {
    public Tokens {
      if (listen == null || listen.isEmpty()) {
        throw new IllegalArgumentException("listen: is required (host:port)");
      }
      try {
        Endpoint.parse(listen);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("listen: " + e.getMessage());
      }
      if (file == null || !Path.of(file).isAbsolute()) {
        throw new IllegalArgumentException("file: '" + file + "' is not an absolute path");
      }
    }
  }

  /** Without a {@code state} or {@code tokens} section. */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes,
      TopologyConfig topology, NetworkConfig network, TlsConfig tls) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes,
        topology, network, tls, null, null, null);
  }

  /** With a {@code tls} section, no topology, the calendar network provider, no state section. */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TlsConfig tls) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes, null,
        null, tls, null, null, null);
  }

  /** The JDBC URL of the state database. */
  public String stateUrl() {
    return state.effectiveUrl(Path.of(stateDir), "grc");
  }

  /** Without a {@code tls} section (in-process servers, tests). */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes, null,
        null, null, null, null, null);
  }

  /** All defaults (no {@code tls} section: grc-server refuses to start with it). */
  public static GrcConfig defaults() {
    return new GrcConfig(null, null, null, null, null, null, null, null, null, null, null, null,
        null, null, null, null);
  }

  public GrcConfig withListen(String endpoint) {
    return new GrcConfig(endpoint, phaseTimeouts, rpcTimeout, callMargin, defaultDuration,
        outputBufferBytes, topology, network, tls, stateDir, state, tokens, local, crmGrace,
        maxDuration, maxHorizon, http, timeline);
  }

  public GrcConfig withCrmGrace(String grace) {
    return new GrcConfig(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration,
        outputBufferBytes, topology, network, tls, stateDir, state, tokens, local, grace,
        maxDuration, maxHorizon, http, timeline);
  }

  public GrcConfig withTopology(TopologyConfig t, NetworkConfig n) {
    return new GrcConfig(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration,
        outputBufferBytes, t, n, tls, stateDir, state, tokens, local, crmGrace, maxDuration,
        maxHorizon, http, timeline);
  }

  /** With an operations port (tests). */
  public GrcConfig withHttp(HttpConfig h) {
    return new GrcConfig(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration,
        outputBufferBytes, topology, network, tls, stateDir, state, tokens, local, crmGrace,
        maxDuration, maxHorizon, h, timeline);
  }

  /** With the timeline page's data on (tests). */
  public GrcConfig withTimeline(TimelineConfig t) {
    return new GrcConfig(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration,
        outputBufferBytes, topology, network, tls, stateDir, state, tokens, local, crmGrace,
        maxDuration, maxHorizon, http, t);
  }

  /** With other reservation limits (tests). */
  public GrcConfig withLimits(String maxDuration, String maxHorizon) {
    return new GrcConfig(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration,
        outputBufferBytes, topology, network, tls, stateDir, state, tokens, local, crmGrace,
        maxDuration, maxHorizon, http, timeline);
  }

  /** The limits {@link ReservationService} enforces on every reservation (and job window). */
  public ReservationService.Limits limits() {
    return new ReservationService.Limits(d(maxDuration), d(maxHorizon));
  }

  public Endpoint listenEndpoint() {
    return Endpoint.parse(listen);
  }

  /** The coordinator's settings from this config. */
  public CoordinatorSettings settings() {
    return new CoordinatorSettings(d(phaseTimeouts.setup()), d(phaseTimeouts.keys()),
        d(phaseTimeouts.setKeys()), d(phaseTimeouts.run()), d(phaseTimeouts.exec()),
        d(rpcTimeout), d(callMargin), d(defaultDuration), outputBufferBytes, d(crmGrace));
  }

  private static Duration d(String text) {
    return Quantities.parseDuration(text);
  }

  static String positive(String field, String value, String dflt) {
    if (value == null) {
      return dflt;
    }
    Duration d;
    try {
      d = Quantities.parseDuration(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(field + ": " + e.getMessage());
    }
    if (d.isZero()) {
      throw new IllegalArgumentException(field + ": '" + value + "' must be longer than zero");
    }
    return value;
  }

  /** Per-phase barrier timeouts. */
  public record PhaseTimeouts(String setup, String keys,
      @JsonProperty("set_keys") String setKeys, String run, String exec) {
    public PhaseTimeouts {
      setup = positive("setup", setup, "120s");
      keys = positive("keys", keys, "30s");
      setKeys = positive("set_keys", setKeys, "30s");
      run = positive("run", run, "30s");
      exec = positive("exec", exec, "30s");
    }

    public static PhaseTimeouts defaults() {
      return new PhaseTimeouts(null, null, null, null, null);
    }

    /** The same timeout for every phase (tests). */
    public static PhaseTimeouts all(String t) {
      return new PhaseTimeouts(t, t, t, t, t);
    }
  }

  /**
   * The network points and links. Sites' node counts are not configured here: a site's CRM
   * reports its capacity when it registers. Validated at load time ({@link #build}).
   */
  public record TopologyConfig(List<String> sites, List<LinkConfig> links) {
    public TopologyConfig {
      sites = sites == null ? List.of() : List.copyOf(sites);
      links = links == null ? List.of() : List.copyOf(links);
      build(sites, links);
    }

    /** The topology with every site at 0 nodes (registration sets them). */
    public Topology build() {
      return build(sites, links);
    }

    private static Topology build(List<String> sites, List<LinkConfig> links) {
      List<Topology.Site> ss = new ArrayList<>();
      for (int i = 0; i < sites.size(); i++) {
        String n = sites.get(i);
        if (n == null || !SiteRegistry.NAME.matcher(n).matches()) {
          throw new IllegalArgumentException("sites[" + i + "]: '" + n + "' is not a site name"
              + " (lower-case letter, then up to 15 of a-z, 0-9, '-')");
        }
        ss.add(new Topology.Site(n, 0));
      }
      List<Topology.Link> ls = new ArrayList<>();
      for (LinkConfig l : links) {
        ls.add(l == null ? null : new Topology.Link(l.a(), l.b(), l.capacityBps()));
      }
      try {
        return Topology.of(ss, ls);
      } catch (ConfigException e) {
        throw new IllegalArgumentException(e.getMessage().replace(".capacityBps:", ".capacity:"));
      }
    }
  }

  /** One undirected link; {@code capacity} as {@link Quantities#parseRate} reads it. */
  public record LinkConfig(String a, String b, String capacity) {
    public LinkConfig {
      if (capacity == null) {
        throw new IllegalArgumentException("capacity: is required (e.g. 1G)");
      }
      long bps;
      try {
        bps = Quantities.parseRate(capacity);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("capacity: " + e.getMessage());
      }
      if (bps <= 0) {
        throw new IllegalArgumentException("capacity: '" + capacity + "' must be positive");
      }
    }

    public long capacityBps() {
      return Quantities.parseRate(capacity);
    }
  }

  /** Which network resource manager the GRC runs, and its settings. */
  public record NetworkConfig(String provider, @JsonProperty("state_dir") String stateDir,
      @JsonProperty("hold_time") String holdTime, OverlayConfig overlay, NsiConfig nsi) {
    public static final String CALENDAR = "calendar";
    public static final String TESTBED = "testbed";
    public static final String NSI = "nsi";

    public NetworkConfig {
      provider = provider == null ? CALENDAR : provider;
      if (!provider.equals(CALENDAR) && !provider.equals(TESTBED) && !provider.equals(NSI)) {
        throw new IllegalArgumentException("provider: '" + provider + "' is not a provider"
            + " (calendar, testbed, nsi)");
      }
      stateDir = stateDir == null ? "/run/lambdagrid/grc-net" : stateDir;
      holdTime = positive("hold_time", holdTime, "120s");
      if (provider.equals(NSI) && nsi == null) {
        throw new IllegalArgumentException("nsi: provider nsi needs an nsi section (provider_url,"
            + " provider_nsa, requester_nsa, requester_url, tls, stps)");
      }
      if (nsi != null && !provider.equals(NSI)) {
        throw new IllegalArgumentException("nsi: only provider nsi reads it (provider: " + provider + ")");
      }
    }

    public NetworkConfig(String provider, String stateDir, String holdTime) {
      this(provider, stateDir, holdTime, null, null);
    }

    public NetworkConfig(String provider, String stateDir, String holdTime, OverlayConfig overlay) {
      this(provider, stateDir, holdTime, overlay, null);
    }

    public static NetworkConfig defaults() {
      return new NetworkConfig(null, null, null);
    }

    public Duration holdTimeDuration() {
      return Quantities.parseDuration(holdTime);
    }
  }

  /**
   * The nsi provider: an NSI CS 2.0 requester. {@code provider_url} is the provider NSA's CS 2.0
   * SOAP endpoint (https), {@code provider_nsa} its NSA id, {@code requester_nsa} the GRC's NSA id
   * as the NSI network knows it, {@code requester_url} the https URL the provider calls back on
   * (the GRC binds its host and port), {@code tls} the GRC's key and certificate and the CA of
   * the NSI network's PKI, {@code stps} each site's STP, {@code reply_timeout} how long a
   * request waits for the provider's confirmation (default 30s) and {@code data_plane} the
   * provider that also runs under it: calendar (default: only the GRC's link calendars) or
   * testbed (the testbed's shaped segments). {@code max_concurrent} (default 8, 1..64) is how
   * many reservations' NSI requests run at the same time (one reservation's always run one at a
   * time, in order). {@code provider_identity}, when given, lists the DNS names and IP
   * addresses the provider's certificate may carry (a subjectAltName equal to one of them; no
   * wildcards), on its callbacks and when the GRC dials it, instead of the host of
   * {@code provider_url}.
   */
  public record NsiConfig(@JsonProperty("provider_url") String providerUrl,
      @JsonProperty("provider_nsa") String providerNsa,
      @JsonProperty("requester_nsa") String requesterNsa,
      @JsonProperty("requester_url") String requesterUrl, TlsConfig tls,
      Map<String, String> stps, @JsonProperty("reply_timeout") String replyTimeout,
      @JsonProperty("data_plane") String dataPlane,
      @JsonProperty("max_concurrent") Integer maxConcurrent,
      @JsonProperty("provider_identity") List<String> providerIdentity) {
    public static final int MAX_CONCURRENT_LIMIT = 64;

    public NsiConfig {
      providerUrl = httpsUrl("nsi.provider_url", providerUrl);
      requesterUrl = httpsUrl("nsi.requester_url", requesterUrl);
      if (java.net.URI.create(requesterUrl).getPort() <= 0) {
        throw new IllegalArgumentException("nsi.requester_url: '" + requesterUrl
            + "' needs an explicit port (the GRC binds it)");
      }
      ogfUrn("nsi.provider_nsa", providerNsa, "an NSA id");
      ogfUrn("nsi.requester_nsa", requesterNsa, "an NSA id");
      if (tls == null || tls.key() == null || tls.cert() == null || tls.ca() == null) {
        throw new IllegalArgumentException("nsi.tls: key, cert and ca are required (NSI runs"
            + " over mutual TLS)");
      }
      stps = stps == null ? Map.of() : Map.copyOf(stps);
      if (stps.size() < 2) {
        throw new IllegalArgumentException("nsi.stps: give the STP of at least two sites, got "
            + stps.keySet());
      }
      stps.forEach((site, stp) -> ogfUrn("nsi.stps." + site, stp, "an STP id"));
      replyTimeout = positive("nsi.reply_timeout", replyTimeout, "30s");
      dataPlane = dataPlane == null ? NetworkConfig.CALENDAR : dataPlane;
      if (!dataPlane.equals(NetworkConfig.CALENDAR) && !dataPlane.equals(NetworkConfig.TESTBED)) {
        throw new IllegalArgumentException("nsi.data_plane: '" + dataPlane
            + "' is not calendar or testbed");
      }
      maxConcurrent = maxConcurrent == null
          ? org.lambdagrid.grc.reservation.nsi.NsiNetworkProvider.DEFAULT_MAX_CONCURRENT
          : maxConcurrent;
      if (maxConcurrent < 1 || maxConcurrent > MAX_CONCURRENT_LIMIT) {
        throw new IllegalArgumentException("nsi.max_concurrent: " + maxConcurrent
            + " is not between 1 and " + MAX_CONCURRENT_LIMIT + " (how many reservations' NSI"
            + " requests run at the same time)");
      }
      providerIdentity = providerIdentity(providerIdentity);
    }

    /** Null: not set (the provider_url host rule); else each a DNS name or an IP address. */
    private static List<String> providerIdentity(List<String> names) {
      if (names == null) {
        return List.of();
      }
      if (names.isEmpty()) {
        throw new IllegalArgumentException("nsi.provider_identity: [] names nothing: list the"
            + " DNS names or IP addresses of the provider's certificate, or leave it out (then"
            + " its certificate must name the host of provider_url)");
      }
      List<String> out = new ArrayList<>();
      for (int i = 0; i < names.size(); i++) {
        String n = names.get(i) == null ? "" : names.get(i).trim();
        if (n.isEmpty()) {
          throw new IllegalArgumentException("nsi.provider_identity[" + i + "]: '"
              + (names.get(i) == null ? "" : names.get(i)) + "' is empty");
        }
        if (n.matches("[0-9.]+") && n.matches(".*(^|\\.)0[0-9].*")) {
          throw new IllegalArgumentException("nsi.provider_identity[" + i + "]: '" + n
              + "' has a leading zero in an IPv4 part, which tools read as octal or decimal:"
              + " write the address without them");
        }
        if (!IpLiteral.isOne(n) && !isDnsName(n)) {
          throw new IllegalArgumentException("nsi.provider_identity[" + i + "]: '" + n
              + "' is not a DNS name or an IP address (as in the certificate's subjectAltName;"
              + " no wildcards, ports or URLs)");
        }
        out.add(n);
      }
      return List.copyOf(out);
    }

    private static boolean isDnsName(String n) {
      String label = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
      return n.length() <= 253 && n.matches(label + "(\\." + label + ")*")
          && !IpLiteral.looksLikeOne(n); // digits and dots: meant as an IPv4 address
    }

    /** NSA and STP ids are OGF network URNs. */
    private static void ogfUrn(String field, String v, String what) {
      if (v == null || !v.startsWith("urn:ogf:network:")) {
        throw new IllegalArgumentException(field + ": '" + v + "' is not " + what
            + " (urn:ogf:network:...)");
      }
    }

    private static String httpsUrl(String field, String v) {
      if (v == null || !v.startsWith("https://")) {
        throw new IllegalArgumentException(field + ": '" + v + "' is not an https URL");
      }
      try {
        java.net.URI u = new java.net.URI(v);
        if (u.getHost() == null) {
          throw new IllegalArgumentException(field + ": '" + v + "' has no host");
        }
      } catch (java.net.URISyntaxException e) {
        throw new IllegalArgumentException(field + ": '" + v + "' is not a URL: " + e.getReason());
      }
      return v;
    }

    public Duration replyTimeoutDuration() {
      return Quantities.parseDuration(replyTimeout);
    }
  }

  /**
   * The overlays (either provider): a reservation whose sites are routed (their CRMs registered
   * an overlay endpoint: crm.yaml {@code overlay:}) gets a VXLAN overlay with its own VNI from
   * {@code vni_range} (default 4096-8191). Where the sites' endpoints are and the underlay's MTU
   * come from the sites' registrations, not from here: {@code sites} and {@code underlay_mtu}
   * (which an earlier version read here) are refused with a pointer to crm.yaml.
   */
  public record OverlayConfig(@JsonProperty("vni_range") String vniRange,
      @JsonProperty("underlay_mtu") Integer underlayMtu, Map<String, Object> sites) {
    public OverlayConfig {
      vniRange = vniRange == null ? "4096-8191" : vniRange;
      if (!vniRange.matches("[0-9]{1,8}-[0-9]{1,8}")) {
        throw new IllegalArgumentException("overlay.vni_range: '" + vniRange + "' is not FIRST-LAST (e.g. 4096-8191)");
      }
      if (sites != null) {
        throw new IllegalArgumentException("overlay.sites: is no longer read here; each routed site says"
            + " where its endpoint is in its own crm.yaml (overlay: {endpoint: IP}), sent when its CRM registers");
      }
      if (underlayMtu != null) {
        throw new IllegalArgumentException("overlay.underlay_mtu: is no longer read here; set it per site in"
            + " crm.yaml (overlay: {underlay_mtu: " + underlayMtu + "})");
      }
      int a = Integer.parseInt(vniRange.split("-")[0]);
      int b = Integer.parseInt(vniRange.split("-")[1]);
      if (a < 1 || b > 0xFFFFFF || a > b) {
        throw new IllegalArgumentException("overlay.vni_range: " + vniRange + " is not a range within 1-16777215");
      }
    }

    public OverlayConfig(String vniRange) {
      this(vniRange, null, null);
    }

    public int vniMin() {
      return Integer.parseInt(vniRange.split("-")[0]);
    }

    public int vniMax() {
      return Integer.parseInt(vniRange.split("-")[1]);
    }
  }

}
