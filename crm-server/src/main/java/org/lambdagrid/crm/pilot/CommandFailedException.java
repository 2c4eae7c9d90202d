package org.lambdagrid.crm.pilot;

/** The pilot answered a command with an error; the message is the pilot's error text. */
public class CommandFailedException extends RuntimeException {
  public CommandFailedException(String error) {
    super(error);
  }
}
