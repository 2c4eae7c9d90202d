package org.lambdagrid.crm.pilot;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Where the CRM finds the host tools it runs as root (setpriv, runuser, getent, sbatch, squeue,
 * scancel): by absolute path, in a fixed list of system directories (or a directory the
 * operator names in the config), never through the PATH the CRM was started with. Each starter
 * resolves its tools once, when it is built.
 */
final class HostTools {
  /** The system directories, in search order. */
  static final List<Path> SYSTEM_DIRS = List.of(Path.of("/usr/local/sbin"),
      Path.of("/usr/local/bin"), Path.of("/usr/sbin"), Path.of("/usr/bin"), Path.of("/sbin"),
      Path.of("/bin"));

  private HostTools() {}

  /** The first {@code dir/tool} that is an executable regular file, or null. */
  static Path find(String tool, List<Path> dirs) {
    for (Path d : dirs) {
      Path p = d.resolve(tool);
      if (d.isAbsolute() && Files.isRegularFile(p) && Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  /** dirs as a PATH value: "/usr/local/sbin:...:/bin". */
  static String path(List<Path> dirs) {
    return dirs.stream().map(Path::toString).collect(Collectors.joining(":"));
  }
}
