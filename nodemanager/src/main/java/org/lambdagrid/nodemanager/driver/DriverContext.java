package org.lambdagrid.nodemanager.driver;

import java.nio.file.Path;
import java.util.Map;

/**
 * What a {@link GuestDriverFactory} gets to build its driver.
 *
 * @param config the driver's section of the NodeManager config ({@code driver_config}), as parsed
 *     from YAML: strings, numbers, booleans, lists and maps. Never null; empty when absent. The
 *     factory validates it and throws {@link IllegalArgumentException} whose message starts with
 *     the field name ("attachment: 'vxlan' is not one of bridge, macvlan").
 * @param stateDir the NodeManager's state directory; a driver that keeps no state of its own
 *     elsewhere records its guests below it
 */
public record DriverContext(Map<String, Object> config, Path stateDir) {
  public DriverContext {
    config = config == null ? Map.of() : java.util.Collections.unmodifiableMap(
        new java.util.LinkedHashMap<>(config));
  }
}
