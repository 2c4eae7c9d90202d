package org.lambdagrid.common;

/**
 * A configuration file is unusable. The message names the file, the field path and the problem:
 * {@code crm.yaml: ranges[0]: '10.0.0.0/33' is not a CIDR block}.
 */
public class ConfigException extends RuntimeException {
  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
