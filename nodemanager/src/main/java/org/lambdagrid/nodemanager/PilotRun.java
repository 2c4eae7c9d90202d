package org.lambdagrid.nodemanager;

import static org.lambdagrid.nodemanager.NodeManagerMain.CRM_FAILED;
import static org.lambdagrid.nodemanager.NodeManagerMain.FAILED;
import static org.lambdagrid.nodemanager.NodeManagerMain.HOST_UNSUITABLE;
import static org.lambdagrid.nodemanager.NodeManagerMain.OK;
import static org.lambdagrid.nodemanager.NodeManagerMain.USAGE;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.security.SecurePaths;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestDrivers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One pilot, from its configuration to its exit code: load and check the config, build the
 * driver, dial the CRM, obey it until the CRM shuts the pilot down, a lifeline ends ("the
 * launcher is gone"), the process is told to stop, or the CRM is lost for good (refused the
 * pilot, or broke the stream and did not take it back within {@code reconnect_grace}: see
 * {@link NodeManager}), then tear the guest down. A broken stream alone does not end the run:
 * the NodeManager redials over the same channel, which this method keeps open until the end.
 *
 * <p>Shared by the two ways a pilot runs: {@code nodemanager --crm ...} (one JVM per pilot,
 * started by the launcher through sudo) and the node agent (many pilots in one long-lived JVM,
 * see {@link org.lambdagrid.nodemanager.agent.NodeAgent}). The rules do not depend on the way:
 * when {@code identity.launchedBy()} is set (a user started the pilot) the config must be a file
 * only root can change and the TLS key must be readable by root only, and the guest is for that
 * user only.
 *
 * <p>Errors are one line on {@code err}, "nodemanager: ...", with the exit codes of
 * {@link NodeManagerMain}.
 */
public final class PilotRun {
  private static final Logger log = LoggerFactory.getLogger(PilotRun.class);

  private PilotRun() {}

  /**
   * Runs the pilot to its end; returns the exit code.
   *
   * @param configFile the NodeManager config, or null for the defaults
   * @param lifelines their end means "the launcher is gone"; started here
   * @param shutdownHook tear down on SIGTERM/SIGINT of this JVM (the one-pilot command); the
   *     agent instead ends its pilots' lifelines
   * @param channels where the channel to the CRM comes from (one per pilot, or the agent's shared)
   */
  public static int run(Endpoint crm, PilotIdentity identity, Path configFile,
      List<Lifeline> lifelines, PrintWriter err, boolean shutdownHook, CrmChannels channels)
      throws InterruptedException {
    return run(crm, identity, configFile, lifelines, err, shutdownHook, channels,
        UnaryOperator.identity());
  }

  /** As above, the pilot's guest driver wrapped by {@code driverWrap} (the agent's metrics). */
  public static int run(Endpoint crm, PilotIdentity identity, Path configFile,
      List<Lifeline> lifelines, PrintWriter err, boolean shutdownHook, CrmChannels channels,
      UnaryOperator<GuestDriver> driverWrap) throws InterruptedException {
    String source = configFile == null ? "defaults" : configFile.getFileName().toString();
    boolean byUser = identity.launchedBy() != null;
    NodeManagerConfig config;
    try {
      config = configFile == null ? NodeManagerConfig.defaults()
          : byUser ? loadOperatorConfig(configFile) : NodeManagerConfig.load(configFile);
    } catch (ConfigException e) {
      return fail(err, USAGE, e.getMessage());
    }
    TlsConfig tls;
    String crmSite;
    try {
      tls = TlsConfig.require(source, config.tls());
      if (!tls.isInsecure() && byUser) {
        NodeManagerMain.requireRootOnly(Path.of(tls.key()));
      }
      // The CRM must be the CRM of this NodeManager's own site: the CN of its certificate.
      crmSite = tls.isInsecure() ? null : Tls.identity(source, tls).name();
      Tls.channelCredentials(source, tls, Role.CRM, crmSite); // reads the files now
    } catch (ConfigException e) {
      return fail(err, USAGE, e.getMessage());
    }
    try {
      if (byUser) {
        SecurePaths.createRootOnlyDirectory(config.stateDir(), source + ": state_dir");
      } else {
        Files.createDirectories(config.stateDir());
      }
    } catch (ConfigException e) {
      return fail(err, USAGE, e.getMessage());
    } catch (IOException | UnsupportedOperationException e) {
      return fail(err, USAGE, source + ": state_dir: cannot create '" + config.stateDir() + "': "
          + e);
    }
    GuestDriver driver;
    try {
      driver = driverWrap.apply(GuestDrivers.create(config.driver(),
          new DriverContext(config.driverConfig(), config.stateDir())));
    } catch (GuestDrivers.UnknownDriverException e) {
      return fail(err, USAGE, source + ": driver: " + e.getMessage());
    } catch (IllegalArgumentException e) {
      return fail(err, USAGE, source + ": driver_config: " + e.getMessage());
    } catch (IllegalStateException e) {
      return fail(err, HOST_UNSUITABLE, "driver " + config.driver() + ": " + e.getMessage());
    }
    log.info("nodemanager for job {} node {}, CRM {}, effective config ({}):\n{}",
        identity.jobId(), identity.nodeIndex(), crm, source, config.render());
    config.tls().warnIfInsecure(log, "nodemanager");

    List<String> reasons = driver.checkHost();
    if (!reasons.isEmpty()) {
      return fail(err, HOST_UNSUITABLE, "the " + driver.name() + " driver cannot run on this host: "
          + String.join("; ", reasons));
    }

    CrmChannels.Lease channel = channels.open(source, crm, tls, crmSite);
    NodeManager nm = new NodeManager(config, driver, channel.channel(), identity);
    // On SIGTERM/SIGINT: tear down, then let the last notifications (STOPPED) reach the CRM
    // before the JVM halts.
    Thread hook = shutdownHook ? new Thread(() -> {
      nm.close();
      channel.close();
    }, "nodemanager-signal") : null;
    if (hook != null) {
      Runtime.getRuntime().addShutdownHook(hook);
    }
    try {
      lifelines.forEach(nm::closeWhenEnded);
      try {
        nm.start();
      } catch (CrmUnreachableException e) {
        return fail(err, CRM_FAILED, e.getMessage());
      }
      Termination t = nm.awaitTermination();
      if (!t.leftovers().isEmpty()) {
        return fail(err, FAILED, t.message() + "; teardown left: "
            + String.join("; ", t.leftovers()));
      }
      if (t.reason() == Termination.Reason.CRM_FAILED) {
        return fail(err, CRM_FAILED, t.message());
      }
      log.info("nodemanager for job {} node {} exiting: {}", identity.jobId(),
          identity.nodeIndex(), t.message());
      return OK;
    } finally {
      lifelines.forEach(Lifeline::close);
      if (hook != null) {
        try {
          Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
          // already shutting down: the hook is running and tears down
        }
      }
      channel.close();
    }
  }

  /**
   * The config of a pilot a user started: a file only root can change, read through its checked
   * path ({@link SecurePaths#readRootOnlyFile}). A parse error goes to this process's log (root's),
   * not to the user: it could quote the file.
   */
  static NodeManagerConfig loadOperatorConfig(Path file) {
    String text = SecurePaths.readRootOnlyFile(file, "config");
    try {
      return ConfigLoader.parse(file.getFileName().toString(), text, NodeManagerConfig.class);
    } catch (ConfigException e) {
      log.error("the operator's NodeManager config {} is not valid: {}", file, e.getMessage());
      throw new ConfigException("config: the operator's NodeManager config " + file + " is not"
          + " valid; the node's NodeManager log says why");
    }
  }

  /** Prints "nodemanager: MESSAGE" on {@code err}; returns {@code code}. */
  public static int fail(PrintWriter err, int code, String message) {
    err.println("nodemanager: " + message);
    err.flush();
    return code;
  }
}
