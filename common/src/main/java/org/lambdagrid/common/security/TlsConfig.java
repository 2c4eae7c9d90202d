package org.lambdagrid.common.security;

import com.fasterxml.jackson.annotation.JsonInclude;
import org.lambdagrid.common.ConfigException;
import org.slf4j.Logger;

/**
 * The {@code tls:} section every daemon's configuration shares (grc.yaml, crm.yaml,
 * nodemanager.yaml):
 *
 * <pre>
 * tls:
 *   ca: /etc/lambdagrid/tls/ca.crt      # the grid CA (PEM); while rotating, old and new CA concatenated
 *   cert: /etc/lambdagrid/tls/crm-tokyo.crt   # this daemon's certificate (PEM)
 *   key: /etc/lambdagrid/tls/crm-tokyo.key    # its key (PKCS#8 PEM, readable only by the daemon)
 * # or, to run plaintext and unauthenticated (logged as a warning at start-up):
 * tls: {insecure: true}
 * </pre>
 *
 * A daemon started without the section refuses to start ({@link #require}). Relative paths are
 * relative to the daemon's working directory. Files are read when the daemon builds its
 * credentials ({@link Tls}), so a missing file is reported at start-up, not at the first call.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record TlsConfig(String ca, String cert, String key, Boolean insecure) {
  public TlsConfig {
    insecure = insecure != null && insecure;
    if (insecure) {
      if (ca != null || cert != null || key != null) {
        throw new IllegalArgumentException("insecure: true runs without TLS; remove ca, cert and"
            + " key, or remove insecure");
      }
    } else {
      require("ca", ca, "the grid CA's certificate (PEM)");
      require("cert", cert, "this daemon's certificate (PEM)");
      require("key", key, "this daemon's private key (PKCS#8 PEM)");
    }
  }

  private static void require(String field, String value, String what) {
    if (value == null || value.isBlank()) {
      throw new IllegalArgumentException(field + ": is required: " + what
          + " (or insecure: true alone to run without TLS)");
    }
  }

  /** Plaintext: no certificates, no authentication. */
  public static TlsConfig plaintext() {
    return new TlsConfig(null, null, null, true);
  }

  public boolean isInsecure() {
    return insecure;
  }

  /**
   * The section a daemon's configuration must have; {@code source} (e.g. "grc.yaml") names the
   * file in the error.
   *
   * @throws ConfigException when {@code tls} is null
   */
  public static TlsConfig require(String source, TlsConfig tls) {
    if (tls == null) {
      throw new ConfigException(source + ": tls: is required: give tls: {ca: FILE, cert: FILE,"
          + " key: FILE} (see docs/security.md), or tls: {insecure: true} to run without TLS");
    }
    return tls;
  }

  /** Logs the start-up warning of an insecure daemon; does nothing with TLS on. */
  public void warnIfInsecure(Logger log, String daemon) {
    if (insecure) {
      log.warn("{}: TLS is OFF (tls: insecure: true): its links are plaintext and every caller"
          + " is trusted; use this only on a closed test network", daemon);
    }
  }
}
