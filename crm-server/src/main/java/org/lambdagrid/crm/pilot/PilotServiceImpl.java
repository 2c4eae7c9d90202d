package org.lambdagrid.crm.pilot;

import io.grpc.stub.StreamObserver;
import org.lambdagrid.proto.v1.ConnectRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.PilotServiceGrpc;

/** The PilotService endpoint: every Connect stream becomes a {@link PilotSession}. */
public final class PilotServiceImpl extends PilotServiceGrpc.PilotServiceImplBase {
  private final PilotRegistry registry;

  public PilotServiceImpl(PilotRegistry registry) {
    this.registry = registry;
  }

  @Override
  public StreamObserver<ConnectRequest> connect(StreamObserver<ConnectResponse> responses) {
    return new PilotSession(responses, registry);
  }
}
