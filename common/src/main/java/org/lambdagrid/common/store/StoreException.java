package org.lambdagrid.common.store;

/**
 * The state database failed: it could not be opened (the message names the URL or file and
 * says why, e.g. that another daemon holds it), or a read or write failed. A daemon that gets
 * one at start-up refuses to start; one during a request answers UNAVAILABLE, since nothing was
 * committed.
 */
public final class StoreException extends RuntimeException {
  public StoreException(String message, Throwable cause) {
    super(message, cause);
  }
}
