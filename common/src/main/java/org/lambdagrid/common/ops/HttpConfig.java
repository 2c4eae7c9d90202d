package org.lambdagrid.common.ops;

import org.lambdagrid.common.Endpoint;

/**
 * A daemon's {@code http:} section: its operations port ({@link OpsHttpServer}). Absent means no
 * port (the default in production configs).
 *
 * <pre>
 * http:
 *   listen: 127.0.0.1:9300   # host:port; port 0 picks a free one
 * </pre>
 */
public record HttpConfig(String listen) {
  public HttpConfig {
    if (listen == null || listen.isBlank()) {
      throw new IllegalArgumentException("http.listen: is required in an http section");
    }
    try {
      Endpoint.parse(listen);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("http.listen: " + e.getMessage());
    }
  }

  public Endpoint endpoint() {
    return Endpoint.parse(listen);
  }
}
