package org.lambdagrid.nodemanager.driver;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.TreeMap;

/** Finds guest drivers by name among the {@link GuestDriverFactory} services on the class path. */
public final class GuestDrivers {
  private GuestDrivers() {}

  /** The registered factories by name, sorted, from the thread's context class loader. */
  public static Map<String, GuestDriverFactory> factories() {
    ClassLoader loader = Thread.currentThread().getContextClassLoader();
    Map<String, GuestDriverFactory> byName = new TreeMap<>();
    List<String> broken = new ArrayList<>();
    ServiceLoader<GuestDriverFactory> services = ServiceLoader.load(GuestDriverFactory.class,
        loader == null ? GuestDrivers.class.getClassLoader() : loader);
    var it = services.iterator();
    while (true) {
      try {
        if (!it.hasNext()) {
          break;
        }
        GuestDriverFactory f = it.next();
        GuestDriverFactory previous = byName.putIfAbsent(f.name(), f);
        if (previous != null && previous.getClass() != f.getClass()) {
          throw new IllegalStateException("two guest drivers are named '" + f.name() + "': "
              + previous.getClass().getName() + " and " + f.getClass().getName());
        }
      } catch (ServiceConfigurationError e) {
        broken.add(e.getMessage());
      }
    }
    if (byName.isEmpty() && !broken.isEmpty()) {
      throw new IllegalStateException("no usable guest driver: " + String.join("; ", broken));
    }
    return byName;
  }

  /** The names of the registered drivers, sorted. */
  public static List<String> names() {
    return List.copyOf(factories().keySet());
  }

  /**
   * Creates the driver called {@code name}.
   *
   * @throws UnknownDriverException if no factory has that name; the message lists the known ones
   * @throws IllegalArgumentException if the factory rejects {@code ctx.config()}
   */
  public static GuestDriver create(String name, DriverContext ctx) {
    Map<String, GuestDriverFactory> all = factories();
    GuestDriverFactory factory = all.get(name);
    if (factory == null) {
      throw new UnknownDriverException(name, List.copyOf(all.keySet()));
    }
    return factory.create(ctx);
  }

  /** No driver of the asked-for name is registered. */
  public static final class UnknownDriverException extends IllegalArgumentException {
    private final List<String> known;

    public UnknownDriverException(String name, List<String> known) {
      super("unknown guest driver '" + name + "' (known drivers: "
          + (known.isEmpty() ? "none" : String.join(", ", known)) + ")");
      this.known = known;
    }

    public List<String> known() {
      return known;
    }
  }
}
