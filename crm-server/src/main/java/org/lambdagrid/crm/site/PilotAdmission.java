package org.lambdagrid.crm.site;

import static org.lambdagrid.proto.v1.NodeState.NODE_LOST;
import static org.lambdagrid.proto.v1.NodeState.NODE_STOPPED;

import io.grpc.Status;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import org.lambdagrid.common.Errors.RequestException;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.PilotHello;

/**
 * Whether a pilot's hello may take its node of one share, decided on plain values before the
 * share binds the pilot's stream. A first hello must carry the node's launch credential, not used
 * yet and not expired; a resumed one the reconnect credential of a node that is neither LOST nor
 * STOPPED and has no pilot connected. A wrong credential is reported before anything else about
 * the node, so an impostor learns nothing more.
 *
 * <p>Every refusal is PERMISSION_DENIED "pilot refused: node I of job J: why", except a resume
 * while the CRM is stopping: UNAVAILABLE, so the pilot redials. Not thread-safe: call under the
 * lock that guards the seats.
 */
final class PilotAdmission {
  /** What admission sees of one node. */
  interface Seat {
    PilotCredentials credentials();

    NodeState state();

    /** Why the node is LOST, or null. */
    String lostMessage();

    boolean pilotConnected();
  }

  private final String jobId;
  private final String site;
  private final Clock clock;

  /** @param clock decides whether a launch credential expired */
  PilotAdmission(String jobId, String site, Clock clock) {
    this.jobId = jobId;
    this.site = site;
    this.clock = clock;
  }

  /**
   * Admits a first hello: its node's launch credential is used up and {@code reconnect} bound to
   * it.
   *
   * @param seats the share's nodes by index (empty before any pilot was started)
   * @param released the share was released: it takes no pilot any more
   * @return the hello's node
   * @throws RequestException PERMISSION_DENIED
   */
  <S extends Seat> S admit(PilotHello hello, List<S> seats, boolean released, String reconnect) {
    String who = who(hello);
    if (released) {
      throw refused(who + ": the share was released");
    }
    if (!exists(hello, seats)) {
      throw refused(who + ": no such node (the job has "
          + (seats.isEmpty() ? "no pilots started" : seats.size() + " nodes") + " on site '"
          + site + "')");
    }
    S seat = seats.get(hello.getNodeIndex());
    PilotCredentials c = seat.credentials();
    if (!c.isLaunchCredential(hello.getCredential())) {
      throw refused(who + ": wrong credential");
    }
    if (c.used()) {
      throw refused(who + ": the credential was already used");
    }
    Instant now = clock.instant();
    if (c.expiredAt(now)) {
      throw refused(who + ": the credential expired at " + c.expiry());
    }
    c.useUp();
    c.bindReconnect(reconnect);
    return seat;
  }

  /**
   * Admits a resumed hello (a pilot redialling after its stream broke).
   *
   * @param suspended this CRM is stopping and keeps the share for its next start
   * @return the hello's node
   * @throws RequestException PERMISSION_DENIED, or UNAVAILABLE when suspended
   */
  <S extends Seat> S readmit(PilotHello hello, List<S> seats, boolean released,
      boolean suspended) {
    String who = who(hello);
    if (released) {
      throw refused(who + ": the share was released");
    }
    if (suspended) {
      throw new RequestException(Status.Code.UNAVAILABLE, "the CRM is stopping; redial");
    }
    if (!exists(hello, seats)) {
      throw refused(who + ": no such node");
    }
    S seat = seats.get(hello.getNodeIndex());
    if (!seat.credentials().isReconnectCredential(hello.getCredential())) {
      throw refused(who + ": wrong reconnect credential");
    }
    if (seat.state() == NODE_LOST || seat.state() == NODE_STOPPED) {
      throw refused(who + ": the node is " + ProtoNames.shortName(seat.state())
          + (seat.lostMessage() == null ? "" : " (" + seat.lostMessage() + ")"));
    }
    if (seat.pilotConnected()) {
      throw refused(who + ": its pilot is still connected");
    }
    return seat;
  }

  /** PERMISSION_DENIED "pilot refused: why". */
  static RequestException refused(String why) {
    return new RequestException(Status.Code.PERMISSION_DENIED, "pilot refused: " + why);
  }

  private String who(PilotHello hello) {
    return "node " + hello.getNodeIndex() + " of job " + jobId;
  }

  private static boolean exists(PilotHello hello, List<?> seats) {
    return hello.getNodeIndex() >= 0 && hello.getNodeIndex() < seats.size();
  }
}
