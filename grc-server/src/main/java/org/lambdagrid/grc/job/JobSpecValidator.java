package org.lambdagrid.grc.job;

import java.time.Clock;
import java.time.DateTimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.PosixNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.proto.v1.JobSpec;

/**
 * Checks a submitted {@link JobSpec} before anything is reserved. The reservation's own checks
 * (capacity, window limits) come after, in the reservation service.
 */
final class JobSpecValidator {
  /** How far in the past a given start may lie (clock skew) and still be taken as "now". */
  private static final Duration START_SLACK = Duration.ofMinutes(1);

  private final SiteRegistry registry;
  private final Clock clock;

  JobSpecValidator(SiteRegistry registry, Clock clock) {
    this.registry = registry;
    this.clock = clock;
  }

  /**
   * @throws Errors.RequestException INVALID_ARGUMENT naming the field and value; NOT_FOUND for a
   *     site that is not registered
   */
  void check(JobSpec spec) {
    if (!spec.getReservationId().isEmpty()) {
      if (spec.hasStart() || spec.hasDuration() || spec.getBandwidthBps() != 0) {
        throw Errors.invalid("spec.reservation_id", spec.getReservationId(), "cannot be given"
            + " with spec.start, spec.duration or spec.bandwidth_bps: the job runs in the"
            + " reservation's window with its bandwidth");
      }
    } else if (spec.getSiteNodesCount() == 0) {
      throw Errors.invalid("spec.site_nodes", "", "is empty; ask for nodes on at least one site");
    }
    for (Map.Entry<String, Integer> e : new TreeMap<>(spec.getSiteNodesMap()).entrySet()) {
      if (e.getValue() < 1) {
        throw Errors.invalid("spec.site_nodes[" + e.getKey() + "]", e.getValue(),
            "must be at least 1");
      }
      registry.require(e.getKey());
    }
    if (spec.getArgvCount() == 0 || spec.getArgv(0).isEmpty()) {
      throw Errors.invalid("spec.argv", String.join(" ", spec.getArgvList()),
          "is empty; give the command to run");
    }
    if (!spec.getWorkingDirectory().startsWith("/")) {
      throw Errors.invalid("spec.working_directory", spec.getWorkingDirectory(),
          "is not an absolute path");
    }
    if (!PosixNames.LOGIN.matcher(spec.getUser()).matches()) {
      throw Errors.invalid("spec.user", spec.getUser(), "is not a login name");
    }
    if (spec.getUser().equals("root")) {
      throw Errors.invalid("spec.user", spec.getUser(), "may not run jobs; jobs never run as root");
    }
    if (spec.hasDuration()) {
      Duration d = ProtoTime.fromProto(spec.getDuration());
      if (d.isNegative() || d.isZero()) {
        throw Errors.invalid("spec.duration", d, "must be positive");
      }
    }
    if (spec.hasStart()) {
      Instant start;
      try {
        start = ProtoTime.fromProto(spec.getStart());
      } catch (DateTimeException e) {
        throw Errors.invalid("spec.start", spec.getStart().getSeconds() + "s",
            "is not a representable time");
      }
      if (start.isBefore(clock.instant().minus(START_SLACK))) {
        throw Errors.invalid("spec.start", start, "is in the past");
      }
    }
    if (spec.hasCpus()) {
      NodeShape.checkCpus("spec.cpus", spec.getCpus());
    }
    if (spec.hasMemoryBytes()) {
      NodeShape.checkMemory("spec.memory_bytes", spec.getMemoryBytes());
    }
    if (spec.getBandwidthBps() < 0) {
      throw Errors.invalid("spec.bandwidth_bps", spec.getBandwidthBps(), "must not be negative");
    }
    for (String k : new TreeSet<>(spec.getEnvMap().keySet())) {
      if (!PosixNames.ENV_NAME.matcher(k).matches()) {
        throw Errors.invalid("spec.env", k, "is not an environment variable name");
      }
    }
  }
}
