package org.lambdagrid.crm.pilot;

/** A pilot could not be started; the message says why in words an operator can act on. */
public class PilotStartException extends Exception {
  public PilotStartException(String message) {
    super(message);
  }

  public PilotStartException(String message, Throwable cause) {
    super(message, cause);
  }
}
