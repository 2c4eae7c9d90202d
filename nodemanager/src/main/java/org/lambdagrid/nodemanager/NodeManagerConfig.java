package org.lambdagrid.nodemanager;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.ops.HttpConfig;
import org.lambdagrid.common.security.TlsConfig;

/**
 * The NodeManager's configuration file ({@code nm.yaml}), read with {@link ConfigLoader}. Every
 * key is optional:
 *
 * <pre>
 * driver: namespaces            # guest driver name (GuestDriverFactory.name())
 * driver_config:                # handed to the driver's factory unchanged
 *   attachment: bridge
 *   bridge: lgbr0
 * state_dir: /run/lambdagrid/nm # the NodeManager's own state; absolute
 * connect_timeout: 30s          # how long to keep trying to reach the CRM
 * teardown_timeout: 30s         # how long teardown waits for a busy command before destroying
 * reconnect_grace: 60s          # how long a welcomed pilot redials a lost CRM, guest kept
 * http:                         # node agent only (--agent): its operations port, plain HTTP
 *   listen: 127.0.0.1:7379      # (/metrics); a pilot started alone ignores it
 * tls:                          # required to join a CRM (see TlsConfig); not for --cleanup
 *   ca: /etc/lambdagrid/tls/ca.crt
 *   cert: /etc/lambdagrid/tls/nodemanager-tokyo.crt   # a nodemanager certificate for the site
 *   key: /etc/lambdagrid/tls/nodemanager-tokyo.key    # root-owned, readable only by root
 * </pre>
 *
 * @param driver guest driver name, default {@value #DEFAULT_DRIVER}
 * @param driverConfig the driver's section, as parsed from YAML; never null
 * @param stateDir absolute directory for the NodeManager's and the driver's records
 * @param connectTimeout how long {@link NodeManager#start} waits for the CRM's channel to be
 *     ready, reconnecting with back-off meanwhile
 * @param teardownTimeout how long teardown waits for an interrupted command to return before it
 *     destroys the guest anyway
 * @param reconnectGrace how long a NodeManager whose stream to the CRM broke after the CRM
 *     welcomed it keeps its guest and command and redials (a hello with {@code resume}), before
 *     it gives up, tears down and ends; default 60s, must be positive
 * @param tls the {@code tls:} section, or null when absent
 * @param http the {@code http:} section (the node agent's operations port), or null
 */
public record NodeManagerConfig(
    @JsonProperty("driver") String driver,
    @JsonProperty("driver_config") Map<String, Object> driverConfig,
    @JsonProperty("state_dir") Path stateDir,
    @JsonProperty("connect_timeout") Duration connectTimeout,
    @JsonProperty("teardown_timeout") Duration teardownTimeout,
    @JsonProperty("reconnect_grace") Duration reconnectGrace,
    @JsonProperty("tls") TlsConfig tls,
    @JsonProperty("http") HttpConfig http) {

  public static final String DEFAULT_DRIVER = "namespaces";
  public static final Path DEFAULT_STATE_DIR = Path.of("/run/lambdagrid/nm");
  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(30);
  public static final Duration DEFAULT_TEARDOWN_TIMEOUT = Duration.ofSeconds(30);
  public static final Duration DEFAULT_RECONNECT_GRACE = Duration.ofSeconds(60);
  private static final Pattern DRIVER_NAME = Pattern.compile("[a-z][a-z0-9_-]{0,31}");

  /** Fills defaults and validates; messages start with the YAML field name. */
  public NodeManagerConfig {
    driver = driver == null ? DEFAULT_DRIVER : driver;
    if (!DRIVER_NAME.matcher(driver).matches()) {
      throw new IllegalArgumentException("driver: '" + driver + "' is not a driver name");
    }
    driverConfig = Collections.unmodifiableMap(
        new LinkedHashMap<>(driverConfig == null ? Map.of() : driverConfig));
    stateDir = stateDir == null ? DEFAULT_STATE_DIR : stateDir;
    if (!stateDir.isAbsolute()) {
      throw new IllegalArgumentException("state_dir: '" + stateDir + "' is not an absolute path");
    }
    connectTimeout = connectTimeout == null ? DEFAULT_CONNECT_TIMEOUT : connectTimeout;
    if (connectTimeout.isNegative() || connectTimeout.isZero()) {
      throw new IllegalArgumentException("connect_timeout: must be positive");
    }
    teardownTimeout = teardownTimeout == null ? DEFAULT_TEARDOWN_TIMEOUT : teardownTimeout;
    if (teardownTimeout.isNegative() || teardownTimeout.isZero()) {
      throw new IllegalArgumentException("teardown_timeout: must be positive");
    }
    reconnectGrace = reconnectGrace == null ? DEFAULT_RECONNECT_GRACE : reconnectGrace;
    if (reconnectGrace.isNegative() || reconnectGrace.isZero()) {
      throw new IllegalArgumentException("reconnect_grace: must be positive (got "
          + Quantities.formatDuration(reconnectGrace) + ")");
    }
  }

  /** Without an {@code http} section. */
  public NodeManagerConfig(String driver, Map<String, Object> driverConfig, Path stateDir,
      Duration connectTimeout, Duration teardownTimeout, Duration reconnectGrace, TlsConfig tls) {
    this(driver, driverConfig, stateDir, connectTimeout, teardownTimeout, reconnectGrace, tls,
        null);
  }

  /** The configuration without {@code reconnect_grace} (its default), as before it existed. */
  public NodeManagerConfig(String driver, Map<String, Object> driverConfig, Path stateDir,
      Duration connectTimeout, Duration teardownTimeout, TlsConfig tls) {
    this(driver, driverConfig, stateDir, connectTimeout, teardownTimeout, null, tls);
  }

  /** All defaults: the namespaces driver with an empty section. */
  public static NodeManagerConfig defaults() {
    return new NodeManagerConfig(null, null, null, null, null, null, null);
  }

  /** A config for {@code driver} with {@code driverConfig}; other keys at their defaults. */
  public static NodeManagerConfig of(String driver, Map<String, Object> driverConfig,
      Path stateDir) {
    return new NodeManagerConfig(driver, driverConfig, stateDir, null, null, null, null);
  }

  /** The YAML shape: durations as text ("30s"), as users write them. */
  @JsonCreator
  static NodeManagerConfig fromYaml(
      @JsonProperty("driver") String driver,
      @JsonProperty("driver_config") Map<String, Object> driverConfig,
      @JsonProperty("state_dir") String stateDir,
      @JsonProperty("connect_timeout") String connectTimeout,
      @JsonProperty("teardown_timeout") String teardownTimeout,
      @JsonProperty("reconnect_grace") String reconnectGrace,
      @JsonProperty("tls") TlsConfig tls,
      @JsonProperty("http") HttpConfig http) {
    Path dir;
    try {
      dir = stateDir == null ? null : Path.of(stateDir);
    } catch (java.nio.file.InvalidPathException e) {
      throw new IllegalArgumentException("state_dir: '" + stateDir + "' is not a path");
    }
    return new NodeManagerConfig(driver, driverConfig, dir,
        duration("connect_timeout", connectTimeout), duration("teardown_timeout", teardownTimeout),
        duration("reconnect_grace", reconnectGrace), tls, http);
  }

  private static Duration duration(String field, String text) {
    if (text == null) {
      return null;
    }
    try {
      return Quantities.parseDuration(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(field + ": " + e.getMessage());
    }
  }

  /** Loads {@code file}; errors name the file and the field. */
  public static NodeManagerConfig load(Path file) {
    return ConfigLoader.load(file, NodeManagerConfig.class);
  }

  public NodeManagerConfig withConnectTimeout(Duration timeout) {
    return new NodeManagerConfig(driver, driverConfig, stateDir, timeout, teardownTimeout,
        reconnectGrace, tls, http);
  }

  public NodeManagerConfig withTeardownTimeout(Duration timeout) {
    return new NodeManagerConfig(driver, driverConfig, stateDir, connectTimeout, timeout,
        reconnectGrace, tls, http);
  }

  public NodeManagerConfig withReconnectGrace(Duration grace) {
    return new NodeManagerConfig(driver, driverConfig, stateDir, connectTimeout, teardownTimeout,
        grace, tls, http);
  }

  /** The effective configuration as YAML, for the start-up log. */
  public String render() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("driver", driver);
    m.put("driver_config", driverConfig);
    m.put("state_dir", stateDir.toString());
    m.put("connect_timeout", formatSeconds(connectTimeout));
    m.put("teardown_timeout", formatSeconds(teardownTimeout));
    m.put("reconnect_grace", formatSeconds(reconnectGrace));
    if (tls != null) {
      m.put("tls", tls);
    }
    if (http != null) {
      m.put("http", http);
    }
    return ConfigLoader.render(m);
  }

  /**
   * {@code d} in whole seconds ("120s"), or in milliseconds when it has a fraction ("1500ms"): how
   * the start-up log and the pilot's reconnect_grace messages spell durations. Not {@link
   * Quantities#formatDuration}, which writes 120s as "2m".
   */
  static String formatSeconds(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
  }
}
