package org.lambdagrid.common.store;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a daemon keeps its durable state, the {@code state:} section of {@code grc.yaml} and
 * {@code crm.yaml}. Every field is optional:
 *
 * <pre>
 * state:
 *   url: jdbc:h2:file:/var/lib/lambdagrid/grc/grc   # default: an H2 file in the state_dir
 *   user: lambdagrid                                # PostgreSQL only
 *   password_file: /etc/lambdagrid/db.password      # PostgreSQL only; first line, mode 0600
 * </pre>
 *
 * Supported URLs: {@code jdbc:h2:file:...} (embedded, the default: no server to run) and
 * {@code jdbc:postgresql://host/db}. An in-memory {@code jdbc:h2:mem:} URL is accepted for
 * tests; it survives nothing.
 */
public record StateConfig(String url, String user,
    @JsonProperty("password_file") String passwordFile) {

  public StateConfig {
    if (url != null && !url.isEmpty() && !url.startsWith("jdbc:h2:")
        && !url.startsWith("jdbc:postgresql:")) {
      throw new IllegalArgumentException("url: '" + url + "' is neither jdbc:h2:file:... nor"
          + " jdbc:postgresql://...");
    }
    if (passwordFile != null && !passwordFile.isEmpty() && !Path.of(passwordFile).isAbsolute()) {
      throw new IllegalArgumentException("password_file: '" + passwordFile
          + "' is not an absolute path");
    }
  }

  /** No section: the embedded default. */
  public static StateConfig defaults() {
    return new StateConfig(null, null, null);
  }

  /**
   * The JDBC URL to open: the configured one, or an H2 file {@code <stateDir>/<name>} (that is,
   * {@code <stateDir>/<name>.mv.db}).
   */
  public String effectiveUrl(Path stateDir, String name) {
    if (url != null && !url.isEmpty()) {
      return url;
    }
    return "jdbc:h2:file:" + stateDir.toAbsolutePath().resolve(name);
  }

  /**
   * The password from {@code password_file} (its first line), or null without one. A file
   * that its group or others may read is refused.
   */
  public String password() {
    if (passwordFile == null || passwordFile.isEmpty()) {
      return null;
    }
    try {
      var open = java.util.EnumSet.copyOf(Files.getPosixFilePermissions(Path.of(passwordFile)));
      open.retainAll(java.util.EnumSet.of(java.nio.file.attribute.PosixFilePermission.GROUP_READ,
          java.nio.file.attribute.PosixFilePermission.OTHERS_READ));
      if (!open.isEmpty()) {
        throw new StoreException("state.password_file: " + passwordFile + " is readable by "
            + (open.size() == 2 ? "group and others" : open.contains(
                java.nio.file.attribute.PosixFilePermission.GROUP_READ) ? "its group" : "others")
            + "; make it the daemon user's alone: chmod 600 " + passwordFile, null);
      }
      String text = Files.readString(Path.of(passwordFile));
      int nl = text.indexOf('\n');
      return nl < 0 ? text : text.substring(0, nl);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new StoreException("state.password_file: " + passwordFile + " does not exist", e);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new StoreException("state.password_file: " + passwordFile + " is not readable by"
          + " this user", e);
    } catch (IOException e) {
      throw new StoreException("state.password_file: cannot read " + passwordFile + ": " + e, e);
    }
  }
}
