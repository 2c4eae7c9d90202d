package org.lambdagrid.nodemanager.driver;

/** A driver operation failed; the message says what and why, in words an operator can act on. */
public class GuestException extends Exception {
  public GuestException(String message) {
    super(message);
  }

  public GuestException(String message, Throwable cause) {
    super(message, cause);
  }
}
