package org.lambdagrid.nsi;

/** An NSI request that failed: the message names the provider, the request and its reason. */
public class NsiException extends RuntimeException {
  public NsiException(String message) {
    super(message);
  }

  public NsiException(String message, Throwable cause) {
    super(message, cause);
  }
}
