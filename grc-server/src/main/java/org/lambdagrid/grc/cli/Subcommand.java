package org.lambdagrid.grc.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * A {@code grc} subcommand: returns its exit code; prints through picocli's {@code getOut()} and
 * {@code getErr()} (so tests capture it) and dials through the root's {@link Connection}.
 */
abstract class Subcommand implements Callable<Integer> {
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
