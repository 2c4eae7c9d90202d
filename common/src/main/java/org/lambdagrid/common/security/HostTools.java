package org.lambdagrid.common.security;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Where code running as root finds the host tools it runs (ip, mount, setpriv, ssh-keygen,
 * sbatch, ...): by absolute path, in a fixed list of system directories (or directories an
 * operator names in a root-owned config), never through the PATH the process was started with,
 * which a user may have chosen. The same list as {@code bin/lg-java} uses for java under sudo.
 */
public final class HostTools {
  /** The system directories, in search order. */
  public static final List<Path> SYSTEM_DIRS = List.of(Path.of("/usr/local/sbin"),
      Path.of("/usr/local/bin"), Path.of("/usr/sbin"), Path.of("/usr/bin"), Path.of("/sbin"),
      Path.of("/bin"));

  private static final Map<String, Path> FOUND = new ConcurrentHashMap<>();

  private HostTools() {}

  /** The first {@code dir/tool} (absolute dirs only) that is an executable regular file, or null. */
  public static Path find(String tool, List<Path> dirs) {
    requireName(tool);
    for (Path d : dirs) {
      Path p = d.resolve(tool);
      if (d.isAbsolute() && Files.isRegularFile(p) && Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  /**
   * {@code tool} in {@link #SYSTEM_DIRS}, looked up once per process when found; null when it
   * is not installed (not cached: it may be installed later).
   */
  public static Path system(String tool) {
    Path p = FOUND.get(tool);
    if (p == null) {
      p = find(tool, SYSTEM_DIRS);
      if (p != null) {
        FOUND.put(tool, p);
      }
    }
    return p;
  }

  /** dirs as a PATH value: "/usr/local/sbin:...:/bin". */
  public static String path(List<Path> dirs) {
    return dirs.stream().map(Path::toString).collect(Collectors.joining(":"));
  }

  private static void requireName(String tool) {
    if (tool.isEmpty() || tool.contains("/")) {
      throw new IllegalArgumentException("tool name '" + tool + "' must be a plain file name");
    }
  }
}
