package org.lambdagrid.grc;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.nio.file.Path;
import java.time.Duration;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.common.store.StateConfig;

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
 * rpc_timeout: 10s              # ReserveShare / ReleaseShare
 * call_margin: 5s               # added to a phase timeout for the call deadline
 * default_duration: 1h          # a job's window when the user gives none
 * output_buffer_bytes: 16777216 # output kept per job (oldest dropped beyond)
 * state_dir: /var/lib/lambdagrid/grc   # the state database (grc.mv.db) lives here
 * state:                        # optional; see org.lambdagrid.common.store.StateConfig
 *   url: jdbc:postgresql://db.example/lambdagrid   # default jdbc:h2:file:STATE_DIR/grc
 *   user: lambdagrid
 *   password_file: /etc/lambdagrid/grc-db.password
 * tokens:                       # optional: a second port for users with operator-issued tokens
 *   listen: 0.0.0.0:7302        # TLS with the GRC's certificate, no client certificate; GridService
 *   file: /etc/lambdagrid/tokens   # hashes of issued tokens (grc-server issue-token)
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
    TlsConfig tls,
    @JsonProperty("state_dir") String stateDir,
    StateConfig state,
    Tokens tokens) {

  public static final String DEFAULT_LISTEN = "127.0.0.1:7300";
  public static final String DEFAULT_STATE_DIR = "/var/lib/lambdagrid/grc";

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
    outputBufferBytes = outputBufferBytes == null ? 16L << 20 : outputBufferBytes;
    if (outputBufferBytes < 1024) {
      throw new IllegalArgumentException("output_buffer_bytes: '" + outputBufferBytes
          + "' is too small (at least 1024)");
    }
    stateDir = stateDir == null || stateDir.isEmpty() ? DEFAULT_STATE_DIR : stateDir;
    if (!Path.of(stateDir).isAbsolute()) {
      throw new IllegalArgumentException("state_dir: '" + stateDir + "' is not an absolute path");
    }
    state = state == null ? StateConfig.defaults() : state;
  }

  /** Without a {@code tokens} section. */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TlsConfig tls,
      String stateDir, StateConfig state) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes, tls,
        stateDir, state, null);
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
  /** Without a {@code state} section. */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes, TlsConfig tls) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes, tls,
        null, null);
  }

  /** The JDBC URL of the state database. */
  public String stateUrl() {
    return state.effectiveUrl(Path.of(stateDir), "grc");
  }

  /** Without a {@code tls} section (in-process servers, tests). */
  public GrcConfig(String listen, PhaseTimeouts phaseTimeouts, String rpcTimeout,
      String callMargin, String defaultDuration, Long outputBufferBytes) {
    this(listen, phaseTimeouts, rpcTimeout, callMargin, defaultDuration, outputBufferBytes, null);
  }

  /** All defaults (no {@code tls} section: grc-server refuses to start with it). */
  public static GrcConfig defaults() {
    return new GrcConfig(null, null, null, null, null, null, null, null, null, null);
  }

  public GrcConfig withListen(String endpoint) {
    return new GrcConfig(endpoint, phaseTimeouts, rpcTimeout, callMargin, defaultDuration,
        outputBufferBytes, tls, stateDir, state, tokens);
  }

  public Endpoint listenEndpoint() {
    return Endpoint.parse(listen);
  }

  /** The coordinator's settings from this config. */
  public CoordinatorSettings settings() {
    return new CoordinatorSettings(d(phaseTimeouts.setup()), d(phaseTimeouts.keys()),
        d(phaseTimeouts.setKeys()), d(phaseTimeouts.run()), d(phaseTimeouts.exec()),
        d(rpcTimeout), d(callMargin), d(defaultDuration), outputBufferBytes);
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
}
