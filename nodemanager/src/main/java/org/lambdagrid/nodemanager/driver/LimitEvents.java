package org.lambdagrid.nodemanager.driver;

import org.lambdagrid.common.Quantities;

/**
 * How often a guest's processes ran into its resource limits since it was built
 * ({@link GuestDriver#limitEvents}); counts only grow.
 *
 * @param oomKills processes the kernel's OOM killer killed because the guest's processes together
 *     reached its memory limit
 * @param memoryLimitBytes that limit; 0 when the guest has none
 */
public record LimitEvents(long oomKills, long memoryLimitBytes) {
  public static final LimitEvents NONE = new LimitEvents(0, 0);

  /** "its memory limit (256 MiB)". */
  public String memoryLimit() {
    return "its memory limit" + (memoryLimitBytes > 0
        ? " (" + Quantities.formatSize(memoryLimitBytes) + ")" : "");
  }

  /**
   * "the job exceeded its memory limit (256 MiB): the kernel's OOM killer killed 2 processes",
   * or "" when nothing was killed.
   */
  public String describe() {
    if (oomKills == 0) {
      return "";
    }
    return "the job exceeded " + memoryLimit() + ": the kernel's OOM killer killed "
        + (oomKills == 1 ? "a process" : oomKills + " processes");
  }
}
