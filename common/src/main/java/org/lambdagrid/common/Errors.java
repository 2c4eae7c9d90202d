package org.lambdagrid.common;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/**
 * Builds the gRPC errors the daemons return: a specific code and one sentence a person can act
 * on, naming the field and the value. Core logic throws {@link RequestException}; the gRPC
 * adapters turn it into a status with {@link #toStatus}.
 */
public final class Errors {
  private Errors() {}

  public static RequestException invalid(String field, Object value, String why) {
    return new RequestException(Status.Code.INVALID_ARGUMENT, field + ": '" + value + "' " + why);
  }

  public static RequestException notFound(String what) {
    return new RequestException(Status.Code.NOT_FOUND, what);
  }

  public static RequestException precondition(String what) {
    return new RequestException(Status.Code.FAILED_PRECONDITION, what);
  }

  public static RequestException alreadyExists(String what) {
    return new RequestException(Status.Code.ALREADY_EXISTS, what);
  }

  public static RequestException aborted(String what) {
    return new RequestException(Status.Code.ABORTED, what);
  }

  public static RequestException unavailable(String what) {
    return new RequestException(Status.Code.UNAVAILABLE, what);
  }

  /**
   * Maps any exception to a status; a failed state database is UNAVAILABLE, unexpected ones
   * become INTERNAL with their message.
   */
  public static StatusRuntimeException toStatus(Throwable t) {
    if (t instanceof StatusRuntimeException s) {
      return s;
    }
    if (t instanceof RequestException r) {
      return Status.fromCode(r.code()).withDescription(r.getMessage()).asRuntimeException();
    }
    if (t instanceof org.lambdagrid.common.store.StoreException) {
      // Nothing was committed: the caller may retry once the database is back.
      return Status.UNAVAILABLE.withDescription(t.getMessage()).asRuntimeException();
    }
    return Status.INTERNAL.withDescription(t.toString()).withCause(t).asRuntimeException();
  }

  /** A request the daemon refuses, with the gRPC code to refuse it with. */
  public static final class RequestException extends RuntimeException {
    private final Status.Code code;

    public RequestException(Status.Code code, String message) {
      super(message);
      this.code = code;
    }

    /** With the exception it was made from, for the log. */
    public RequestException(Status.Code code, String message, Throwable cause) {
      super(message, cause);
      this.code = code;
    }

    public Status.Code code() {
      return code;
    }
  }
}
