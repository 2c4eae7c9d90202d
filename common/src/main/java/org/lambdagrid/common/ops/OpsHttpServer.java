package org.lambdagrid.common.ops;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.Endpoint;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A daemon's operations port, plain HTTP: {@code GET /metrics} (the daemon's own
 * {@link PrometheusRegistry} in the format the scraper asks for), {@code GET /healthz} ("ok"),
 * and the daemon's extra routes (the GRC's timeline page). Read-only; anything but GET or HEAD is
 * refused with 405.
 *
 * <p>Who may read: anyone who can reach the port. Metrics carry counts, site and link names, no
 * user names or job commands; routes that show more wrap themselves in {@link #loopbackOnly}.
 */
public final class OpsHttpServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(OpsHttpServer.class);

  static {
    // The JDK's server has no bound by default: whoever reaches the port could hold every file
    // descriptor of the daemon. Read by the JDK when its first server is made (unless set).
    setIfAbsent("sun.net.httpserver.maxConnections", "64");
    setIfAbsent("sun.net.httpserver.maxReqTime", "30"); // seconds to read a request
    setIfAbsent("sun.net.httpserver.maxRspTime", "60"); // seconds to send a response
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }

  private final HttpServer server;
  private final ExecutorService executor;

  private OpsHttpServer(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /**
   * Binds {@code listen} and serves.
   *
   * @param name the daemon, for its log line and thread names
   * @param routes more path prefixes and their handlers (may be empty)
   * @throws ConfigException if the address cannot be bound (names it and why)
   */
  public static OpsHttpServer start(String name, Endpoint listen, PrometheusRegistry registry,
      Map<String, HttpHandler> routes) {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(listen.host(), listen.port()), 64);
    } catch (IOException e) {
      throw new ConfigException("http.listen: cannot listen on " + listen + ": " + e.getMessage());
    }
    server.createContext("/metrics", readOnly(new MetricsHandler(registry)));
    server.createContext("/healthz", readOnly(ex -> text(ex, 200, "ok\n")));
    routes.forEach((path, h) -> server.createContext(path, readOnly(h)));
    ExecutorService executor = Executors.newFixedThreadPool(4, r -> {
      Thread t = new Thread(r, name + "-http");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.start();
    log.info("{} serving operations HTTP (/metrics) on {}:{}", name, listen.host(),
        server.getAddress().getPort());
    return new OpsHttpServer(server, executor);
  }

  /** The bound port. */
  public int port() {
    return server.getAddress().getPort();
  }

  /** Answers only peers on a loopback address; others get 403 with the reason. */
  public static HttpHandler loopbackOnly(HttpHandler h) {
    return ex -> {
      if (!ex.getRemoteAddress().getAddress().isLoopbackAddress()) {
        text(ex, 403, "this page is served to loopback peers only (reach it through"
            + " ssh -L from the GRC's host)\n");
        return;
      }
      h.handle(ex);
    };
  }

  private static HttpHandler readOnly(HttpHandler h) {
    return ex -> {
      try (ex) {
        String m = ex.getRequestMethod();
        if (!m.equals("GET") && !m.equals("HEAD")) {
          ex.getResponseHeaders().set("Allow", "GET, HEAD");
          text(ex, 405, "read-only: GET or HEAD\n");
          return;
        }
        h.handle(ex);
      } catch (IOException | RuntimeException e) {
        log.debug("HTTP {} {}: {}", ex.getRequestMethod(), ex.getRequestURI(), e.toString());
      }
    };
  }

  /** Sends {@code body} as text/plain with {@code status}. */
  public static void text(HttpExchange ex, int status, String body) throws IOException {
    send(ex, status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
  }

  /** Sends {@code body} with {@code status} and content type, no caching. */
  public static void send(HttpExchange ex, int status, String contentType, byte[] body)
      throws IOException {
    ex.getResponseHeaders().set("Content-Type", contentType);
    ex.getResponseHeaders().set("Cache-Control", "no-store");
    ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
    boolean head = ex.getRequestMethod().equals("HEAD");
    ex.sendResponseHeaders(status, head ? -1 : body.length == 0 ? -1 : body.length);
    if (!head && body.length > 0) {
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
    try {
      executor.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
