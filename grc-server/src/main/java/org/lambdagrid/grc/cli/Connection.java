package org.lambdagrid.grc.cli;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.lambdagrid.common.Channels;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.grc.local.LoginAnswer;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * Where the GRC is and who this invocation is to it: the global connection and credential
 * options (a mixin of the root command, inherited by every subcommand), the endpoint, how the
 * invocation authenticates, and the channel that carries it.
 *
 * <p>The endpoint comes from {@code --grc host:port}, else {@code $LAMBDAGRID_GRC}, else the file
 * {@code $XDG_RUNTIME_DIR/lambdagrid/grc.endpoint} or {@code /run/lambdagrid/grc.endpoint}, else
 * 127.0.0.1:7300.
 *
 * <p>The user's certificate (mutual TLS): each of {@code --cert}, {@code --key}, {@code --ca}, else
 * {@code $LAMBDAGRID_CERT}, {@code $LAMBDAGRID_KEY}, {@code $LAMBDAGRID_CA}, else
 * {@code ~/.lambdagrid/user.crt}, {@code user.key}, {@code ca.crt}. With TLS the GRC runs jobs as
 * the user the certificate names. {@code --insecure} (or {@code LAMBDAGRID_INSECURE=1}) dials a
 * GRC that runs without TLS, and submits as the OS user.
 *
 * <p>Without a certificate: {@code --token FILE} (or {@code $LAMBDAGRID_TOKEN_FILE}) dials
 * {@code --grc} as the GRC's token port with TLS verified against {@code --ca} and sends the file's
 * token as {@code authorization: Bearer}; with neither a certificate nor a token file, if the
 * GRC's local socket exists ({@code $LAMBDAGRID_LOCAL_SOCKET}, default /run/lambdagrid/grc.sock)
 * the CLI logs in there (the GRC reads the peer's OS user) and uses the session token, token
 * port and CA it answers ({@link LocalLoginClient}).
 */
final class Connection {
  static final String DEFAULT_ENDPOINT = "127.0.0.1:7300";
  static final String DEFAULT_LOCAL_SOCKET = "/run/lambdagrid/grc.sock";
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  /** A local session is renewed when it has less than this left. */
  static final Duration RENEW_BEFORE = Duration.ofSeconds(30);
  /**
   * ... or when it was not used for this long: the GRC ends a session unused for its
   * {@code local.session_idle}, which is at least 1m.
   */
  static final Duration RENEW_IDLE = Duration.ofSeconds(30);

  @Option(names = "--grc", paramLabel = "HOST:PORT", scope = ScopeType.INHERIT,
      description = "The GRC (default: $LAMBDAGRID_GRC, the testbed's grc.endpoint file, or "
          + DEFAULT_ENDPOINT + ").")
  String grc;

  @Option(names = "--cert", paramLabel = "FILE", scope = ScopeType.INHERIT,
      description = "Your user certificate (default: $LAMBDAGRID_CERT or ~/.lambdagrid/user.crt).")
  Path cert;

  @Option(names = "--key", paramLabel = "FILE", scope = ScopeType.INHERIT,
      description = "Its private key (default: $LAMBDAGRID_KEY or ~/.lambdagrid/user.key).")
  Path key;

  @Option(names = "--ca", paramLabel = "FILE", scope = ScopeType.INHERIT,
      description = "The grid's CA certificate (default: $LAMBDAGRID_CA or ~/.lambdagrid/ca.crt).")
  Path ca;

  @Option(names = "--token", paramLabel = "FILE", scope = ScopeType.INHERIT,
      description = "A file holding your operator-issued token (default: $LAMBDAGRID_TOKEN_FILE)."
          + " Then --grc is the GRC's token port and --ca the CA it is verified against.")
  Path token;

  @Option(names = "--insecure", scope = ScopeType.INHERIT,
      description = "Dial a GRC that runs without TLS (default: $LAMBDAGRID_INSECURE=1).")
  boolean insecure;

  private final Map<String, String> env;
  private final String user;

  private Access access;
  private Path sessionSocket; // the local socket a session came from, or null
  private Instant sessionExpires;
  private Instant sessionUsed;

  /** Reads {@code env} for defaults; {@code user} is the OS user (the GRC refuses root). */
  Connection(Map<String, String> env, String user) {
    this.env = env;
    this.user = user;
  }

  /**
   * How this invocation authenticates: plaintext ({@code --insecure}), a token file
   * ({@code --token} / {@code $LAMBDAGRID_TOKEN_FILE}: TLS to the token port, verified against the
   * CA), the user certificate (mutual TLS), or, with none of these and the GRC's local socket
   * present ({@code $LAMBDAGRID_LOCAL_SOCKET}, default /run/lambdagrid/grc.sock), a session token
   * from a local login. Decided once per invocation.
   *
   * @param token the bearer token to send, or null (certificate or plaintext)
   * @param caPem with a token: the CA the token port is verified against
   * @param endpoint with a local login: the token port it named; else null (use --grc)
   * @param user whose jobs are "mine", or "" if only the GRC knows (a token file)
   * @param tokenSource names the token in errors
   */
  record Access(TlsConfig tls, String token, byte[] caPem, Endpoint endpoint, String user,
      String tokenSource) {
    String describeToken() {
      return tokenSource == null ? "call (no token: this port needs a certificate)"
          : tokenSource;
    }
  }

  /** The GRC this invocation dials (the token port a local login named, else {@link #grcFlag}). */
  Endpoint endpoint() {
    return access != null && access.endpoint() != null ? access.endpoint() : grcFlag();
  }

  /** The endpoint from --grc, $LAMBDAGRID_GRC, the grc.endpoint file or the default. */
  Endpoint grcFlag() {
    String text = grc;
    String source = "--grc";
    if (text == null && env.get("LAMBDAGRID_GRC") != null && !env.get("LAMBDAGRID_GRC").isBlank()) {
      text = env.get("LAMBDAGRID_GRC").trim();
      source = "LAMBDAGRID_GRC";
    }
    if (text == null) {
      List<Path> files = new ArrayList<>();
      if (env.get("XDG_RUNTIME_DIR") != null) {
        files.add(Path.of(env.get("XDG_RUNTIME_DIR"), "lambdagrid", "grc.endpoint"));
      }
      files.add(Path.of("/run/lambdagrid/grc.endpoint"));
      for (Path f : files) {
        if (Files.isReadable(f)) {
          try {
            text = Files.readString(f).trim();
            source = f.toString();
            break;
          } catch (IOException ignored) {
            // try the next one
          }
        }
      }
    }
    if (text == null) {
      return Endpoint.parse(DEFAULT_ENDPOINT);
    }
    try {
      return Endpoint.parse(text);
    } catch (IllegalArgumentException e) {
      throw new UserError(source + ": " + e.getMessage(), 2);
    }
  }

  boolean insecure() {
    return insecure || "1".equals(env.get("LAMBDAGRID_INSECURE"))
        || "true".equals(env.get("LAMBDAGRID_INSECURE"));
  }

  /**
   * The user to name in a job or reservation spec: the OS user when plaintext, else "" (the GRC
   * takes the user from the credential).
   */
  String specUser() {
    return insecure() ? user : "";
  }

  /**
   * Whose jobs are "mine": the user of the certificate with TLS, the local login's user, ""
   * with a token file (the GRC knows: a user token lists only its user's jobs), else the OS user.
   */
  String me() {
    Access a = access();
    return a.user() != null ? a.user() : Tls.identity("the user certificate", a.tls()).name();
  }

  /**
   * Why a GRC at {@link #endpoint} may not answer, given whether a TLS handshake failed: a
   * plaintext dial of a TLS port, or a token sent to a port that is not the token port; else "".
   */
  String unreachableHint(boolean tlsFailed) {
    return insecure() ? " (plaintext: a GRC with TLS closes plaintext connections)"
        : access != null && access.token() != null && access.endpoint() == null && tlsFailed
            ? " (with --token, --grc must be the GRC's token port)" : "";
  }

  synchronized Access access() {
    if (access == null) {
      access = resolveAccess();
    }
    return access;
  }

  /**
   * The token to send: the file's, or the local session's, renewed when about to expire or
   * after {@link #RENEW_IDLE} unused.
   */
  synchronized String bearerToken() {
    access();
    Instant now = Instant.now();
    if (sessionSocket != null && (now.plus(RENEW_BEFORE).isAfter(sessionExpires)
        || (sessionUsed != null && now.isAfter(sessionUsed.plus(RENEW_IDLE))))) {
      LoginAnswer a = LocalLoginClient.login(sessionSocket);
      access = new Access(null, a.token(), access.caPem(), access.endpoint(), access.user(),
          access.tokenSource());
      sessionExpires = a.expires();
    }
    sessionUsed = now;
    return access.token();
  }

  /**
   * A channel to the GRC. With a token, every call carries {@code authorization: Bearer <token>};
   * a local session about to expire is renewed first (so a long {@code submit --wait} keeps
   * working).
   */
  GrcChannel open() {
    ManagedChannel managed = openManaged();
    Channel channel = access().token() == null ? managed
        : ClientInterceptors.intercept(managed, new ClientInterceptor() {
          @Override
          public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> m, CallOptions o,
              Channel next) {
            return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(m, o)) {
              @Override
              public void start(Listener<A> listener, Metadata headers) {
                headers.put(AUTHORIZATION, "Bearer " + bearerToken());
                super.start(listener, headers);
              }
            };
          }
        });
    return new GrcChannel(managed, channel);
  }

  private ManagedChannel openManaged() {
    Access a = access();
    if (a.token() == null) {
      return Channels.forEndpoint("the user certificate", endpoint(), a.tls(), Role.GRC, null);
    }
    Endpoint e = endpoint();
    return NettyChannelBuilder.forAddress(e.host(), e.port(),
        Tls.tokenChannelCredentials(a.endpoint() == null ? "the CA certificate"
            : "the local login's CA certificate", a.caPem(), Role.GRC)).build();
  }

  private Access resolveAccess() {
    if (insecure()) {
      return new Access(TlsConfig.plaintext(), null, null, null, user, null);
    }
    Path tokenFile = token != null ? token : file(null, "LAMBDAGRID_TOKEN_FILE", null);
    if (tokenFile != null) {
      String src = token != null ? "--token" : "LAMBDAGRID_TOKEN_FILE";
      String t = readToken(src, tokenFile);
      Path a = file(ca, "LAMBDAGRID_CA", home().resolve("ca.crt"));
      byte[] pem;
      try {
        pem = Files.readAllBytes(a);
      } catch (java.nio.file.NoSuchFileException e) {
        throw new UserError("the grid's CA certificate " + a + " does not exist; with a token give"
            + " --ca (or LAMBDAGRID_CA) for the token port's CA", 2);
      } catch (IOException e) {
        throw new UserError("cannot read the CA certificate " + a + ": " + e.getMessage(), 2);
      }
      return new Access(null, t, pem, null, "", "token in " + tokenFile);
    }
    Path c = file(cert, "LAMBDAGRID_CERT", home().resolve("user.crt"));
    boolean certGiven = cert != null || (env.get("LAMBDAGRID_CERT") != null
        && !env.get("LAMBDAGRID_CERT").isBlank());
    if (!certGiven && !Files.exists(c)) {
      Path socket = file(null, "LAMBDAGRID_LOCAL_SOCKET", Path.of(DEFAULT_LOCAL_SOCKET));
      if (Files.exists(socket)) {
        LoginAnswer a = LocalLoginClient.login(socket);
        Endpoint at;
        try {
          at = Endpoint.parse(a.endpoint());
        } catch (IllegalArgumentException e) {
          throw new UserError("the local login on " + socket + " named a bad endpoint: "
              + e.getMessage(), 1);
        }
        sessionSocket = socket;
        sessionExpires = a.expires();
        return new Access(null, a.token(), a.caPem().getBytes(StandardCharsets.UTF_8), at,
            a.user(), "session token of the local login (" + socket + ")");
      }
    }
    TlsConfig tls = certificateTls();
    return new Access(tls, null, null, null, null, null);
  }

  /** The token in {@code f}: its one line, never echoed in errors. */
  static String readToken(String src, Path f) {
    String text;
    try {
      text = Files.readString(f).strip();
    } catch (java.nio.file.NoSuchFileException e) {
      throw new UserError(src + ": the token file " + f + " does not exist", 2);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new UserError(src + ": the token file " + f + " is not readable by this user", 2);
    } catch (java.nio.charset.MalformedInputException e) {
      throw new UserError(src + ": " + f + " does not hold a token (expected one line lgt_...)", 2);
    } catch (IOException e) {
      throw new UserError(src + ": cannot read the token file " + f + ": " + e.getMessage(), 2);
    }
    if (text.isEmpty() || text.contains("\n") || !text.matches("[\\x21-\\x7e]+")) {
      throw new UserError(src + ": " + f + " does not hold a token (expected one line lgt_...)", 2);
    }
    return text;
  }

  /** The user's certificate from flags, environment or ~/.lambdagrid; plaintext if insecure. */
  private TlsConfig certificateTls() {
    if (insecure()) {
      return TlsConfig.plaintext();
    }
    Path home = home();
    Path c = file(cert, "LAMBDAGRID_CERT", home.resolve("user.crt"));
    Path k = file(key, "LAMBDAGRID_KEY", home.resolve("user.key"));
    Path a = file(ca, "LAMBDAGRID_CA", home.resolve("ca.crt"));
    for (Path p : List.of(c, k, a)) {
      if (!Files.exists(p)) {
        throw new UserError("no user certificate: " + p + " does not exist; give --cert, --key"
            + " and --ca, set LAMBDAGRID_CERT, LAMBDAGRID_KEY and LAMBDAGRID_CA, or ask your"
            + " operator for ~/.lambdagrid/{user.crt,user.key,ca.crt} or a token (--token FILE);"
            + " on the GRC's machine the local socket (" + file(null, "LAMBDAGRID_LOCAL_SOCKET",
                Path.of(DEFAULT_LOCAL_SOCKET)) + ") logs you in when it exists (--insecure only"
            + " for a GRC without TLS)", 2);
      }
    }
    return new TlsConfig(a.toString(), c.toString(), k.toString(), false);
  }

  private static Path home() {
    return Path.of(System.getProperty("user.home"), ".lambdagrid");
  }

  /** The flag, else the variable, else {@code dflt} (which may be null). */
  private Path file(Path flag, String var, Path dflt) {
    if (flag != null) {
      return flag;
    }
    String v = env.get(var);
    return v != null && !v.isBlank() ? Path.of(v.trim()) : dflt;
  }
}
