package org.lambdagrid.grc;

import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.Callable;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code grc-server [--config grc.yaml]}: runs the GRC until SIGTERM/SIGINT. */
@Command(name = "grc-server", mixinStandardHelpOptions = true,
    description = "The lambdagrid global resource coordinator.",
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {"0:stopped cleanly", "1:could not start (e.g. port in use, state database locked)",
        "2:bad command line or configuration"})
public final class GrcMain implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(GrcMain.class);

  @Option(names = "--config", paramLabel = "FILE",
      description = "YAML configuration (default: built-in defaults, listen 127.0.0.1:7300).")
  Path config;

  @Option(names = "--listen", paramLabel = "HOST:PORT",
      description = "Overrides the config's listen address.")
  String listen;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /** Loads the config; ConfigException names file, field and problem. */
  GrcConfig loadConfig() {
    GrcConfig cfg = config == null ? GrcConfig.defaults() : ConfigLoader.load(config, GrcConfig.class);
    if (listen != null) {
      try {
        cfg = cfg.withListen(listen);
      } catch (IllegalArgumentException e) {
        throw new ConfigException("--listen: " + e.getMessage().replaceFirst("^listen: ", ""));
      }
    }
    return cfg;
  }

  @Override
  public Integer call() throws Exception {
    GrcConfig cfg;
    GrcServer server;
    try {
      cfg = loadConfig();
      String source = config == null ? "built-in defaults" : config.getFileName().toString();
      server = GrcServer.tcp(source, cfg, Clock.systemUTC());
    } catch (ConfigException e) {
      spec.commandLine().getErr().println("grc-server: " + e.getMessage());
      return 2;
    } catch (StoreException e) {
      spec.commandLine().getErr().println("grc-server: " + e.getMessage());
      return 1;
    }
    if (cfg.tokens() != null) {
      log.info("token port {} (tokens file {})", cfg.tokens().listen(), cfg.tokens().file());
    }
    log.info("effective configuration:\n{}", ConfigLoader.render(cfg).strip());
    cfg.tls().warnIfInsecure(log, "grc-server");
    if (cfg.local() != null) {
      log.info("local login socket {} (sessions last {})", cfg.local().socket(),
          cfg.local().sessionTtl());
    }
    try {
      server.start();
    } catch (ConfigException e) {
      spec.commandLine().getErr().println("grc-server: " + e.getMessage());
      server.close();
      return 2;
    } catch (IllegalStateException e) {
      spec.commandLine().getErr().println("grc-server: " + e.getMessage());
      server.close();
      return 1;
    } catch (java.io.IOException e) {
      spec.commandLine().getErr().println("grc-server: cannot listen on " + cfg.listen() + ": "
          + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()));
      return 1;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "grc-shutdown"));
    server.awaitTermination();
    return 0;
  }

  /** {@code grc-server issue-token --file FILE [--operator] NAME}: prints a new bearer token. */
  @Command(name = "issue-token", mixinStandardHelpOptions = true,
      description = {"Issues a bearer token for a user (or an operator) and appends its hash to"
          + " the tokens file (created 0600). The token is printed once; give it to the user"
          + " (~/.lambdagrid/token). Revoke it by deleting its line."})
  int issueToken(
      @Option(names = "--file", required = true, paramLabel = "FILE",
          description = "The tokens file (grc.yaml tokens.file).") Path file,
      @Option(names = "--operator", description = "An operator token (sees every job).")
          boolean operator,
      @CommandLine.Parameters(paramLabel = "NAME", description = "The user's login name.")
          String name) throws java.io.IOException {
    try {
      String token = org.lambdagrid.common.security.BearerTokens.issue(file,
          operator ? org.lambdagrid.common.security.Role.OPERATOR
              : org.lambdagrid.common.security.Role.USER, name);
      spec.commandLine().getOut().println(token);
      return 0;
    } catch (IllegalArgumentException | org.lambdagrid.common.ConfigException e) {
      spec.commandLine().getErr().println("grc-server issue-token: " + e.getMessage());
      return 2;
    }
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new GrcMain()).execute(args));
  }
}
