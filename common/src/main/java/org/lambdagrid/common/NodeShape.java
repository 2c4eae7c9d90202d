package org.lambdagrid.common;

/**
 * What a job asks for on each of its nodes: CPUs and memory, each 0 for "no limit" (the guest
 * then shares the whole node, as before shapes existed). Checked the same way wherever it
 * arrives: the GRC ({@code spec.cpus}, {@code spec.memory_bytes}), the CRM (SetupNodes) and the
 * NodeManager (SETUP), each naming its own field.
 *
 * @param cpus CPUs the guest may run on; 0 = all of the node's
 * @param memoryBytes memory the guest's processes may use together; 0 = no limit
 */
public record NodeShape(int cpus, long memoryBytes) {
  public static final NodeShape NONE = new NodeShape(0, 0);

  /**
   * The smallest memory limit: a guest's init, sshd and the job's shell need a few MiB; with
   * less the guest cannot start its sshd.
   */
  public static final long MIN_MEMORY_BYTES = 32L << 20;

  /** The most CPUs one node may be asked for (a bound against typos, not a real node's). */
  public static final int MAX_CPUS = 4096;

  /** Whether any limit is asked for. */
  public boolean limited() {
    return cpus > 0 || memoryBytes > 0;
  }

  /** "1 CPU, 256 MiB", "2 CPUs", "256 MiB", or "" when nothing is limited. */
  public String describe() {
    StringBuilder b = new StringBuilder();
    if (cpus > 0) {
      b.append(cpus).append(cpus == 1 ? " CPU" : " CPUs");
    }
    if (memoryBytes > 0) {
      b.append(b.length() > 0 ? ", " : "").append(Quantities.formatSize(memoryBytes));
    }
    return b.toString();
  }

  /**
   * A CPU count that was given: at least 1, at most {@link #MAX_CPUS}.
   *
   * @throws Errors.RequestException INVALID_ARGUMENT naming {@code field} and the value
   */
  public static void checkCpus(String field, long cpus) {
    if (cpus < 1) {
      throw Errors.invalid(field, cpus, "must be at least 1 (leave it unset for all of the"
          + " node's CPUs)");
    }
    if (cpus > MAX_CPUS) {
      throw Errors.invalid(field, cpus, "is more CPUs than any node has (at most " + MAX_CPUS
          + ")");
    }
  }

  /**
   * A memory limit that was given: at least {@link #MIN_MEMORY_BYTES}.
   *
   * @throws Errors.RequestException INVALID_ARGUMENT naming {@code field} and the value
   */
  public static void checkMemory(String field, long bytes) {
    if (bytes < MIN_MEMORY_BYTES) {
      throw Errors.invalid(field, bytes, "is less than the smallest memory limit, "
          + Quantities.formatSize(MIN_MEMORY_BYTES) + " (" + MIN_MEMORY_BYTES + " bytes): a"
          + " guest needs that much for its sshd and the job's shell");
    }
  }

  /**
   * Both fields as a wire message carries them, 0 meaning unset (CRM, NodeManager): negative
   * values and values below the bounds are refused.
   *
   * @throws Errors.RequestException INVALID_ARGUMENT naming the field and the value
   */
  public static NodeShape checked(String cpusField, long cpus, String memoryField,
      long memoryBytes) {
    if (cpus != 0) {
      checkCpus(cpusField, cpus);
    }
    if (memoryBytes != 0) {
      checkMemory(memoryField, memoryBytes);
    }
    return new NodeShape((int) cpus, memoryBytes);
  }
}
