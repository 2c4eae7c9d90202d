package org.lambdagrid.common.reservation;

import io.grpc.Status;

/**
 * A resource manager's answer to prepare, as a two-phase-commit coordinator (the GRC's TwoPhaseCommit) records it.
 * A refusal carries the gRPC code and the manager's sentence; a timeout is recorded by the
 * coordinator for a manager that did not answer in time.
 */
public record Vote(Kind kind, Status.Code code, String reason) {
  public enum Kind { PREPARED, REFUSED, TIMED_OUT }

  public static Vote prepared() {
    return new Vote(Kind.PREPARED, Status.Code.OK, "");
  }

  public static Vote refused(Status.Code code, String reason) {
    return new Vote(Kind.REFUSED, code, reason);
  }

  public static Vote timedOut(String reason) {
    return new Vote(Kind.TIMED_OUT, Status.Code.DEADLINE_EXCEEDED, reason);
  }

  public boolean isPrepared() {
    return kind == Kind.PREPARED;
  }
}
