package org.lambdagrid.common.ops;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Counts a daemon's gRPC calls: {@code lambdagrid_grpc_server_started_total{service,method}},
 * {@code lambdagrid_grpc_server_handled_total{service,method,code}} (code as gRPC names it: OK,
 * PERMISSION_DENIED, ...; CANCELLED for a call its client cancelled) and, for unary calls,
 * {@code lambdagrid_grpc_server_handling_seconds}.
 * Placed outside the authorizer, so refused calls are counted too.
 */
public final class GrpcServerMetrics implements ServerInterceptor {
  private final Counter started;
  private final Counter handled;
  private final Histogram seconds;

  public GrpcServerMetrics(PrometheusRegistry registry) {
    started = Counter.builder().name("lambdagrid_grpc_server_started_total")
        .help("gRPC calls received, by service and method")
        .labelNames("service", "method").register(registry);
    handled = Counter.builder().name("lambdagrid_grpc_server_handled_total")
        .help("gRPC calls completed, by service, method and status code")
        .labelNames("service", "method", "code").register(registry);
    seconds = Histogram.builder().name("lambdagrid_grpc_server_handling_seconds")
        .help("Time to complete a unary gRPC call, by service and method")
        .labelNames("service", "method").classicOnly()
        .classicUpperBounds(.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 120)
        .register(registry);
  }

  @Override
  public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
      ServerCallHandler<Q, A> next) {
    MethodDescriptor<Q, A> m = call.getMethodDescriptor();
    String service = String.valueOf(m.getServiceName());
    String method = String.valueOf(m.getBareMethodName());
    boolean unary = m.getType() == MethodDescriptor.MethodType.UNARY;
    long t0 = System.nanoTime();
    started.labelValues(service, method).inc();
    AtomicBoolean counted = new AtomicBoolean();
    ServerCall.Listener<Q> listener = next.startCall(new SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        if (counted.compareAndSet(false, true)) {
          handled.labelValues(service, method, status.getCode().name()).inc();
          if (unary) {
            seconds.labelValues(service, method).observe((System.nanoTime() - t0) / 1e9);
          }
        }
        super.close(status, trailers);
      }
    }, headers);
    // A call the client cancels (a watch stream it stops) never reaches close.
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onCancel() {
        if (counted.compareAndSet(false, true)) {
          handled.labelValues(service, method, Status.Code.CANCELLED.name()).inc();
        }
        super.onCancel();
      }
    };
  }
}
