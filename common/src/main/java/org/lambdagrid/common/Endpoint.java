package org.lambdagrid.common;

/** A "host:port" address of a daemon. */
public record Endpoint(String host, int port) {
  public Endpoint {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("host is empty");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " is not in 0..65535");
    }
  }

  /** Parses "host:port"; the exception message quotes the input. */
  public static Endpoint parse(String text) {
    int colon = text == null ? -1 : text.lastIndexOf(':');
    if (colon <= 0 || colon == text.length() - 1) {
      throw new IllegalArgumentException("'" + text + "' is not host:port");
    }
    try {
      return new Endpoint(text.substring(0, colon), Integer.parseInt(text.substring(colon + 1)));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("'" + text + "' is not host:port");
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("'" + text + "' is not host:port: " + e.getMessage());
    }
  }

  @Override
  public String toString() {
    return host + ":" + port;
  }
}
