package org.lambdagrid.grc.support;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.lambdagrid.common.Errors;

/**
 * How the GRC reads a failed call to a CRM or another participant: a gRPC status, or a
 * {@link Errors.RequestException} from an in-process one.
 */
public final class CallErrors {
  private CallErrors() {}

  /** The failure's status code; INTERNAL for anything else. */
  public static Status.Code code(Throwable t) {
    if (t instanceof StatusRuntimeException s) {
      return s.getStatus().getCode();
    }
    if (t instanceof Errors.RequestException r) {
      return r.code();
    }
    return Status.Code.INTERNAL;
  }

  /** The callee's description, or the code when it gave none. */
  public static String describe(Throwable t) {
    if (t instanceof StatusRuntimeException s) {
      String d = s.getStatus().getDescription();
      return d == null || d.isEmpty() ? s.getStatus().getCode().toString() : d;
    }
    if (t instanceof Errors.RequestException r) {
      return r.getMessage();
    }
    return String.valueOf(t);
  }
}
