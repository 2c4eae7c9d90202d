package org.lambdagrid.nodemanager.driver.fake;

import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestDriverFactory;

/** Registers {@code fake} on test class paths (the nodemanager test-jar). */
public final class FakeGuestDriverFactory implements GuestDriverFactory {
  @Override
  public String name() {
    return "fake";
  }

  @Override
  public GuestDriver create(DriverContext ctx) {
    return new FakeGuestDriver(FakeConfig.fromMap(ctx.config()), ctx.stateDir());
  }
}
