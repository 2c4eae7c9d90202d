package org.lambdagrid.common;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A daemon's gRPC server: the given services plus the standard health service and server
 * reflection, so ordinary gRPC tools can inspect it. {@link #start} binds; {@link #close} shuts
 * down gracefully, then forcibly after a grace period.
 */
public final class DaemonServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DaemonServer.class);
  private final String name;
  private final Server server;
  private final HealthStatusManager health = new HealthStatusManager();

  /** Builds a server around a caller-supplied builder (TCP in production, in-process in tests). */
  public DaemonServer(String name, ServerBuilder<?> builder, List<BindableService> services) {
    this.name = name;
    services.forEach(builder::addService);
    builder.addService(health.getHealthService());
    builder.addService(ProtoReflectionServiceV1.newInstance());
    this.server = builder.build();
  }

  /** A TCP server on host:port (port 0 picks a free one; see {@link #port()}). */
  public static DaemonServer tcp(String name, Endpoint listen, List<BindableService> services) {
    return new DaemonServer(name,
        NettyServerBuilder.forAddress(new InetSocketAddress(listen.host(), listen.port()))
            .permitKeepAliveTime(10, TimeUnit.SECONDS).permitKeepAliveWithoutCalls(true),
        services);
  }

  /** An in-process server, for tests. */
  public static DaemonServer inProcess(String name, List<BindableService> services) {
    return new DaemonServer(name, InProcessServerBuilder.forName(name).directExecutor(), services);
  }

  public DaemonServer start() throws IOException {
    server.start();
    health.setStatus("", ServingStatus.SERVING);
    log.info("{} serving on port {}", name, port());
    return this;
  }

  /** The bound TCP port, or -1 for an in-process server. */
  public int port() {
    return server.getPort();
  }

  @Override
  public void close() {
    health.enterTerminalState();
    server.shutdown();
    try {
      if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }
}
