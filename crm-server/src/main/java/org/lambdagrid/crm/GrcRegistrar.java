package org.lambdagrid.crm;

import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.RegisterSiteResponse;

/**
 * How the CRM registers its site with the GRC. {@link GrpcGrcRegistrar} calls the GRC's
 * SiteRegistryService; tests pass a lambda.
 */
@FunctionalInterface
public interface GrcRegistrar {
  /**
   * Registers (or re-registers) the site. Idempotent on the GRC's side.
   *
   * @throws io.grpc.StatusRuntimeException UNAVAILABLE or DEADLINE_EXCEEDED when the GRC cannot
   *     be reached (the CRM retries); any other code when the GRC refuses (the CRM gives up)
   */
  RegisterSiteResponse register(RegisterSiteRequest request);
}
