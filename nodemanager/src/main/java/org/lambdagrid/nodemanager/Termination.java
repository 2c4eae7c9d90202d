package org.lambdagrid.nodemanager;

import java.util.List;

/**
 * Why and how a {@link NodeManager} ended. The guest is torn down in every case; {@code
 * leftovers} lists what the driver could not remove.
 *
 * @param reason what ended it
 * @param message one line for a person: what happened, naming the CRM or the launcher
 * @param leftovers what teardown could not remove (empty when nothing is left)
 */
public record Termination(Reason reason, String message, List<String> leftovers) {
  public Termination {
    leftovers = List.copyOf(leftovers);
  }

  /** What ended the NodeManager. */
  public enum Reason {
    /** The CRM sent SHUTDOWN. */
    SHUTDOWN,
    /** {@link NodeManager#close} was called: the launcher went away, a signal, or the embedder. */
    CLOSED,
    /** The CRM completed the stream without SHUTDOWN before it had welcomed the pilot. */
    CRM_CLOSED,
    /**
     * The stream failed: the CRM refused the pilot, broke off before welcoming it, or could not
     * be reached; or, after a welcomed stream broke, the CRM refused to re-adopt the pilot or did
     * not take it back within {@code reconnect_grace}.
     */
    CRM_FAILED
  }

  /** The NodeManager ended as asked (SHUTDOWN, close, or the CRM closing) and left nothing. */
  public boolean clean() {
    return reason != Reason.CRM_FAILED && leftovers.isEmpty();
  }
}
