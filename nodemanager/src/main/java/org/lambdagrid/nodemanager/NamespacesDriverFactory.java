package org.lambdagrid.nodemanager;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestDriverFactory;

/**
 * Registers the product's default driver, {@code namespaces}.
 *
 * <p>The driver lives in {@code org.lambdagrid.nodemanager.driver.namespaces} and is bound by
 * name, so this factory needs nothing from that package at compile time. It relies on:
 * <ul>
 *   <li>{@code NamespacesDriverConfig.fromMap(Map)}, a public static method that validates the
 *       {@code driver_config} section and throws {@link IllegalArgumentException} naming the
 *       field;
 *   <li>a public constructor {@code NamespacesDriver(NamespacesDriverConfig)}.
 * </ul>
 * The config section is passed unchanged; the namespaces driver keeps its own state directory
 * ({@code stateDir} in that section), independent of the NodeManager's {@code state_dir}.
 */
public final class NamespacesDriverFactory implements GuestDriverFactory {
  static final String PACKAGE = "org.lambdagrid.nodemanager.driver.namespaces";
  static final String DRIVER_CLASS = PACKAGE + ".NamespacesDriver";
  static final String CONFIG_CLASS = PACKAGE + ".NamespacesDriverConfig";

  @Override
  public String name() {
    return "namespaces";
  }

  @Override
  public GuestDriver create(DriverContext ctx) {
    ClassLoader loader = NamespacesDriverFactory.class.getClassLoader();
    Class<?> configClass;
    Class<?> driverClass;
    try {
      configClass = Class.forName(CONFIG_CLASS, true, loader);
      driverClass = Class.forName(DRIVER_CLASS, true, loader);
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException(
          "the namespaces driver is not part of this build (" + e.getMessage() + " not found)");
    }
    try {
      Method fromMap = configClass.getMethod("fromMap", Map.class);
      Object config = fromMap.invoke(null, ctx.config());
      Constructor<?> constructor = driverClass.getConstructor(configClass);
      return (GuestDriver) constructor.newInstance(config);
    } catch (InvocationTargetException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException re) {
        throw re;
      }
      throw new IllegalStateException("cannot create the namespaces driver: " + cause, cause);
    } catch (ReflectiveOperationException | ClassCastException e) {
      throw new IllegalStateException("the namespaces driver in this build does not match its"
          + " factory (" + DRIVER_CLASS + "(" + CONFIG_CLASS + ") with " + CONFIG_CLASS
          + ".fromMap(Map) expected): " + e, e);
    }
  }
}
