package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * How root reads and writes cgroup files: never through a symbolic link (cgroupfs has none, but
 * a path built wrongly could lead elsewhere), directories checked after they are made, control
 * files opened for writing only (never created). The kernel's cgroupfs makes a cgroup's control
 * files when its directory is made and removes them with it; tests extend this class to do the
 * same in an ordinary directory.
 *
 * <p>Thread-safe; holds no state.
 */
class CgroupFs {
  static final CgroupFs KERNEL = new CgroupFs();

  /** Whether {@code dir} is a directory (not a link to one). */
  boolean isDir(Path dir) {
    return Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS);
  }

  /**
   * Makes the cgroup {@code dir} (mkdir: fails if anything is there, a link included) and checks
   * that what is there now is a directory.
   */
  void mkdir(Path dir) throws IOException {
    Files.createDirectory(dir);
    if (!isDir(dir)) {
      throw new IOException(dir + " is not a directory after mkdir");
    }
  }

  /** Removes the cgroup {@code dir} (rmdir; the kernel refuses while it holds processes). */
  void rmdir(Path dir) throws IOException {
    Files.delete(dir);
  }

  /** A control file's content; without following a link. */
  String read(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** A control file's content, or "" if it cannot be read. */
  String readOrEmpty(Path file) {
    try {
      return read(file);
    } catch (IOException e) {
      return "";
    }
  }

  /** Writes one value to an existing control file (one write; never creates, never follows). */
  void write(Path file, String value) throws IOException {
    Files.write(file, value.getBytes(StandardCharsets.UTF_8), StandardOpenOption.WRITE,
        LinkOption.NOFOLLOW_LINKS);
  }

  /** Whether the control file exists (the kernel offers it). */
  boolean exists(Path file) {
    return Files.exists(file, LinkOption.NOFOLLOW_LINKS);
  }

  /** The sub-directories (child cgroups) of {@code dir} whose names start with {@code prefix}. */
  List<Path> children(Path dir, String prefix) {
    List<Path> out = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, prefix + "*")) {
      for (Path p : ds) {
        if (isDir(p)) {
          out.add(p);
        }
      }
    } catch (IOException e) {
      // gone: no children
    }
    return out;
  }
}
