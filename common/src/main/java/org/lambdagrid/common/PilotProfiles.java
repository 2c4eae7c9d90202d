package org.lambdagrid.common;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * Where a pilot that a user started (through sudo or the node agent) takes its config from: the
 * operator's config directory of this installation, never a path of the user's choosing.
 *
 * <pre>
 *   ETC/nodemanager.yaml               the default (no profile); absent: built-in defaults
 *   ETC/nodemanager.d/PROFILE.yaml     a named profile (the CRM's pilot.nodemanager_profile)
 * </pre>
 *
 * ETC is {@code LAMBDAGRID_HOME/etc}, LAMBDAGRID_HOME being the installation's root, which
 * {@code bin/lg-java} passes as the system property {@code lambdagrid.home} (derived from the
 * real path of the bin script root runs, not from the user's environment); without it
 * {@code /etc/lambdagrid}. A user may only pick a profile by name ({@link #PROFILE}); the file
 * must be root's alone ({@link org.lambdagrid.common.security.SecurePaths}). Shared by the CRM
 * (which names the profile) and the NodeManager (which reads it).
 */
public final class PilotProfiles {
  /** A profile name: no '/', no leading dot, so it cannot leave the profile directory. */
  public static final Pattern PROFILE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
  public static final String DEFAULT_FILE = "nodemanager.yaml";
  public static final String PROFILE_DIR = "nodemanager.d";

  private PilotProfiles() {}

  /** This installation's operator config directory. */
  public static Path etcDir() {
    String home = System.getProperty("lambdagrid.home");
    return home == null || home.isEmpty() ? Path.of("/etc/lambdagrid")
        : Path.of(home).toAbsolutePath().resolve("etc");
  }

  /** Validates a profile name; IllegalArgumentException names the value. */
  public static String checkName(String profile) {
    if (profile != null && !PROFILE.matcher(profile).matches()) {
      throw new IllegalArgumentException("--profile: '" + profile + "' is not a profile name"
          + " (letters, digits, '_', '.', '-'; at most 64; no '/')");
    }
    return profile;
  }

  /**
   * The config file of {@code profile} (null: the default) under {@code etc}, or null when there
   * is no default file (built-in defaults). A named profile must exist.
   */
  public static Path resolve(Path etc, String profile) {
    if (profile == null) {
      Path f = etc.resolve(DEFAULT_FILE);
      return Files.exists(f, LinkOption.NOFOLLOW_LINKS) ? f : null;
    }
    Path f = etc.resolve(PROFILE_DIR).resolve(checkName(profile) + ".yaml");
    if (!Files.exists(f)) {
      throw new ConfigException("--profile: no profile '" + profile + "' on this node (the"
          + " operator defines profiles as " + etc.resolve(PROFILE_DIR) + "/NAME.yaml)");
    }
    return f;
  }
}
