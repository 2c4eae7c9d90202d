package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The guest build as a list of steps: run forward by {@link #build}, backward by {@link #undo}
 * (after a failed build, on destroy, and on destroy after {@code recover}: the same code, from
 * the record alone).
 */
final class GuestSteps {
  private static final Logger log = LoggerFactory.getLogger(GuestSteps.class);
  private final List<GuestStep> steps;

  GuestSteps(List<GuestStep> steps) {
    this.steps = List.copyOf(steps);
  }

  /**
   * The namespaces guest: files (and the user's ~/.ssh as a mount point), cgroups (only for a
   * guest given CPUs or memory), keys, network (netns and eth0), processes (the holder and the
   * guest's init, started in the cgroups). The files go first so their undo, which removes the
   * record, comes last.
   */
  static GuestSteps of(NamespacesDriverConfig config) {
    return new GuestSteps(List.of(new FilesStep(config),
        new CgroupStep(CgroupHost.system(), CgroupFs.KERNEL), new KeysStep(),
        new NetworkStep(config), new ProcessesStep(config)));
  }

  /** The steps, in build order. */
  List<GuestStep> steps() {
    return steps;
  }

  /**
   * Checks every step ({@link GuestStep#check}), then plans, saves the record and builds each
   * step in turn; stops at the first failure, leaving the undo to the caller. Logs (debug) the
   * milliseconds each step took.
   */
  void build(NewGuest guest) throws GuestException, IOException {
    for (GuestStep step : steps) {
      step.check(guest);
    }
    StringBuilder times = log.isDebugEnabled() ? new StringBuilder() : null;
    for (GuestStep step : steps) {
      long t0 = System.nanoTime();
      step.plan(guest);
      guest.record().save();
      step.build(guest);
      if (times != null) {
        times.append(' ').append(step.getClass().getSimpleName()).append('=')
            .append((System.nanoTime() - t0) / 1_000_000).append("ms");
      }
    }
    if (times != null) {
      log.debug("guest {} built:{}", guest.record().dir().getFileName(), times);
    }
  }

  /**
   * Undoes every step, last first; returns what is left (empty when everything is gone). A step
   * whose undo throws (a damaged record: a pid that is no number) is reported, naming the record
   * file and the step, and the others still run; the state directory then stays.
   */
  List<String> undo(GuestRecord rec) {
    List<String> problems = new ArrayList<>();
    for (int i = steps.size() - 1; i >= 0; i--) {
      GuestStep step = steps.get(i);
      if (step.undoNeedsLaterStepsGone() && !problems.isEmpty()) {
        continue;
      }
      try {
        problems.addAll(step.undo(rec));
      } catch (RuntimeException e) {
        problems.add("guest record " + rec.dir().resolve(GuestRecord.FILE) + ": "
            + step.getClass().getSimpleName() + " undo: " + e.getMessage());
      }
    }
    return problems;
  }
}
