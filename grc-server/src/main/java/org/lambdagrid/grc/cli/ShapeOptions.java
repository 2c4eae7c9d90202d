package org.lambdagrid.grc.cli;

import java.util.OptionalInt;
import java.util.OptionalLong;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.Quantities;
import picocli.CommandLine.Option;

/**
 * {@code --cpus N} and {@code --memory SIZE}: the shape of every node of a job or reservation
 * (the guest runs on N of the node's CPUs and sees only those; its processes together may use
 * SIZE). A bad value is a {@link UserError} naming the option and the value; the GRC checks the
 * same bounds again ({@link NodeShape}).
 */
final class ShapeOptions {
  @Option(names = "--cpus", paramLabel = "N",
      description = "CPUs per node: the guest runs on N of the node's CPUs and the job sees only"
          + " those (nproc, Open MPI's binding). Default: all of the node's.")
  String cpus;

  @Option(names = "--memory", paramLabel = "SIZE",
      description = "Memory per node for the guest's processes together, e.g. 512M, 2G (binary"
          + " units); a process beyond it is killed and the job says so. Default: no limit.")
  String memory;

  /** Whether either option was given. */
  boolean given() {
    return cpus != null || memory != null;
  }

  /** {@code --cpus}; empty when not given. */
  OptionalInt cpus() {
    if (cpus == null) {
      return OptionalInt.empty();
    }
    long n;
    try {
      n = Long.parseLong(cpus.trim());
    } catch (NumberFormatException e) {
      throw new UserError("--cpus: '" + cpus + "' is not a whole number of CPUs", 2);
    }
    try {
      NodeShape.checkCpus("--cpus", n);
    } catch (Errors.RequestException e) {
      throw new UserError(e.getMessage(), 2);
    }
    return OptionalInt.of((int) n);
  }

  /** {@code --memory} in bytes; empty when not given. */
  OptionalLong memoryBytes() {
    if (memory == null) {
      return OptionalLong.empty();
    }
    long bytes;
    try {
      bytes = Quantities.parseSize(memory);
    } catch (IllegalArgumentException e) {
      throw new UserError("--memory: " + e.getMessage(), 2);
    }
    try {
      NodeShape.checkMemory("--memory", bytes);
    } catch (Errors.RequestException e) {
      throw new UserError(e.getMessage().replace("'" + bytes + "'", "'" + memory + "'"), 2);
    }
    return OptionalLong.of(bytes);
  }
}
