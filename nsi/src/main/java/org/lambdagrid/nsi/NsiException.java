package org.lambdagrid.nsi;

/**
 * An NSI request that failed: the message names the provider, the request and its reason.
 * {@link #refused} tells a provider's own refusal (reserveFailed, a SOAP fault, a failed
 * confirmation) from a provider that could not be reached or did not answer in time.
 */
public class NsiException extends RuntimeException {
  private final boolean refused;

  public NsiException(String message) {
    this(message, false, null);
  }

  public NsiException(String message, Throwable cause) {
    this(message, cause instanceof NsiException n && n.refused, cause);
  }

  public NsiException(String message, boolean refused, Throwable cause) {
    super(message, cause);
    this.refused = refused;
  }

  /** The provider answered, and said no. */
  public boolean refused() {
    return refused;
  }
}
