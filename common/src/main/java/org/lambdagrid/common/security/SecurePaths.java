package org.lambdagrid.common.security;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import org.lambdagrid.common.ConfigException;

/**
 * Paths that root may trust because no other user can change what they lead to: the path is
 * resolved once (symbolic links and all), and every directory on the resolved path is owned by
 * root and writable by nobody else (or sticky, so others cannot rename or remove root's entries
 * in it). What such a path names stays what root checked until root changes it, so a later open
 * of the same resolved path cannot be raced. The same rule as OpenSSH's StrictModes.
 *
 * <p>Use it for everything root reads or acts on by path on another user's behalf: the
 * operator's config, the driver's state directory, the agent's socket directory.
 */
public final class SecurePaths {
  private static final int GROUP_OTHER_WRITE = 0022;
  private static final int STICKY = 01000;

  private SecurePaths() {}

  /**
   * lstat(2) of a path, the parts these checks need: owner and {@code st_mode} (type and
   * permission bits). One system call; a final symbolic link is described, never followed.
   */
  public record Stat(int uid, int mode) {
    private static final int S_IFMT = 0170000;

    public static Stat of(Path p) throws IOException {
      Map<String, Object> a = Files.readAttributes(p, "unix:uid,mode", LinkOption.NOFOLLOW_LINKS);
      return new Stat((Integer) a.get("uid"), (Integer) a.get("mode"));
    }

    public boolean isDirectory() {
      return (mode & S_IFMT) == 0040000;
    }

    public boolean isRegularFile() {
      return (mode & S_IFMT) == 0100000;
    }

    public boolean isSymbolicLink() {
      return (mode & S_IFMT) == 0120000;
    }

    public boolean isSocket() {
      return (mode & S_IFMT) == 0140000;
    }

    /** The permission bits as four octal digits, e.g. "0755". */
    public String permissions() {
      return String.format("%04o", mode & 07777);
    }
  }

  /**
   * The resolved path of {@code path} if it and every directory above it are root's alone;
   * otherwise a {@link ConfigException} that names the first offending component (never its
   * content). {@code what} names the path in messages ("config", "state_dir").
   */
  public static Path requireRootOnly(Path path, String what) {
    Path real;
    try {
      real = path.toAbsolutePath().toRealPath();
    } catch (NoSuchFileException e) {
      throw new ConfigException(what + ": " + path + ": no such file or directory");
    } catch (IOException e) {
      throw new ConfigException(what + ": " + path + ": cannot resolve: " + e.getMessage());
    }
    for (Path p = real; p != null; p = p.getParent()) {
      Stat a = lstat(p, what);
      int uid = a.uid();
      boolean self = p.equals(real);
      if (a.isSymbolicLink()) {
        // toRealPath resolved every link; one here means the path changed meanwhile.
        throw new ConfigException(what + ": " + path + ": " + p + " changed while it was checked");
      }
      if (uid != 0) {
        throw new ConfigException(what + ": " + path + " must be owned by root, and every"
            + " directory above it too (" + p + " is owned by uid " + uid + ")");
      }
      boolean stickyDir = !self && a.isDirectory() && (a.mode() & STICKY) != 0;
      if ((a.mode() & GROUP_OTHER_WRITE) != 0 && !stickyDir) {
        throw new ConfigException(what + ": " + path + " must be writable by root only, and every"
            + " directory above it too (" + p + " has mode " + a.permissions() + ")");
      }
    }
    return real;
  }

  /**
   * Reads a root-only regular file ({@link #requireRootOnly}) as UTF-8, opening the resolved
   * path with O_NOFOLLOW. Errors name the file, never its content.
   */
  public static String readRootOnlyFile(Path file, String what) {
    Path real = requireRootOnly(file, what);
    if (!lstat(real, what).isRegularFile()) {
      throw new ConfigException(what + ": " + file + " is not a regular file");
    }
    try (InputStream in = Files.newInputStream(real, LinkOption.NOFOLLOW_LINKS)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigException(what + ": " + file + ": cannot read: " + e.getMessage());
    }
  }

  /**
   * Creates directory {@code dir} (mode 0700, and its missing parents 0755) if it does not exist
   * and returns its resolved path once {@link #requireRootOnly} holds for it. An existing entry
   * is accepted only if it passes the same check: mkdir's "already exists" is never taken as
   * "it is mine".
   */
  public static Path createRootOnlyDirectory(Path dir, String what) {
    Path abs = dir.toAbsolutePath().normalize();
    try {
      Path parent = abs.getParent();
      if (parent != null && !Files.isDirectory(parent)) {
        Files.createDirectories(parent);
      }
      Files.createDirectory(abs, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
          java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
    } catch (java.nio.file.FileAlreadyExistsException e) {
      // checked below
    } catch (IOException e) {
      throw new ConfigException(what + ": cannot create " + dir + ": " + e.getMessage());
    }
    Path real = requireRootOnly(abs, what);
    if (!lstat(real, what).isDirectory()) {
      throw new ConfigException(what + ": " + dir + " is not a directory");
    }
    return real;
  }

  private static Stat lstat(Path p, String what) {
    try {
      return Stat.of(p);
    } catch (IOException e) {
      throw new ConfigException(what + ": cannot check " + p + ": " + e.getMessage());
    }
  }
}
