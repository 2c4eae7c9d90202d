package org.lambdagrid.grc.cli;

import io.grpc.Channel;
import io.grpc.ManagedChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.Channels;
import org.lambdagrid.proto.v1.GridServiceGrpc;

/**
 * An open channel to the GRC ({@link Connection#open}): stubs with a deadline on every unary call
 * ({@link #call}), none on streams ({@link #stream}, {@link #async}).
 */
final class GrcChannel implements AutoCloseable {
  static final Duration CALL_TIMEOUT = Duration.ofSeconds(15);

  private final ManagedChannel managed;
  private final Channel channel;

  /** {@code channel} is {@code managed} or {@code managed} with interceptors. */
  GrcChannel(ManagedChannel managed, Channel channel) {
    this.managed = managed;
    this.channel = channel;
  }

  GridServiceGrpc.GridServiceBlockingStub call() {
    return GridServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }

  GridServiceGrpc.GridServiceBlockingStub stream() {
    return GridServiceGrpc.newBlockingStub(channel);
  }

  GridServiceGrpc.GridServiceStub async() {
    return GridServiceGrpc.newStub(channel);
  }

  @Override
  public void close() {
    Channels.close(managed);
  }
}
