package org.lambdagrid.crm;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import org.lambdagrid.common.Channels;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.store.StoreException;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.TlsConfig;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.pilot.LocalPilotStarter;
import org.lambdagrid.crm.pilot.PilotStarter;
import org.lambdagrid.crm.pilot.SlurmPilotStarter;
import org.lambdagrid.crm.pilot.SlurmReservations;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code crm-server --config crm.yaml}: runs a site's CRM until SIGTERM/SIGINT.
 *
 * <p>Exit codes: 0 after a clean shutdown, 1 when the server cannot start or the GRC refuses the
 * registration, 2 for a bad command line or configuration (one line naming file, field, problem).
 */
@Command(name = "crm-server", mixinStandardHelpOptions = true,
    description = "Runs a site's compute resource manager (CRM).")
public final class CrmMain implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(CrmMain.class);

  @Option(names = {"-c", "--config"}, required = true, paramLabel = "FILE",
      description = "the CRM's YAML configuration (see CrmConfig)")
  Path config;

  public static void main(String[] args) {
    System.exit(new CommandLine(new CrmMain()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    CrmConfig cfg;
    PilotStarter starter;
    NettyServerBuilder builder;
    ManagedChannel grc;
    String source = config.getFileName().toString();
    try {
      cfg = ConfigLoader.load(config, CrmConfig.class);
      starter = starter(cfg);
      TlsConfig tls = TlsConfig.require(source, cfg.tls());
      builder = DaemonServer.netty(source, cfg.listenEndpoint(), tls);
      grc = Channels.forEndpoint(source, cfg.grcEndpoint(), tls, Role.GRC, null);
    } catch (ConfigException e) {
      System.err.println(e.getMessage());
      return 2;
    } catch (IllegalArgumentException e) {
      System.err.println(source + ": " + e.getMessage());
      return 2;
    }
    log.info("effective configuration from {}:\n{}", config, ConfigLoader.render(cfg));
    cfg.tls().warnIfInsecure(log, "crm-server");
    JdbcSiteLedger ledger;
    try {
      ledger = JdbcSiteLedger.open(cfg);
    } catch (StoreException e) {
      System.err.println("crm-server: " + e.getMessage());
      Channels.close(grc);
      return 1;
    }
    CrmServer server = new CrmServer(cfg, starter, batchReservations(cfg), builder,
        new GrpcGrcRegistrar(grc, Duration.ofSeconds(10)), ledger, java.time.Clock.systemUTC());
    try {
      server.start();
    } catch (ConfigException e) {
      System.err.println("crm-server: " + source + ": " + e.getMessage());
      server.close();
      Channels.close(grc);
      return 2;
    } catch (IOException e) {
      System.err.println("crm-server: cannot listen on " + cfg.listen() + ": " + e.getMessage());
      Channels.close(grc);
      return 1;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      Channels.close(grc);
    }, "crm-shutdown"));
    try {
      server.registration().get();
    } catch (ExecutionException e) {
      String why = e.getCause() instanceof StatusRuntimeException s
          ? s.getStatus().getCode() + ": " + s.getStatus().getDescription() : e.getCause().toString();
      System.err.println("crm-server: the GRC at " + cfg.grc() + " refused site '" + cfg.site()
          + "': " + why);
      server.close();
      Channels.close(grc);
      return 1;
    } catch (CancellationException e) {
      return 0; // closed before registering (shutdown hook)
    }
    server.awaitTermination();
    return 0;
  }

  /**
   * Slurm advance reservations with the Slurm starter (unless {@code pilot.slurm.reserve:
   * false}); none otherwise.
   */
  static BatchReservations batchReservations(CrmConfig cfg) {
    CrmConfig.Pilot p = cfg.pilot();
    if (!p.starter().equals("slurm") || !p.slurm().reserve()) {
      return BatchReservations.NONE;
    }
    CrmConfig.Slurm s = p.slurm();
    return new SlurmReservations(new SlurmReservations.Options(cfg.site(), s.partition(),
        s.account(), s.pilotsPerNode(), p.runAsUser(),
        s.binDir() == null ? null : List.of(Path.of(s.binDir()))));
  }

  static PilotStarter starter(CrmConfig cfg) {
    CrmConfig.Pilot p = cfg.pilot();
    if (p.starter().equals("slurm")) {
      CrmConfig.Slurm s = p.slurm();
      return new SlurmPilotStarter(new SlurmPilotStarter.Options(Path.of(p.launcher()),
          p.runAsUser(), p.extraArgs(), p.nodemanagerProfile(),
          s.logDir() != null ? Path.of(s.logDir()) : Path.of(cfg.stateDir(), "pilots"),
          s.partition(), s.account(), s.extraArgs(), s.pendingGraceDuration(),
          p.stopGraceDuration(), Duration.ofSeconds(1),
          s.binDir() == null ? null : List.of(Path.of(s.binDir()))));
    }
    // "local"; CrmConfig rejects other names.
    return new LocalPilotStarter(new LocalPilotStarter.Options(Path.of(p.launcher()),
        p.runAsUser(), p.extraArgs(), p.nodemanagerProfile(),
        Path.of(cfg.stateDir(), "pilots"), p.stopGraceDuration(), Duration.ofSeconds(5)));
  }
}
