package org.lambdagrid.common;

import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;

/** The one way the daemons' gRPC adapters answer a unary call and feed a server stream. */
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

  /**
   * Feeds a server stream from a subscription: {@code subscribe} gets the stream, starts
   * delivering to it (it completes the stream itself at the end) and returns how to stop; a
   * client that cancels stops it. An exception from {@code subscribe} ends the call with the
   * status {@link Errors#toStatus} maps it to.
   */
  public static <T> void serverStream(StreamObserver<T> out,
      Function<ServerCallStreamObserver<T>, Runnable> subscribe) {
    ServerCallStreamObserver<T> call = (ServerCallStreamObserver<T>) out;
    AtomicReference<Runnable> stop = new AtomicReference<>(() -> { });
    call.setOnCancelHandler(() -> stop.get().run());
    try {
      stop.set(subscribe.apply(call));
    } catch (RuntimeException e) {
      out.onError(Errors.toStatus(e));
    }
  }

  /**
   * Feeds a server stream from {@code open}'s source through a {@link StreamPump}: items are
   * taken only while the client keeps up (isReady / the onReady handler), {@code batch} at a
   * time, and mapped by {@code response}. A client that cancels stops the pump. An exception
   * from {@code open} or from the source ends the call with the status {@link Errors#toStatus}
   * maps it to.
   */
  public static <T, R> void pumped(StreamObserver<R> out, Supplier<StreamPump.Source<T>> open,
      Function<T, R> response, int batch) {
    ServerCallStreamObserver<R> call = (ServerCallStreamObserver<R>) out;
    StreamPump.Source<T> source;
    try {
      source = open.get();
    } catch (RuntimeException e) {
      out.onError(Errors.toStatus(e));
      return;
    }
    StreamPump<T> pump = new StreamPump<>(source, new StreamPump.Sink<T>() {
      @Override
      public boolean isReady() {
        return call.isReady();
      }

      @Override
      public void send(T item) {
        call.onNext(response.apply(item));
      }

      @Override
      public void complete() {
        call.onCompleted();
      }

      @Override
      public void fail(RuntimeException e) {
        call.onError(Errors.toStatus(e));
      }
    }, batch);
    call.setOnCancelHandler(pump::stop);
    call.setOnReadyHandler(pump::drain);
    pump.drain();
  }
}
