package org.lambdagrid.grc.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.lambdagrid.common.Channels;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.Quantities;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CancelJobRequest;
import org.lambdagrid.proto.v1.CancelReservationRequest;
import org.lambdagrid.proto.v1.GetReservationRequest;
import org.lambdagrid.proto.v1.ListReservationsRequest;
import org.lambdagrid.proto.v1.ListReservationsResponse;
import org.lambdagrid.proto.v1.Reservation;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReservationState;
import org.lambdagrid.proto.v1.ReserveRequest;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.GetHostsRequest;
import org.lambdagrid.proto.v1.GetHostsResponse;
import org.lambdagrid.proto.v1.GetJobRequest;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.ListJobsRequest;
import org.lambdagrid.proto.v1.ListJobsResponse;
import org.lambdagrid.proto.v1.ListSitesRequest;
import org.lambdagrid.proto.v1.ListSitesResponse;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.SiteInfo;
import org.lambdagrid.proto.v1.StreamOutputRequest;
import org.lambdagrid.proto.v1.StreamOutputResponse;
import org.lambdagrid.proto.v1.SubmitJobRequest;
import org.lambdagrid.proto.v1.WatchJobRequest;
import org.lambdagrid.proto.v1.WatchJobResponse;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.ScopeType;

/**
 * The {@code grc} command line: users submit and follow jobs.
 *
 * <p>The GRC's endpoint comes from {@code --grc host:port}, else {@code $LAMBDAGRID_GRC}, else
 * the file {@code $XDG_RUNTIME_DIR/lambdagrid/grc.endpoint} or
 * {@code /run/lambdagrid/grc.endpoint}, else 127.0.0.1:7300.
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
 *
 * <p>Exit codes: 0 success; 1 the GRC refused or failed the request, or cannot be reached;
 * 2 a bad command line or argument; with {@code submit --wait}: the command's exit code, 1 if
 * the job failed before its command ran, 130 if it was cancelled.
 *
 * <p>Output goes through picocli's {@code getOut()} / {@code getErr()} so tests capture it.
 */
@Command(name = "grc", mixinStandardHelpOptions = true, version = "lambdagrid grc 0.1",
    description = "Reserve nodes and bandwidth, submit and follow lambdagrid jobs.",
    subcommands = {GrcCli.Sites.class, GrcCli.Reserve.class, GrcCli.Reservations.class,
        GrcCli.Submit.class, GrcCli.StatusCmd.class, GrcCli.Watch.class, GrcCli.Logs.class,
        GrcCli.Hosts.class, GrcCli.Cancel.class, CommandLine.HelpCommand.class})
public final class GrcCli implements Runnable {
  static final Duration CALL_TIMEOUT = Duration.ofSeconds(15);
  static final String DEFAULT_ENDPOINT = "127.0.0.1:7300";

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

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  private final Map<String, String> env;
  private final String user;

  /** The submitting user is the OS user running this process. */
  public GrcCli(Map<String, String> env) {
    this(env, System.getProperty("user.name"));
  }

  /** For tests: submit as {@code user} (the GRC refuses root). */
  GrcCli(Map<String, String> env, String user) {
    this.env = env;
    this.user = user;
  }

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(),
        "a command is required (sites, reserve, reservations, submit, status, watch, logs,"
            + " hosts, cancel)");
  }

  public static void main(String[] args) {
    System.exit(commandLine(System.getenv()).execute(args));
  }

  /** The configured command line; tests pass their own environment and capture out/err. */
  public static CommandLine commandLine(Map<String, String> env) {
    return configure(new CommandLine(new GrcCli(env)));
  }

  /** For tests: as {@link #commandLine(Map)}, submitting as {@code user}. */
  public static CommandLine commandLine(Map<String, String> env, String user) {
    return configure(new CommandLine(new GrcCli(env, user)));
  }

  private static CommandLine configure(CommandLine cli) {
    cli.getSubcommands().get("submit").setStopAtPositional(true);
    cli.setParameterExceptionHandler((e, args) -> {
      CommandLine c = e.getCommandLine();
      c.getErr().println("grc: " + e.getMessage() + " (see '" + c.getCommandSpec().qualifiedName()
          + " --help')");
      return 2;
    });
    cli.setExecutionExceptionHandler((e, c, parsed) -> {
      PrintWriter err = c.getErr();
      GrcCli root = (GrcCli) c.getCommandSpec().root().userObject();
      if (e instanceof UserError u) {
        err.println("grc: " + u.getMessage());
        return u.exitCode;
      }
      if (e instanceof ConfigException ce) {
        err.println("grc: " + ce.getMessage());
        return 2;
      }
      if (e instanceof StatusRuntimeException s) {
        Status st = s.getStatus();
        String desc = st.getDescription() == null ? st.getCode().toString()
            : st.getDescription().lines().findFirst().orElse("");
        switch (st.getCode()) {
          case UNAVAILABLE -> err.println("grc: cannot reach the GRC at " + root.endpoint()
              + ": " + desc + tlsReason(s) + (root.insecure()
                  ? " (plaintext: a GRC with TLS closes plaintext connections)"
                  : root.access != null && root.access.token() != null
                      && root.access.endpoint() == null && !tlsReason(s).isEmpty()
                      ? " (with --token, --grc must be the GRC's token port)" : ""));
          case DEADLINE_EXCEEDED -> err.println("grc: the GRC at " + root.endpoint()
              + " did not answer in time: " + desc);
          case UNAUTHENTICATED -> err.println("grc: the GRC refused the "
              + root.access().describeToken() + ": " + desc);
          default -> err.println("grc: " + desc);
        }
        return st.getCode() == Status.Code.INVALID_ARGUMENT ? 2 : 1;
      }
      err.println("grc: unexpected error: " + e);
      return 1;
    });
    return cli;
  }

  /**
   * " (TLS: reason)" when a TLS handshake failure caused {@code e}, else "". The reason is the
   * deepest cause's message (e.g. the certificate check that failed).
   */
  static String tlsReason(Throwable e) {
    boolean tls = false;
    String reason = null;
    for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
      tls |= t instanceof javax.net.ssl.SSLException
          || t instanceof java.security.cert.CertificateException;
      reason = t.getMessage() == null ? reason : t.getMessage();
    }
    return tls && reason != null ? " (TLS: " + reason + ")" : "";
  }

  static final io.grpc.Metadata.Key<String> AUTHORIZATION =
      io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER);
  /** A local session is renewed when it has less than this left. */
  static final Duration RENEW_BEFORE = Duration.ofSeconds(30);
  /**
   * ... or when it was not used for this long: the GRC ends a session unused for its
   * {@code local.session_idle}, which is at least 1m.
   */
  static final Duration RENEW_IDLE = Duration.ofSeconds(30);

  private Path sessionSocket; // the local socket a session came from, or null
  private Instant sessionExpires;
  private Instant sessionUsed;

  /**
   * The token to send: the file's, or the local session's, renewed when about to expire or
   * after {@link #RENEW_IDLE} unused.
   */
  synchronized String bearerToken() {
    access();
    Instant now = Instant.now();
    if (sessionSocket != null && (now.plus(RENEW_BEFORE).isAfter(sessionExpires)
        || (sessionUsed != null && now.isAfter(sessionUsed.plus(RENEW_IDLE))))) {
      org.lambdagrid.grc.local.LoginAnswer a = LocalLoginClient.login(sessionSocket);
      access = new Access(null, a.token(), access.caPem(), access.endpoint(), access.user(),
          access.tokenSource());
      sessionExpires = a.expires();
    }
    sessionUsed = now;
    return access.token();
  }

  /** One StreamOutput answer: a note on stderr for output the GRC dropped, then the chunk. */
  static void print(StreamOutputResponse r, PrintWriter out, PrintWriter err) {
    if (r.getDroppedBytes() > 0) {
      err.println("[lambdagrid: " + r.getDroppedBytes() + " bytes of output were dropped here]");
      err.flush();
    }
    OutputChunk c = r.getChunk();
    PrintWriter w = c.getStream() == OutputChunk.Stream.STDERR ? err : out;
    w.print(c.getData().toStringUtf8());
    w.flush();
  }

  /** A mistake the user can fix; printed as one line. */
  static final class UserError extends RuntimeException {
    final int exitCode;

    UserError(String message, int exitCode) {
      super(message);
      this.exitCode = exitCode;
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

  private Access access;

  synchronized Access access() {
    if (access == null) {
      access = resolveAccess();
    }
    return access;
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
        org.lambdagrid.grc.local.LoginAnswer a = LocalLoginClient.login(socket);
        Endpoint at;
        try {
          at = Endpoint.parse(a.endpoint());
        } catch (IllegalArgumentException e) {
          throw new UserError("the local login on " + socket + " named a bad endpoint: "
              + e.getMessage(), 1);
        }
        sessionSocket = socket;
        sessionExpires = a.expires();
        return new Access(null, a.token(),
            a.caPem().getBytes(java.nio.charset.StandardCharsets.UTF_8), at, a.user(),
            "session token of the local login (" + socket + ")");
      }
    }
    TlsConfig tls = certificateTls();
    return new Access(tls, null, null, null, null, null);
  }

  static final String DEFAULT_LOCAL_SOCKET = "/run/lambdagrid/grc.sock";

  private static Path home() {
    return Path.of(System.getProperty("user.home"), ".lambdagrid");
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

  /** The user's TLS settings from flags, environment or ~/.lambdagrid; plaintext if insecure. */
  TlsConfig tls() {
    return access().tls();
  }

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

  /**
   * Whose jobs are "mine": the user of the certificate with TLS, the local login's user, ""
   * with a token file (the GRC knows: a user token lists only its user's jobs), else the OS user.
   */
  String me() {
    Access a = access();
    return a.user() != null ? a.user() : Tls.identity("the user certificate", a.tls()).name();
  }

  private Path file(Path flag, String var, Path dflt) {
    // dflt may be null: then null when neither flag nor variable is given
    if (flag != null) {
      return flag;
    }
    String v = env.get(var);
    return v != null && !v.isBlank() ? Path.of(v.trim()) : dflt;
  }

  /** A channel to the GRC with a deadline on every unary call (streams have none). */
  final class Grc implements AutoCloseable {
    final ManagedChannel managed = open();
    /**
     * With a token, every call carries {@code authorization: Bearer <token>}; a local session
     * about to expire is renewed first (so a long {@code submit --wait} keeps working).
     */
    final io.grpc.Channel channel = access().token() == null ? managed
        : io.grpc.ClientInterceptors.intercept(managed, new io.grpc.ClientInterceptor() {
          @Override
          public <Q, A> io.grpc.ClientCall<Q, A> interceptCall(io.grpc.MethodDescriptor<Q, A> m,
              io.grpc.CallOptions o, io.grpc.Channel next) {
            return new io.grpc.ForwardingClientCall.SimpleForwardingClientCall<>(
                next.newCall(m, o)) {
              @Override
              public void start(Listener<A> listener, io.grpc.Metadata headers) {
                headers.put(AUTHORIZATION, "Bearer " + bearerToken());
                super.start(listener, headers);
              }
            };
          }
        });

    private ManagedChannel open() {
      Access a = access();
      if (a.token() == null) {
        return Channels.forEndpoint("the user certificate", endpoint(), a.tls(), Role.GRC, null);
      }
      Endpoint e = endpoint();
      return io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder.forAddress(e.host(), e.port(),
          Tls.tokenChannelCredentials(a.endpoint() == null ? "the CA certificate"
              : "the local login's CA certificate", a.caPem(), Role.GRC)).build();
    }

    GridServiceGrpc.GridServiceBlockingStub call() {
      return GridServiceGrpc.newBlockingStub(channel)
          .withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    GridServiceGrpc.GridServiceBlockingStub stream() {
      return GridServiceGrpc.newBlockingStub(channel);
    }

    GridServiceGrpc.GridServiceStub async() {
      return GridServiceGrpc.newStub(channel);
    }

    @Override
    public void close() {
      Channels.close(managed);
    }
  }

  /** {@code -o json}. */
  static final class OutputFormat {
    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT",
        description = "Output format: text (default) or json.")
    String format = "text";

    boolean json() {
      if (!format.equals("json") && !format.equals("text")) {
        throw new UserError("-o: '" + format + "' is not a format (text, json)", 2);
      }
      return format.equals("json");
    }
  }

  static String json(MessageOrBuilder m) {
    try {
      return JsonFormat.printer().includingDefaultValueFields().print(m);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
  }

  static String state(JobState s) {
    return s.name().startsWith("JOB_") ? s.name().substring(4) : s.name();
  }

  static String phase(Phase p) {
    return p.name().startsWith("PHASE_") ? p.name().substring(6) : p.name();
  }

  static String sites(JobSpec spec) {
    return new java.util.TreeMap<>(spec.getSiteNodesMap()).entrySet().stream()
        .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
  }

  static String eventLine(Event e) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format("%4d %s ", e.getSequence(), ProtoTime.fromProto(e.getTime())));
    if (e.hasJobState()) {
      sb.append("job ").append(state(e.getJobState()));
    } else if (e.hasNodeState()) {
      String who = e.getHostname().isEmpty() ? "site " + e.getSite() : e.getHostname();
      String st = e.getNodeState().name().replaceFirst("^NODE_", "");
      sb.append(who).append(' ').append(st);
    } else {
      // A site-level note without a state (the GRC lost or regained a site's CRM).
      sb.append(e.getSite().isEmpty() ? "job" : "site " + e.getSite());
    }
    if (e.getPhase() != Phase.PHASE_UNSPECIFIED) {
      sb.append(" [").append(phase(e.getPhase())).append(']');
    }
    if (!e.getMessage().isEmpty()) {
      sb.append(": ").append(e.getMessage());
    }
    return sb.toString();
  }

  static boolean terminal(JobState s) {
    return s == JobState.JOB_SUCCEEDED || s == JobState.JOB_FAILED || s == JobState.JOB_CANCELLED;
  }

  /** Prints a table with left-aligned columns. */
  static void table(PrintWriter out, List<String[]> rows) {
    int[] w = new int[rows.get(0).length];
    for (String[] r : rows) {
      for (int i = 0; i < r.length; i++) {
        w[i] = Math.max(w[i], r[i].length());
      }
    }
    for (String[] r : rows) {
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < r.length; i++) {
        sb.append(i == r.length - 1 ? r[i] : String.format("%-" + (w[i] + 2) + "s", r[i]));
      }
      out.println(sb.toString().stripTrailing());
    }
  }

  abstract static class Sub implements Callable<Integer> {
    @ParentCommand
    GrcCli root;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    PrintWriter out() {
      return spec.commandLine().getOut();
    }

    PrintWriter err() {
      return spec.commandLine().getErr();
    }
  }

  @Command(name = "sites", description = "List the registered sites.")
  static final class Sites extends Sub {
    @Mixin
    OutputFormat output;

    @Override
    public Integer call() {
      boolean json = output.json();
      try (Grc g = root.new Grc()) {
        ListSitesResponse r = g.call().listSites(ListSitesRequest.getDefaultInstance());
        if (json) {
          out().println(json(r));
          return 0;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "CRM", "NODES", "IN USE", "RANGES"});
        for (SiteInfo s : r.getSitesList()) {
          rows.add(new String[] {s.getName(), s.getCrmEndpoint(),
              String.valueOf(s.getNodeCapacity()), String.valueOf(s.getNodesInUse()),
              s.getRangesList().stream().map(AddressRange::getCidr)
                  .collect(Collectors.joining(","))});
        }
        table(out(), rows);
        out().flush();
        return 0;
      }
    }
  }

  @Command(name = "submit", description = "Submit a job; with --wait, run it to the end.")
  static final class Submit extends Sub {
    @Option(names = "--site", paramLabel = "NAME=COUNT",
        description = "Nodes on a site (repeatable), e.g. --site tokyo=2 --site osaka=2."
            + " Required without --reservation.")
    Map<String, Integer> sites = new LinkedHashMap<>();

    @Option(names = "--reservation", paramLabel = "ID",
        description = "Run in this reservation (r-...; see 'grc reserve'): its sites, nodes,"
            + " window and bandwidth. Without it the GRC reserves for the job itself.")
    String reservation;

    @Option(names = "--bandwidth", paramLabel = "RATE",
        description = "Bandwidth between the sites, e.g. 200M, 1G (default: best effort).")
    String bandwidth;

    @Option(names = "--start", paramLabel = "TIME",
        description = "Start time: ISO instant (2030-01-02T10:00:00Z), local date-time "
            + "(2030-01-02T10:00), or +DURATION (+10m). Default: now.")
    String start;

    @Option(names = "--duration", paramLabel = "DUR",
        description = "Length of the job's window, e.g. 30m, 2h (default: the GRC's, 1h).")
    String duration;

    @Option(names = "--env", paramLabel = "K=V", description = "Environment for the command.")
    Map<String, String> env = new LinkedHashMap<>();

    @Option(names = "--workdir", paramLabel = "DIR",
        description = "Working directory of the command (default: the current directory).")
    String workdir;

    @Option(names = "--wait", description = "Show progress, stream the output, and exit with "
        + "the command's exit code.")
    boolean await;

    @Mixin
    OutputFormat output;

    @Parameters(arity = "1..*", paramLabel = "COMMAND", description = "The command and its "
        + "arguments (put them after --).")
    List<String> command;

    JobSpec buildSpec() {
      if (reservation == null && sites.isEmpty()) {
        throw new UserError("give --site NAME=COUNT (repeatable) or --reservation ID", 2);
      }
      if (reservation != null && (bandwidth != null || start != null || duration != null)) {
        throw new UserError("--reservation cannot be combined with --bandwidth, --start or"
            + " --duration: the job runs in the reservation's window with its bandwidth", 2);
      }
      JobSpec.Builder b = JobSpec.newBuilder().putAllSiteNodes(sites).addAllArgv(command)
          .putAllEnv(env).setUser(root.insecure() ? root.user : "")
          .setWorkingDirectory(workdir != null ? Path.of(workdir).toAbsolutePath().normalize()
              .toString() : System.getProperty("user.dir"));
      try {
        if (bandwidth != null) {
          b.setBandwidthBps(Quantities.parseRate(bandwidth));
        }
      } catch (IllegalArgumentException e) {
        throw new UserError("--bandwidth: " + e.getMessage(), 2);
      }
      try {
        if (duration != null) {
          b.setDuration(ProtoTime.toProto(Quantities.parseDuration(duration)));
        }
      } catch (IllegalArgumentException e) {
        throw new UserError("--duration: " + e.getMessage(), 2);
      }
      if (start != null) {
        b.setStart(ProtoTime.toProto(parseStart(start)));
      }
      if (reservation != null) {
        b.setReservationId(reservation);
      }
      return b.build();
    }

    static Instant parseStart(String text) {
      return parseTime("--start", text);
    }

    static Instant parseTime(String option, String text) {
      try {
        if (text.startsWith("+")) {
          return Instant.now().plus(Quantities.parseDuration(text.substring(1)));
        }
        if (text.endsWith("Z") || text.matches(".*[+-]\\d\\d:\\d\\d$")) {
          return java.time.OffsetDateTime.parse(text).toInstant();
        }
        return LocalDateTime.parse(text).atZone(ZoneId.systemDefault()).toInstant();
      } catch (DateTimeParseException | IllegalArgumentException e) {
        throw new UserError(option + ": '" + text + "' is not a time (examples: +10m, "
            + "2030-01-02T10:00, 2030-01-02T10:00:00Z)", 2);
      }
    }

    @Override
    public Integer call() throws Exception {
      boolean json = output.json();
      JobSpec jobSpec = buildSpec();
      try (Grc g = root.new Grc()) {
        Job job = g.call().submitJob(SubmitJobRequest.newBuilder().setSpec(jobSpec).build())
            .getJob();
        if (!await) {
          out().println(json ? json(job) : job.getId());
          out().flush();
          return 0;
        }
        err().println("grc: submitted " + job.getId() + " (" + sites(job.getSpec())
            + "), starts " + ProtoTime.fromProto(job.getStart()));
        err().flush();
        return waitFor(g, job.getId(), json);
      }
    }

    private int waitFor(Grc g, String id, boolean json) throws InterruptedException {
      CountDownLatch outputDone = new CountDownLatch(1);
      g.async().streamOutput(StreamOutputRequest.newBuilder().setJobId(id).setFollow(true)
          .build(), new StreamObserver<StreamOutputResponse>() {
            @Override
            public void onNext(StreamOutputResponse r) {
              synchronized (Submit.this) {
                print(r, out(), err());
              }
            }

            @Override
            public void onError(Throwable t) {
              outputDone.countDown();
            }

            @Override
            public void onCompleted() {
              outputDone.countDown();
            }
          });
      // Ctrl-C (or SIGTERM) while waiting cancels the job, as srun does: the user is watching
      // it, so an interrupted wait means "stop it", not "leave it running unseen".
      java.util.concurrent.atomic.AtomicBoolean finished =
          new java.util.concurrent.atomic.AtomicBoolean();
      Thread cancelOnInterrupt = new Thread(() -> {
        if (!finished.get()) {
          try {
            g.call().cancelJob(CancelJobRequest.newBuilder().setJobId(id).build());
            System.err.println("grc: interrupted: cancelled job " + id);
          } catch (RuntimeException e) {
            System.err.println("grc: interrupted; cancelling job " + id + " failed: "
                + e.getMessage());
          }
        }
      }, "grc-cancel-on-interrupt");
      Runtime.getRuntime().addShutdownHook(cancelOnInterrupt);
      try {
        return watchUntilDone(g, id, json, outputDone);
      } finally {
        finished.set(true);
        try {
          Runtime.getRuntime().removeShutdownHook(cancelOnInterrupt);
        } catch (IllegalStateException e) {
          // shutting down: the hook runs
        }
      }
    }

    private int watchUntilDone(Grc g, String id, boolean json, CountDownLatch outputDone)
        throws InterruptedException {
      Iterator<WatchJobResponse> events = g.stream().watchJob(WatchJobRequest.newBuilder()
          .setJobId(id).build());
      while (events.hasNext()) {
        Event e = events.next().getEvent();
        if (e.hasJobState() && e.getJobState() != JobState.JOB_PENDING
            && !terminal(e.getJobState())) {
          synchronized (this) {
            err().println("grc: " + id + " " + state(e.getJobState())
                + (e.getMessage().isEmpty() ? "" : ": " + e.getMessage()));
            err().flush();
          }
        }
      }
      outputDone.await(30, TimeUnit.SECONDS);
      Job job = g.call().getJob(GetJobRequest.newBuilder().setJobId(id).build()).getJob();
      if (json) {
        out().println(json(job));
        out().flush();
      }
      switch (job.getState()) {
        case JOB_SUCCEEDED:
          return 0;
        case JOB_CANCELLED:
          err().println("grc: job " + id + " was cancelled");
          return 130;
        default:
          if (job.getHasExitCode()) {
            return job.getExitCode();
          }
          err().println("grc: job " + id + " failed"
              + (job.getFailedPhase() == Phase.PHASE_UNSPECIFIED ? ""
                  : " in phase " + phase(job.getFailedPhase())) + ": " + job.getMessage());
          return 1;
      }
    }
  }

  @Command(name = "status", description = "List jobs, or show one.")
  static final class StatusCmd extends Sub {
    @Parameters(arity = "0..1", paramLabel = "JOB")
    String jobId;

    @Option(names = "--all", description = "List every user's jobs, not only yours.")
    boolean all;

    @Mixin
    OutputFormat output;

    @Override
    public Integer call() {
      boolean json = output.json();
      try (Grc g = root.new Grc()) {
        if (jobId != null) {
          Job j = g.call().getJob(GetJobRequest.newBuilder().setJobId(jobId).build()).getJob();
          if (json) {
            out().println(json(j));
          } else {
            show(j);
          }
          out().flush();
          return 0;
        }
        ListJobsResponse r = g.call().listJobs(ListJobsRequest.newBuilder()
            .setUser(all ? "" : root.me()).setIncludeFinished(true).build());
        if (json) {
          out().println(json(r));
          out().flush();
          return 0;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"JOB", "STATE", "USER", "SITES", "START", "MESSAGE"});
        for (Job j : r.getJobsList()) {
          rows.add(new String[] {j.getId(), state(j.getState()), j.getSpec().getUser(),
              sites(j.getSpec()), ProtoTime.fromProto(j.getStart()).toString(), j.getMessage()});
        }
        table(out(), rows);
        out().flush();
        return 0;
      }
    }

    private void show(Job j) {
      PrintWriter o = out();
      o.println("job:        " + j.getId());
      o.println("state:      " + state(j.getState()));
      o.println("user:       " + j.getSpec().getUser());
      o.println("command:    " + String.join(" ", j.getSpec().getArgvList()));
      o.println("workdir:    " + j.getSpec().getWorkingDirectory());
      o.println("sites:      " + sites(j.getSpec()));
      o.println("reservation: " + j.getReservationId());
      o.println("ranges:     " + new java.util.TreeMap<>(j.getSiteRangesMap()).entrySet().stream()
          .map(e -> e.getKey() + "=" + e.getValue().getCidr()).collect(Collectors.joining(",")));
      o.println("window:     " + ProtoTime.fromProto(j.getStart()) + " .. "
          + ProtoTime.fromProto(j.getEnd()));
      if (!j.getFirstNode().isEmpty()) {
        o.println("first node: " + j.getFirstNode());
      }
      if (j.getHasExitCode()) {
        o.println("exit code:  " + j.getExitCode());
      }
      if (j.getFailedPhase() != Phase.PHASE_UNSPECIFIED) {
        o.println("failed in:  " + phase(j.getFailedPhase()));
      }
      o.println("message:    " + j.getMessage());
    }
  }

  @Command(name = "watch", description = "Print a job's events until it ends.")
  static final class Watch extends Sub {
    @Parameters(paramLabel = "JOB")
    String jobId;

    @Override
    public Integer call() {
      try (Grc g = root.new Grc()) {
        Iterator<WatchJobResponse> it = g.stream().watchJob(WatchJobRequest.newBuilder()
            .setJobId(jobId).build());
        while (it.hasNext()) {
          out().println(eventLine(it.next().getEvent()));
          out().flush();
        }
        return 0;
      }
    }
  }

  @Command(name = "logs", description = "Print a job's output.")
  static final class Logs extends Sub {
    @Option(names = {"-f", "--follow"}, description = "Keep printing until the job ends.")
    boolean follow;

    @Parameters(paramLabel = "JOB")
    String jobId;

    @Override
    public Integer call() {
      try (Grc g = root.new Grc()) {
        Iterator<StreamOutputResponse> it = (follow ? g.stream() : g.call()).streamOutput(
            StreamOutputRequest.newBuilder().setJobId(jobId).setFollow(follow).build());
        while (it.hasNext()) {
          print(it.next(), out(), err());
        }
        return 0;
      }
    }
  }

  @Command(name = "hosts", description = "Print a job's nodes and addresses.")
  static final class Hosts extends Sub {
    @Parameters(paramLabel = "JOB")
    String jobId;

    @Mixin
    OutputFormat output;

    @Override
    public Integer call() {
      boolean json = output.json();
      try (Grc g = root.new Grc()) {
        GetHostsResponse r = g.call().getHosts(GetHostsRequest.newBuilder().setJobId(jobId)
            .build());
        if (json) {
          out().println(json(r));
        } else {
          List<String[]> rows = new ArrayList<>();
          rows.add(new String[] {"HOSTNAME", "ADDRESS", "SITE", "SLOTS"});
          for (NodeEntry n : r.getNodesList()) {
            rows.add(new String[] {n.getHostname(), n.getAddress() + "/" + n.getPrefixLength(),
                n.getSite(), String.valueOf(n.getSlots())});
          }
          table(out(), rows);
        }
        out().flush();
        return 0;
      }
    }
  }

  /**
   * {@code grc cancel ID}: ids carry their kind, so one command serves both without ambiguity:
   * {@code j-...} cancels a job, {@code r-...} a reservation (and the job running in it).
   */
  @Command(name = "cancel", description = {"Cancel a job (j-...) or a reservation (r-...).",
      "Cancelling a reservation also stops the job running in it."})
  static final class Cancel extends Sub {
    @Parameters(paramLabel = "ID", description = "A job id (j-...) or a reservation id (r-...).")
    String id;

    @Override
    public Integer call() {
      try (Grc g = root.new Grc()) {
        if (id.startsWith("r-")) {
          Reservation r = g.call().cancelReservation(CancelReservationRequest.newBuilder()
              .setReservationId(id).build()).getReservation();
          out().println(r.getId() + " " + rstate(r.getState()));
        } else if (id.startsWith("j-")) {
          Job j = g.call().cancelJob(CancelJobRequest.newBuilder().setJobId(id).build())
              .getJob();
          out().println(j.getId() + " " + state(j.getState()));
        } else {
          throw new UserError("'" + id + "' is neither a job id (j-...) nor a reservation id"
              + " (r-...)", 2);
        }
        out().flush();
        return 0;
      }
    }
  }

  static String rstate(ReservationState s) {
    return s.name().replaceFirst("^RESERVATION_", "");
  }

  static String nodes(Map<String, Integer> m) {
    return new java.util.TreeMap<>(m).entrySet().stream()
        .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
  }

  static void showReservation(PrintWriter o, Reservation r) {
    o.println("reservation: " + r.getId());
    o.println("state:       " + rstate(r.getState()));
    o.println("user:        " + r.getSpec().getUser());
    o.println("sites:       " + nodes(r.getSiteNodesMap()));
    o.println("window:      " + ProtoTime.fromProto(r.getStart()) + " .. "
        + ProtoTime.fromProto(r.getEnd()));
    o.println("ranges:      " + new java.util.TreeMap<>(r.getSiteRangesMap()).entrySet().stream()
        .map(e -> e.getKey() + "=" + e.getValue().getCidr()).collect(Collectors.joining(",")));
    o.println("bandwidth:   " + (r.getBandwidthBps() == 0 ? "none"
        : Quantities.formatRate(r.getBandwidthBps()) + " between every pair of sites"));
    if (r.getSiteBridgesCount() > 0) {
      o.println("bridges:     " + nodes2(r.getSiteBridgesMap()));
    }
    if (r.getJobIdsCount() > 0) {
      o.println("jobs:        " + String.join(",", r.getJobIdsList()));
    }
    o.println("message:     " + r.getMessage());
  }

  private static String nodes2(Map<String, String> m) {
    return new java.util.TreeMap<>(m).entrySet().stream()
        .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
  }

  @Command(name = "reserve", description = {"Reserve nodes on sites and bandwidth between them"
      + " for one window (all or nothing), e.g.",
      "  grc reserve --site alpha=2 --site bravo=2 --bandwidth 200M --duration 30m",
      "Prints the reservation id (r-...); run jobs in it with 'grc submit --reservation ID'."})
  static final class Reserve extends Sub {
    @Option(names = "--site", paramLabel = "NAME=COUNT",
        description = "Nodes on a site (repeatable).")
    Map<String, Integer> sites = new LinkedHashMap<>();

    @Option(names = "--nodes", paramLabel = "COUNT",
        description = "A total node count instead of --site: the GRC picks the fewest sites.")
    Integer total;

    @Option(names = "--bandwidth", paramLabel = "RATE",
        description = "Bandwidth between every pair of the sites, e.g. 200M, 1G (default: none).")
    String bandwidth;

    @Option(names = "--start", paramLabel = "TIME",
        description = "Earliest start: +10m, 2030-01-02T10:00 (local), 2030-01-02T10:00:00Z."
            + " Default: now.")
    String start;

    @Option(names = "--duration", paramLabel = "DUR",
        description = "Length of the window, e.g. 30m, 2h (default: the GRC's, 1h).")
    String duration;

    @Option(names = "--deadline", paramLabel = "TIME",
        description = "The window must end by then (same forms as --start). Default: no limit;"
            + " the earliest window that fits is taken.")
    String deadline;

    @Mixin
    OutputFormat output;

    ReservationSpec buildSpec() {
      if (sites.isEmpty() == (total == null)) {
        throw new UserError("give either --site NAME=COUNT (repeatable) or --nodes COUNT", 2);
      }
      ReservationSpec.Builder b = ReservationSpec.newBuilder().putAllSiteNodes(sites)
          .setUser(root.insecure() ? root.user : "");
      if (total != null) {
        b.setTotalNodes(total);
      }
      try {
        if (bandwidth != null) {
          b.setBandwidthBps(Quantities.parseRate(bandwidth));
        }
      } catch (IllegalArgumentException e) {
        throw new UserError("--bandwidth: " + e.getMessage(), 2);
      }
      try {
        if (duration != null) {
          b.setDuration(ProtoTime.toProto(Quantities.parseDuration(duration)));
        }
      } catch (IllegalArgumentException e) {
        throw new UserError("--duration: " + e.getMessage(), 2);
      }
      if (start != null) {
        b.setStart(ProtoTime.toProto(Submit.parseTime("--start", start)));
      }
      if (deadline != null) {
        b.setDeadline(ProtoTime.toProto(Submit.parseTime("--deadline", deadline)));
      }
      return b.build();
    }

    @Override
    public Integer call() {
      boolean json = output.json();
      ReservationSpec rs = buildSpec();
      try (Grc g = root.new Grc()) {
        Reservation r = g.call().reserve(ReserveRequest.newBuilder().setSpec(rs).build())
            .getReservation();
        if (json) {
          out().println(json(r));
        } else {
          out().println(r.getId());
          err().println("grc: reserved " + r.getId() + ": " + nodes(r.getSiteNodesMap())
              + (r.getBandwidthBps() == 0 ? "" : ", " + Quantities.formatRate(r.getBandwidthBps()))
              + ", " + ProtoTime.fromProto(r.getStart()) + " .. "
              + ProtoTime.fromProto(r.getEnd()));
          err().flush();
        }
        out().flush();
        return 0;
      }
    }
  }

  @Command(name = "reservations", description = "List your reservations, or show one.")
  static final class Reservations extends Sub {
    @Parameters(arity = "0..1", paramLabel = "ID")
    String id;

    @Option(names = "--all", description = "Every user's (operators), not only yours.")
    boolean all;

    @Mixin
    OutputFormat output;

    @Override
    public Integer call() {
      boolean json = output.json();
      try (Grc g = root.new Grc()) {
        if (id != null) {
          Reservation r = g.call().getReservation(GetReservationRequest.newBuilder()
              .setReservationId(id).build()).getReservation();
          if (json) {
            out().println(json(r));
          } else {
            showReservation(out(), r);
          }
          out().flush();
          return 0;
        }
        ListReservationsResponse r = g.call().listReservations(ListReservationsRequest
            .newBuilder().setUser(all ? "" : root.me()).setIncludeFinished(true).build());
        if (json) {
          out().println(json(r));
          out().flush();
          return 0;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"RESERVATION", "STATE", "USER", "SITES", "BANDWIDTH", "START",
            "END", "MESSAGE"});
        for (Reservation x : r.getReservationsList()) {
          rows.add(new String[] {x.getId(), rstate(x.getState()), x.getSpec().getUser(),
              nodes(x.getSiteNodesMap()), x.getBandwidthBps() == 0 ? "-"
                  : Quantities.formatRate(x.getBandwidthBps()).replace(" ", ""),
              ProtoTime.fromProto(x.getStart()).toString(),
              ProtoTime.fromProto(x.getEnd()).toString(), x.getMessage()});
        }
        table(out(), rows);
        out().flush();
        return 0;
      }
    }
  }
}
