package org.lambdagrid.grc.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * A {@code grc} subcommand: returns its exit code; prints through picocli's {@code getOut()} and
 * {@code getErr()} (so tests capture it) and dials through the root's {@link Connection}. Every
 * subcommand takes {@code -h}/{@code --help}, as its usage errors tell the user to.
 */
abstract class Subcommand implements Callable<Integer> {
  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
  boolean help;

  @ParentCommand
  GrcCli root;

  @Spec
  CommandSpec spec;

  Connection connection() {
    return root.connection;
  }

  PrintWriter out() {
    return spec.commandLine().getOut();
  }

  PrintWriter err() {
    return spec.commandLine().getErr();
  }
}
