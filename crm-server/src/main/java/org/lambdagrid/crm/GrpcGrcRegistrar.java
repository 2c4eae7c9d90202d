package org.lambdagrid.crm;

import io.grpc.Channel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;

/** Registers through the GRC's SiteRegistryService, with a deadline on every call. */
public final class GrpcGrcRegistrar implements GrcRegistrar {
  private final SiteRegistryServiceGrpc.SiteRegistryServiceBlockingStub stub;
  private final Duration deadline;

  public GrpcGrcRegistrar(Channel channel, Duration deadline) {
    this.stub = SiteRegistryServiceGrpc.newBlockingStub(channel);
    this.deadline = deadline;
  }

  @Override
  public RegisterSiteResponse register(RegisterSiteRequest request) {
    return stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS).registerSite(request);
  }
}
