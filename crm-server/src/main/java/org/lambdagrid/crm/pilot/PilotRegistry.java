package org.lambdagrid.crm.pilot;

import org.lambdagrid.common.Errors.RequestException;
import org.lambdagrid.proto.v1.PilotHello;

/** Decides whether a pilot's hello is accepted and which node it becomes. */
public interface PilotRegistry {
  /**
   * Validates the hello and binds the session to its node. The credential is consumed: a second
   * hello with it is refused.
   *
   * @return the node's listener, which receives the session's notifications from now on
   * @throws RequestException with PERMISSION_DENIED for an unknown job, a node index out of
   *     range, or a wrong, reused or expired credential
   */
  PilotListener accept(PilotHello hello, PilotSession session);
}
