package org.lambdagrid.grc.testing;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.lambdagrid.grc.site.SiteClient;

/**
 * A set of {@link FakeSite}s reachable by CRM endpoint: register site {@code a} with endpoint
 * {@link #endpoint}("a") and the GRC's client factory ({@link #factory}) returns the fake.
 */
public final class FakeSites {
  private final List<String> log = new CopyOnWriteArrayList<>();
  private final Map<String, FakeSite> byHost = new ConcurrentHashMap<>();

  public FakeSite add(String name) {
    FakeSite s = new FakeSite(name, log);
    byHost.put(name + ".fake", s);
    return s;
  }

  public FakeSite get(String name) {
    return byHost.get(name + ".fake");
  }

  /** The endpoint to register site {@code name} with. */
  public static String endpoint(String name) {
    return name + ".fake:7301";
  }

  /** Every call on every fake site, in order: "a SetupNodes", "b ReleaseShare", ... */
  public List<String> log() {
    return List.copyOf(log);
  }

  public SiteClient.Factory factory() {
    return (site, ep) -> {
      FakeSite s = byHost.get(ep.host());
      if (s == null) {
        throw new IllegalArgumentException("no fake site at " + ep);
      }
      return s;
    };
  }
}
