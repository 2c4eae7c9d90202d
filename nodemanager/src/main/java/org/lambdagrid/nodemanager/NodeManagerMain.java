package org.lambdagrid.nodemanager;

import io.grpc.ManagedChannel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.lambdagrid.common.Channels;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.PilotProfiles;
import org.lambdagrid.common.ops.HttpConfig;
import org.lambdagrid.common.ops.OpsHttpServer;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.nodemanager.agent.NodeAgent;
import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestDrivers;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The {@code nodemanager} command: the pilot a launcher starts (as root, through sudo) on each
 * node of a job.
 *
 * <p>Its life is tied to the launcher's: with {@code --credential-stdin} the first line of stdin is
 * the one-time credential and EOF on stdin afterwards means "the launcher is gone"; with
 * {@code --watch-pid} the launcher's process is watched as well (pid and start time). Either, or
 * SIGTERM/SIGINT, tears the guest down and exits.
 *
 * <p>Exit codes: {@value #OK} after a clean shutdown; {@value #FAILED} if teardown left something
 * or the NodeManager failed at run time; {@value #USAGE} for bad arguments or configuration;
 * {@value #HOST_UNSUITABLE} when the driver cannot run on this host; {@value #CRM_FAILED} when
 * the CRM cannot be reached, refuses the pilot, or breaks the stream and does not take the pilot
 * back within {@code reconnect_grace}. Errors are one line on stderr.
 */
@Command(name = "nodemanager", mixinStandardHelpOptions = true, version = "lambdagrid 0.1.0",
    description = "Builds this node's guest for one job and obeys the job's CRM.")
public final class NodeManagerMain implements Callable<Integer> {
  public static final int OK = 0;
  public static final int FAILED = 1;
  public static final int USAGE = 2;
  public static final int HOST_UNSUITABLE = 3;
  public static final int CRM_FAILED = 4;

  private static final Logger log = LoggerFactory.getLogger(NodeManagerMain.class);
  private static final Duration WATCH_POLL = Duration.ofMillis(500);

  @Spec
  private CommandSpec cmdSpec;

  @Option(names = "--crm", paramLabel = "HOST:PORT",
      description = "The CRM's PilotService endpoint.")
  private String crm;

  @Option(names = "--job", paramLabel = "JOB", description = "The job id.")
  private String job;

  @Option(names = "--node", paramLabel = "N",
      description = "This node's 0-based index in the site's share.")
  private Integer node;

  @Option(names = "--cleanup",
      description = "Do not join a job: destroy the guests the driver recorded whose NodeManager"
          + " is gone (after a crash), then exit. Needs only --config.")
  private boolean cleanup;

  @Option(names = "--agent", paramLabel = "SOCKET",
      description = "Do not join a job: run as this host's node agent, serving the pilots of the"
          + " launchers that connect to the Unix socket SOCKET (lambdagrid-launcher --agent),"
          + " each in this JVM, until SIGTERM. --config is their default config.")
  private Path agentSocket;

  @Option(names = "--config", paramLabel = "FILE",
      description = "NodeManager config (YAML). Default: the operator's (ETC/nodemanager.yaml,"
          + " ETC = the installation's etc directory), else all defaults. Not under sudo.")
  private Path configFile;

  @Option(names = "--profile", paramLabel = "NAME",
      description = "Use the operator's profile ETC/nodemanager.d/NAME.yaml instead of the"
          + " default config. The one config choice a user has under sudo.")
  private String profile;

  @Option(names = "--credential-stdin",
      description = "Read the one-time credential as the first line of stdin, then treat EOF on"
          + " stdin as 'the launcher is gone': tear down and exit.")
  private boolean credentialStdin;

  @Option(names = "--watch-pid", paramLabel = "PID",
      description = "Also tear down and exit when this process (the launcher) exits.")
  private Long watchPid;

  private final InputStream stdin;

  public NodeManagerMain() {
    this(System.in);
  }

  /** For tests: reads the credential and the lifeline from {@code stdin}. */
  NodeManagerMain(InputStream stdin) {
    this.stdin = stdin;
  }

  public static void main(String[] args) {
    System.exit(commandLine(new NodeManagerMain()).execute(args));
  }

  static CommandLine commandLine(NodeManagerMain main) {
    return new CommandLine(main).setExecutionExceptionHandler((e, cl, parsed) -> {
      cl.getErr().println("nodemanager: " + e);
      log.error("nodemanager failed", e);
      return FAILED;
    });
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter err = cmdSpec.commandLine().getErr();
    String forUser = sudoUser();
    if (forUser != null) {
      // Root on another user's behalf: only the launcher's form, with the operator's config.
      String refused = cleanup ? "--cleanup" : agentSocket != null ? "--agent"
          : configFile != null ? "--config" : null;
      if (refused != null) {
        return fail(err, USAGE, refused + ": not allowed under sudo (run for user '" + forUser
            + "'); a user's pilot uses the operator's config, chosen with --profile NAME");
      }
    }
    try {
      PilotProfiles.checkName(profile);
      if (configFile != null && profile != null) {
        throw new IllegalArgumentException("--profile and --config exclude each other");
      }
      if (configFile == null) {
        configFile = PilotProfiles.resolve(PilotProfiles.etcDir(), profile);
      }
    } catch (IllegalArgumentException | ConfigException e) {
      return fail(err, USAGE, e.getMessage());
    }
    String source = configFile == null ? "defaults" : configFile.getFileName().toString();

    if (cleanup) {
      return cleanup(err, source);
    }
    if (agentSocket != null) {
      return agent(err);
    }
    for (String[] required : new String[][] {{"--crm", crm}, {"--job", job},
        {"--node", node == null ? null : node.toString()}}) {
      if (required[1] == null) {
        return fail(err, USAGE, "missing required option " + required[0]
            + " (usage: nodemanager --crm HOST:PORT --job JOB --node N ...)");
      }
    }
    Endpoint endpoint;
    try {
      endpoint = Endpoint.parse(crm);
    } catch (IllegalArgumentException e) {
      return fail(err, USAGE, "--crm: " + e.getMessage());
    }
    PilotIdentity identity;
    try {
      identity = new PilotIdentity(job, node, credentialStdin ? readCredential() : "", forUser);
    } catch (IllegalArgumentException e) {
      return fail(err, USAGE, "--" + e.getMessage());
    } catch (IOException e) {
      return fail(err, USAGE, "--credential-stdin: " + e.getMessage());
    }
    List<Lifeline> lifelines = new ArrayList<>();
    if (credentialStdin) {
      lifelines.add(Lifeline.ofStream(stdin, "stdin"));
    }
    if (watchPid != null) {
      try {
        lifelines.add(Lifeline.ofProcess(watchPid, WATCH_POLL));
      } catch (IllegalArgumentException e) {
        return fail(err, USAGE, e.getMessage());
      }
    }
    return PilotRun.run(endpoint, identity, configFile, lifelines, err, true,
        CrmChannels.perPilot());
  }

  /** Reads stdin up to the first newline, byte by byte so nothing after it is consumed. */
  private String readCredential() throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    while (true) {
      int b = stdin.read();
      if (b < 0) {
        throw new IOException("stdin ended before the credential line");
      }
      if (b == '\n') {
        break;
      }
      line.write(b);
    }
    String credential = line.toString(StandardCharsets.UTF_8).strip();
    if (credential.isEmpty()) {
      throw new IOException("the credential line is empty");
    }
    return credential;
  }

  private static int fail(PrintWriter err, int code, String message) {
    return PilotRun.fail(err, code, message);
  }

  /** --agent: serves pilots until SIGTERM, then tears them all down. */
  private int agent(PrintWriter err) {
    HttpConfig http;
    try {
      http = configFile == null ? null : NodeManagerConfig.load(configFile).http();
    } catch (ConfigException e) {
      return fail(err, USAGE, e.getMessage());
    }
    NodeAgent agent;
    try {
      agent = NodeAgent.bind(agentSocket, configFile);
    } catch (IOException | IllegalStateException e) {
      return fail(err, USAGE, "--agent: cannot listen on " + agentSocket + ": " + e.getMessage());
    }
    OpsHttpServer ops;
    try {
      ops = http == null ? null : OpsHttpServer.start("node-agent", http.endpoint(),
          agent.metrics().daemon().registry(), java.util.Map.of());
    } catch (ConfigException e) {
      agent.close();
      return fail(err, USAGE, configFile.getFileName() + ": " + e.getMessage());
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      agent.close();
      if (ops != null) {
        ops.close();
      }
    }, "node-agent-stop"));
    agent.serve();
    return OK;
  }

  /** --cleanup: destroys recorded guests of NodeManagers that are gone. 0 if nothing is left. */
  private int cleanup(PrintWriter err, String source) {
    NodeManagerConfig config;
    GuestDriver driver;
    try {
      config = configFile == null ? NodeManagerConfig.defaults()
          : NodeManagerConfig.load(configFile);
      driver = GuestDrivers.create(config.driver(),
          new DriverContext(config.driverConfig(), config.stateDir()));
    } catch (ConfigException | IllegalArgumentException | IllegalStateException e) {
      return fail(err, USAGE, source + ": " + e.getMessage());
    }
    List<String> left = new ArrayList<>();
    for (GuestHandle guest : driver.recover()) {
      driver.stop(guest);
      left.addAll(driver.destroy(guest));
      cmdSpec.commandLine().getOut().println("nodemanager: destroyed guest " + guest.id()
          + (guest.spec().hostname().isEmpty() ? "" : " (" + guest.spec().hostname() + ")"));
    }
    if (!left.isEmpty()) {
      return fail(err, FAILED, "cleanup left: " + String.join("; ", left));
    }
    return 0;
  }

  /**
   * Under sudo the NodeManager's key proves "a NodeManager of this site": the user who ran sudo
   * must not be able to read it, so it must be owned by root and readable by nobody else.
   */
  static void requireRootOnly(Path key) {
    try {
      int uid = (Integer) Files.getAttribute(key, "unix:uid");
      int mode = (Integer) Files.getAttribute(key, "unix:mode");
      if (uid != 0 || (mode & 077) != 0) {
        throw new ConfigException("tls.key: under sudo the NodeManager's key must be owned by root"
            + " with mode 0600 or stricter (" + key + " is not)");
      }
    } catch (java.io.IOException e) {
      throw new ConfigException("tls.key: cannot check " + key + ": " + e.getMessage());
    }
  }

  /** The invoking user when run as root through sudo, else null. */
  private static String sudoUser() {
    String u = System.getenv("SUDO_USER");
    return u == null || u.isEmpty() || u.equals("root") ? null : u;
  }
}
