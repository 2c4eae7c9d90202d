package org.lambdagrid.nodemanager.driver.namespaces;

import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestDriverFactory;

/**
 * Registers the product's default driver, {@code namespaces}. The {@code driver_config}
 * section is validated by {@link NamespacesDriverConfig#fromMap}, whose messages start with the
 * field name. The driver keeps its own state directory ({@code state_dir} in that section).
 */
public final class NamespacesDriverFactory implements GuestDriverFactory {
  @Override
  public String name() {
    return "namespaces";
  }

  @Override
  public GuestDriver create(DriverContext ctx) {
    return new NamespacesDriver(NamespacesDriverConfig.fromMap(ctx.config()));
  }
}
