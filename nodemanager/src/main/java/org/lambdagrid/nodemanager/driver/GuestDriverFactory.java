package org.lambdagrid.nodemanager.driver;

/**
 * Makes a {@link GuestDriver} by name. Implementations are found with
 * {@link java.util.ServiceLoader}: list them in
 * {@code META-INF/services/org.lambdagrid.nodemanager.driver.GuestDriverFactory}. The product
 * registers {@code namespaces}; the nodemanager test-jar adds {@code fake}.
 *
 * <p>Implementations need a public no-argument constructor and must be cheap to construct:
 * {@link GuestDrivers} instantiates every registered factory to learn the names.
 */
public interface GuestDriverFactory {

  /** The name the driver is chosen by in the NodeManager config ({@code driver: NAME}). */
  String name();

  /**
   * Builds the driver. Called once per NodeManager, before {@link GuestDriver#checkHost}; must not
   * change the host.
   *
   * @throws IllegalArgumentException if {@code ctx.config()} is invalid; the message starts with
   *     the field name
   */
  GuestDriver create(DriverContext ctx);
}
