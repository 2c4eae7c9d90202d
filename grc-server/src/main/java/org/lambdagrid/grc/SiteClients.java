package org.lambdagrid.grc;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Errors;

/**
 * One {@link SiteClient} per CRM endpoint, made on first use and closed by {@link #close}; shared
 * by the reservation service and the job coordinator. Thread-safe.
 */
public final class SiteClients implements AutoCloseable {
  private final SiteRegistry registry;
  private final Function<Endpoint, SiteClient> factory;
  private final Map<Endpoint, SiteClient> clients = new ConcurrentHashMap<>();

  public SiteClients(SiteRegistry registry, Function<Endpoint, SiteClient> factory) {
    this.registry = registry;
    this.factory = factory;
  }

  /** The client of the site's current CRM endpoint; NOT_FOUND for an unregistered site. */
  public SiteClient forSite(String site) {
    Site s = registry.get(site)
        .orElseThrow(() -> Errors.notFound("site '" + site + "' is not registered"));
    return clients.computeIfAbsent(s.crmEndpoint(), factory);
  }

  @Override
  public void close() {
    clients.values().forEach(SiteClient::close);
    clients.clear();
  }
}
