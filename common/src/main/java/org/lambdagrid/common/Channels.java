package org.lambdagrid.common;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.Tls;
import org.lambdagrid.common.security.TlsConfig;

/** Client channels to other daemons: mutual TLS, or plaintext with {@code insecure: true}. */
public final class Channels {
  private Channels() {}

  /**
   * A channel to {@code endpoint}. With TLS it presents the certificate of {@code tls}, trusts
   * the grid's CA, checks the endpoint's host against the subjectAltName of the server's
   * certificate, and checks that the server's certificate is of {@code serverRole} (and, unless
   * {@code serverName} is null, has that CN). A server that fails a check fails every call with
   * UNAVAILABLE, naming the reason.
   *
   * @param source names the configuration (file or flag) in errors
   * @throws ConfigException if a certificate, key or CA file is missing or unusable
   */
  public static ManagedChannel forEndpoint(String source, Endpoint endpoint, TlsConfig tls,
      Role serverRole, String serverName) {
    return NettyChannelBuilder.forAddress(endpoint.host(), endpoint.port(),
            Tls.channelCredentials(source, tls, serverRole, serverName))
        .keepAliveTime(30, TimeUnit.SECONDS)
        .keepAliveWithoutCalls(true)
        .build();
  }

  /** Shuts a channel down, waiting briefly; never throws. */
  public static void close(ManagedChannel channel) {
    channel.shutdown();
    try {
      if (!channel.awaitTermination(2, TimeUnit.SECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
