package org.lambdagrid.grc.cli;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.security.cert.CertificateException;
import java.util.Map;
import javax.net.ssl.SSLException;
import org.lambdagrid.common.ConfigException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The {@code grc} command line: users reserve, submit and follow jobs. This root command holds
 * the global options ({@link Connection}: where the GRC is, which credentials) and turns failures
 * into one line on stderr and an exit code; each subcommand is its own class.
 *
 * <p>Exit codes: 0 success; 1 the GRC refused or failed the request, or cannot be reached;
 * 2 a bad command line or argument; with {@code submit --wait}: the command's exit code, 1 if
 * the job failed before its command ran, 130 if it was cancelled.
 *
 * <p>Output goes through picocli's {@code getOut()} / {@code getErr()} so tests capture it.
 */
@Command(name = "grc", mixinStandardHelpOptions = true, version = "lambdagrid grc 0.1",
    description = "Reserve nodes and bandwidth, submit and follow lambdagrid jobs.",
    subcommands = {SitesCommand.class, ReserveCommand.class, ReservationsCommand.class,
        SubmitCommand.class, StatusCommand.class, WatchCommand.class, LogsCommand.class,
        HostsCommand.class, CancelCommand.class, CommandLine.HelpCommand.class})
public final class GrcCli implements Runnable {
  @Mixin
  Connection connection;

  @Spec
  CommandSpec spec;

  /** The submitting user is the OS user running this process. */
  public GrcCli(Map<String, String> env) {
    this(env, System.getProperty("user.name"));
  }

  /** For tests: submit as {@code user} (the GRC refuses root). */
  GrcCli(Map<String, String> env, String user) {
    this.connection = new Connection(env, user);
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
      Connection conn = ((GrcCli) c.getCommandSpec().root().userObject()).connection;
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
          case UNAVAILABLE -> err.println("grc: cannot reach the GRC at " + conn.endpoint()
              + ": " + desc + tlsReason(s) + conn.unreachableHint(!tlsReason(s).isEmpty()));
          case DEADLINE_EXCEEDED -> err.println("grc: the GRC at " + conn.endpoint()
              + " did not answer in time: " + desc);
          case UNAUTHENTICATED -> err.println("grc: the GRC refused the "
              + conn.access().describeToken() + ": " + desc);
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
      tls |= t instanceof SSLException || t instanceof CertificateException;
      reason = t.getMessage() == null ? reason : t.getMessage();
    }
    return tls && reason != null ? " (TLS: " + reason + ")" : "";
  }
}
