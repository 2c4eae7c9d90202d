package org.lambdagrid.grc.site;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.lambdagrid.common.Endpoint;

/**
 * One {@link SiteClient} per site and CRM endpoint (a site that re-registers elsewhere gets a
 * new one), made on first use and closed by {@link #close}; shared by the reservation service
 * and the job coordinator. Thread-safe.
 */
public final class SiteClients implements AutoCloseable {
  private final SiteRegistry registry;
  private final SiteClient.Factory factory;
  private final Map<Key, SiteClient> clients = new ConcurrentHashMap<>();

  private record Key(String site, Endpoint crm) {}

  public SiteClients(SiteRegistry registry, SiteClient.Factory factory) {
    this.registry = registry;
    this.factory = factory;
  }

  /** The client of the site's current CRM endpoint; NOT_FOUND for an unregistered site. */
  public SiteClient forSite(String site) {
    Site s = registry.require(site);
    return clients.computeIfAbsent(new Key(s.name(), s.crmEndpoint()),
        k -> factory.open(k.site(), k.crm()));
  }

  @Override
  public void close() {
    clients.values().forEach(SiteClient::close);
    clients.clear();
  }
}
