package org.lambdagrid.common;

import io.grpc.stub.StreamObserver;
import java.util.function.Supplier;

/** The one way the daemons' gRPC adapters answer a unary call. */
public final class GrpcCalls {
  private GrpcCalls() {}

  /**
   * Runs {@code call} and sends its result, or the status {@link Errors#toStatus} maps its
   * exception to (a {@link Errors.RequestException} keeps its code and message).
   */
  public static <T> void unary(StreamObserver<T> out, Supplier<T> call) {
    T result;
    try {
      result = call.get();
    } catch (RuntimeException e) {
      out.onError(Errors.toStatus(e));
      return;
    }
    out.onNext(result);
    out.onCompleted();
  }
}
