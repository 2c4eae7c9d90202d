package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.List;

/**
 * How root writes, reads and deletes guest files without following a symbolic link the job may
 * have planted: create-exclusive with the mode, lchown, rename; no-follow reads; a delete that
 * never leaves its tree.
 *
 * <p>Thread-safe; holds no state.
 */
final class SafeFiles {
  private SafeFiles() {}

  /** lchown: sets the owner of {@code p} itself, never of what a link there points to. */
  static void setOwner(Path p, int uid, int gid) throws IOException {
    Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
    Files.setAttribute(p, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
  }

  /**
   * Writes a file by a fresh temp file renamed over the target, safe in a directory the job's
   * user can write: the temp file is created with O_EXCL and its mode (never through a symbolic
   * link the job may have planted), and its owner is set with lchown, so a swap of the temp name
   * makes root change nothing but a link of the user's.
   */
  static void writeAtomically(Path target, String content, String perms, int uid, int gid)
      throws IOException {
    writeAtomically(target, content.getBytes(StandardCharsets.UTF_8), perms, uid, gid);
  }

  /** {@link #writeAtomically(Path, String, String, int, int)} for bytes. */
  static void writeAtomically(Path target, byte[] content, String perms, int uid, int gid)
      throws IOException {
    Path tmp = target.resolveSibling("." + target.getFileName() + ".lg-tmp");
    Files.deleteIfExists(tmp);
    try (SeekableByteChannel ch = Files.newByteChannel(tmp, EnumSet.of(
        StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(perms)))) {
      ByteBuffer buf = ByteBuffer.wrap(content);
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
    }
    setOwner(tmp, uid, gid);
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /**
   * Rewrites a root-owned file in place, mode 0644: the guest sees it through a bind mount of its
   * inode.
   */
  static void writeInPlace(Path target, String content) throws IOException {
    Files.write(target, content.getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE,
        StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE,
        LinkOption.NOFOLLOW_LINKS);
    Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
  }

  /** The file's content, or "" if it cannot be read or is a symbolic link. */
  static String readOrEmpty(Path p) {
    try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  /** The last 8 lines of a log, joined by " | ", for an error message. */
  static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join(" | ", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
    } catch (IOException e) {
      return "(no log " + log + ")";
    }
  }

  /**
   * Deletes a tree without following symbolic links. It does descend into mount points: callers
   * check first that nothing is mounted below {@code dir} ({@link ProcFs#mountsUnder}).
   */
  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(dir, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.deleteIfExists(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
        if (exc != null && !(exc instanceof NoSuchFileException)) {
          throw exc;
        }
        Files.deleteIfExists(d);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
        if (exc instanceof NoSuchFileException) {
          return FileVisitResult.CONTINUE;
        }
        throw exc;
      }
    });
  }
}
