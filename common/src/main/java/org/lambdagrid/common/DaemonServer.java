package org.lambdagrid.common;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.ops.GrpcServerMetrics;
import org.lambdagrid.common.security.RoleAuthorizer;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A daemon's gRPC server: the given services plus the standard health service and server
 * reflection, so ordinary gRPC tools can inspect it. {@link #start} binds; {@link #close} shuts
 * down gracefully, then forcibly after a grace period.
 *
 * <p>Security: a TCP server built by {@link #netty} serves mutual TLS (client certificates
 * required) unless its {@link TlsConfig} says {@code insecure: true}; every service, health and
 * reflection included, goes through the daemon's {@link RoleAuthorizer}. The in-process transport
 * ({@link #inProcess}, tests) has no TLS: its calls carry no certificate and pass unchecked.
 */
public final class DaemonServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DaemonServer.class);
  private final String name;
  private final Server server;
  private final HealthStatusManager health = new HealthStatusManager();

  /**
   * Builds a server around a caller-supplied builder (TCP from {@link #netty} in production,
   * in-process in tests); {@code authorizer} decides which certificate roles may call which
   * service ({@link RoleAuthorizer}), or authenticates callers another way
   * ({@link org.lambdagrid.common.security.TokenAuthenticator}).
   */
  public DaemonServer(String name, ServerBuilder<?> builder, List<BindableService> services,
      io.grpc.ServerInterceptor authorizer) {
    this(name, builder, services, authorizer, null);
  }

  /**
   * As above, every call also counted by {@code metrics} (before the authorizer sees it, so
   * refused calls count too); null counts nothing.
   */
  public DaemonServer(String name, ServerBuilder<?> builder, List<BindableService> services,
      io.grpc.ServerInterceptor authorizer, GrpcServerMetrics metrics) {
    this.name = name;
    // ServerInterceptors.intercept runs the last interceptor first.
    io.grpc.ServerInterceptor[] chain = metrics == null
        ? new io.grpc.ServerInterceptor[] {authorizer}
        : new io.grpc.ServerInterceptor[] {authorizer, metrics};
    services.forEach(s -> builder.addService(ServerInterceptors.intercept(s, chain)));
    builder.addService(ServerInterceptors.intercept(health.getHealthService(), chain));
    builder.addService(ServerInterceptors.intercept(ProtoReflectionServiceV1.newInstance(),
        chain));
    this.server = builder.build();
  }

  /** As above, open to every certificate of the grid's CA ({@link RoleAuthorizer#anyRole}). */
  public DaemonServer(String name, ServerBuilder<?> builder, List<BindableService> services) {
    this(name, builder, services, RoleAuthorizer.anyRole());
  }

  /**
   * The TCP server builder every daemon uses: host:port (port 0 picks a free one), mutual TLS
   * from {@code tls} or plaintext if it says {@code insecure: true}.
   *
   * @param source names the configuration file in errors
   * @throws ConfigException if a certificate, key or CA file is missing or unusable
   */
  public static NettyServerBuilder netty(String source, Endpoint listen, TlsConfig tls) {
    return NettyServerBuilder.forAddress(new InetSocketAddress(listen.host(), listen.port()),
            Tls.serverCredentials(source, tls))
        .permitKeepAliveTime(10, TimeUnit.SECONDS).permitKeepAliveWithoutCalls(true);
  }

  /** A plaintext TCP server on host:port open to everyone, for tests. */
  public static DaemonServer tcp(String name, Endpoint listen, List<BindableService> services) {
    return new DaemonServer(name, netty(name, listen, TlsConfig.plaintext()), services);
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
