package org.lambdagrid.crm.pilot;

/** The pilot's stream ended before it answered; the message names the node. */
public class PilotLostException extends RuntimeException {
  public PilotLostException(String message) {
    super(message);
  }
}
