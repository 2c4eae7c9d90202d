package org.lambdagrid.grc.cli;

import picocli.CommandLine.Option;

/** {@code -o text|json}: how a command prints its answer. */
final class FormatOption {
  @Option(names = {"-o", "--output"}, paramLabel = "FORMAT",
      description = "Output format: text (default) or json.")
  String format = "text";

  /** Whether to print JSON; any format but text and json is a {@link UserError}. */
  boolean json() {
    if (!format.equals("json") && !format.equals("text")) {
      throw new UserError("-o: '" + format + "' is not a format (text, json)", 2);
    }
    return format.equals("json");
  }
}
