package org.lambdagrid.common.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.DaemonServer;
import org.lambdagrid.common.Endpoint;

class OpsHttpServerTest {
  private final HttpClient http = HttpClient.newHttpClient();

  private HttpResponse<String> get(int port, String path, String method) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void servesTheDaemonsMetricsAndCountsGrpcCallsByCode() throws Exception {
    DaemonMetrics metrics = new DaemonMetrics();
    // A refusing authorizer: the health call is counted with its code before it is refused.
    io.grpc.ServerInterceptor refuse = new io.grpc.ServerInterceptor() {
      @Override
      public <Q, A> io.grpc.ServerCall.Listener<Q> interceptCall(io.grpc.ServerCall<Q, A> call,
          io.grpc.Metadata h, io.grpc.ServerCallHandler<Q, A> next) {
        call.close(Status.PERMISSION_DENIED, new io.grpc.Metadata());
        return new io.grpc.ServerCall.Listener<>() { };
      }
    };
    String name = "ops-" + System.nanoTime();
    try (DaemonServer grpc = new DaemonServer(name, InProcessServerBuilder.forName(name),
            List.of(), refuse, metrics.grpc()).start();
        OpsHttpServer ops = OpsHttpServer.start("test", new Endpoint("127.0.0.1", 0),
            metrics.registry(), Map.of())) {
      ManagedChannel ch = InProcessChannelBuilder.forName(name).build();
      try {
        assertThatThrownBy(() -> HealthGrpc.newBlockingStub(ch)
            .check(HealthCheckRequest.getDefaultInstance()))
            .isInstanceOf(StatusRuntimeException.class);
      } finally {
        ch.shutdownNow();
      }
      HttpResponse<String> r = get(ops.port(), "/metrics", "GET");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body()).contains("lambdagrid_grpc_server_handled_total{code=\"PERMISSION_DENIED\","
          + "method=\"Check\",service=\"grpc.health.v1.Health\"} 1.0");
      assertThat(r.body()).contains("jvm_memory_used_bytes");
      assertThat(get(ops.port(), "/healthz", "GET").body()).isEqualTo("ok\n");
      assertThat(get(ops.port(), "/metrics", "POST").statusCode()).isEqualTo(405);
    }
  }

  @Test
  void aStreamTheClientCancelsIsCountedCancelled() throws Exception {
    DaemonMetrics metrics = new DaemonMetrics();
    String name = "ops-" + System.nanoTime();
    try (DaemonServer grpc = new DaemonServer(name, InProcessServerBuilder.forName(name),
        List.of(), org.lambdagrid.common.security.RoleAuthorizer.anyRole(), metrics.grpc())
        .start();
        OpsHttpServer ops = OpsHttpServer.start("test", new Endpoint("127.0.0.1", 0),
            metrics.registry(), Map.of())) {
      ManagedChannel ch = InProcessChannelBuilder.forName(name).build();
      try {
        var first = new java.util.concurrent.CompletableFuture<Void>();
        io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
        ctx.run(() -> HealthGrpc.newStub(ch).watch(HealthCheckRequest.getDefaultInstance(),
            new io.grpc.stub.StreamObserver<>() {
              @Override
              public void onNext(io.grpc.health.v1.HealthCheckResponse r) {
                first.complete(null);
              }

              @Override
              public void onError(Throwable t) { }

              @Override
              public void onCompleted() { }
            }));
        first.get(10, java.util.concurrent.TimeUnit.SECONDS);
        ctx.cancel(null);
        String sample = "lambdagrid_grpc_server_handled_total{code=\"CANCELLED\",method=\"Watch\","
            + "service=\"grpc.health.v1.Health\"} 1.0";
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
            .untilAsserted(() -> assertThat(get(ops.port(), "/metrics", "GET").body())
                .contains(sample));
      } finally {
        ch.shutdownNow();
      }
    }
  }

  @Test
  void aPortInUseIsAConfigErrorNamingTheAddress() {
    try (OpsHttpServer first = OpsHttpServer.start("a", new Endpoint("127.0.0.1", 0),
        new DaemonMetrics().registry(), Map.of())) {
      assertThatThrownBy(() -> OpsHttpServer.start("b", new Endpoint("127.0.0.1", first.port()),
          new DaemonMetrics().registry(), Map.of()))
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining("http.listen: cannot listen on 127.0.0.1:" + first.port());
    }
  }

  @Test
  void httpListenMustBeHostPort() {
    assertThatThrownBy(() -> new HttpConfig("9300"))
        .hasMessageStartingWith("http.listen: '9300' is not host:port");
    assertThatThrownBy(() -> new HttpConfig(null)).hasMessageStartingWith("http.listen:");
  }
}
