package org.lambdagrid.common.ops;

import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * One daemon's metrics: its own registry (several daemons may share a JVM in tests, so never
 * the process-wide default), the JVM's and process's standard metrics, and the gRPC call
 * counters ({@link #grpc}) its servers report to. Each role registers its own on top
 * ({@code GrcMetrics}, {@code CrmMetrics}, the node agent's guest counters).
 */
public final class DaemonMetrics {
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final GrpcServerMetrics grpc;

  public DaemonMetrics() {
    JvmMetrics.builder().register(registry);
    grpc = new GrpcServerMetrics(registry);
  }

  public PrometheusRegistry registry() {
    return registry;
  }

  /** The interceptor every gRPC server of this daemon goes through. */
  public GrpcServerMetrics grpc() {
    return grpc;
  }
}
