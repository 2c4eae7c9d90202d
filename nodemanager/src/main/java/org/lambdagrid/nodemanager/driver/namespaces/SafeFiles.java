package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.lambdagrid.common.HostCommand;

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
   * Deletes {@code dir} and everything below it; returns quietly if it does not exist. Safe for
   * root on a tree where the job's user owns directories (the guest's {@code STATE/ID/ssh}) and
   * may rename, replace or add entries at any moment:
   *
   * <ul>
   *   <li>Everything is done through directory file descriptors ({@link SecureDirectoryStream}:
   *       openat, fstatat, unlinkat), never by a path below {@code dir}: a directory is opened
   *       with O_NOFOLLOW from its parent's descriptor, so a directory swapped for a symbolic link
   *       between the check and the open is not entered but removed as a link, and a swap of a
   *       directory already open does not redirect what is deleted in it.
   *   <li>A symbolic link, at the top or anywhere below, is removed as a link, never followed;
   *       {@code dir} itself is looked up in its parent's descriptor, so a link there is removed
   *       and its target kept. The parent's own path is trusted: the caller's, root's alone (the
   *       state directory).
   *   <li>As root, each directory is made root's and 0700 through its descriptor before it is
   *       listed, so nobody else can change its entries while it is emptied (no swap after the
   *       check, no FIFO to block an open). A directory left behind by a failure stays so.
   * </ul>
   *
   * <p>It does descend into mount points: callers check first that nothing is mounted below
   * {@code dir} ({@link ProcFs#mountsUnder}). Entries that vanish meanwhile are ignored; an
   * entry that cannot be removed (an error, or a tree deeper than {@link #MAX_DEPTH} directories:
   * each level holds descriptors open) keeps its directories, the rest is removed, and the first
   * error is thrown naming its full path. Without a
   * {@link SecureDirectoryStream} (not Linux) it refuses with an IOException and deletes nothing.
   */
  static void deleteTree(Path dir) throws IOException {
    deleteTree(dir, d -> {});
  }

  /** How deep {@link #deleteTree} descends below its top before it gives up with an error. */
  static final int MAX_DEPTH = 512;

  /** Called with each directory's path just before it is opened; a seam for tests. */
  interface BeforeOpen {
    void directory(Path dir) throws IOException;
  }

  /** {@link #deleteTree(Path)} calling {@code hook} before each directory is opened. */
  static void deleteTree(Path dir, BeforeOpen hook) throws IOException {
    deleteTree(dir, hook, MAX_DEPTH);
  }

  /** {@link #deleteTree(Path, BeforeOpen)} with another depth limit (tests). */
  static void deleteTree(Path dir, BeforeOpen hook, int maxDepth) throws IOException {
    Path abs = dir.toAbsolutePath();
    Path parent = abs.getParent();
    Path name = abs.getFileName();
    if (parent == null || name == null || name.toString().equals(".")
        || name.toString().equals("..")) {
      throw new IOException("not deleting " + dir + ": it must name an entry of a directory");
    }
    DirectoryStream<Path> ds;
    try {
      ds = Files.newDirectoryStream(parent);
    } catch (NoSuchFileException | NotDirectoryException e) {
      return;
    }
    try (ds) {
      if (!(ds instanceof SecureDirectoryStream<Path> sds)) {
        throw new IOException("cannot delete " + abs + " safely: this platform has no"
            + " SecureDirectoryStream (openat/unlinkat), and a walk by path could be led out of"
            + " the tree by a symbolic link");
      }
      new TreeDeleter(HostCommand.isRoot() ? rootUser() : null, hook, maxDepth)
          .entry(sds, name, abs, 0);
    }
  }

  private static UserPrincipal rootUser() throws IOException {
    return FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName("root");
  }

  /** One deletion: {@code owner} non-null means lock each directory to it before listing. */
  private record TreeDeleter(UserPrincipal owner, BeforeOpen hook, int maxDepth) {
    private static final Set<PosixFilePermission> OWNER_ONLY =
        PosixFilePermissions.fromString("rwx------");

    /**
     * Removes the entry {@code name} of {@code in}, {@code depth} levels below the top;
     * {@code where} is its path, for messages.
     */
    void entry(SecureDirectoryStream<Path> in, Path name, Path where, int depth)
        throws IOException {
      BasicFileAttributes a;
      try {
        a = in.getFileAttributeView(name, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
            .readAttributes();
      } catch (NoSuchFileException e) {
        return;
      } catch (IOException e) {
        throw at(where, e);
      }
      if (!a.isDirectory()) {
        deleteNonDirectory(in, name, where, null);
        return;
      }
      if (depth > maxDepth) {
        throw new FileSystemException(where.toString(), null,
            "more than " + maxDepth + " directories deep; not removed");
      }
      hook.directory(where);
      SecureDirectoryStream<Path> dir;
      try {
        dir = in.newDirectoryStream(name, LinkOption.NOFOLLOW_LINKS);
      } catch (NoSuchFileException e) {
        return;
      } catch (IOException e) {
        // No longer a directory (a link: ELOOP; anything else: ENOTDIR): remove what is there now.
        deleteNonDirectory(in, name, where, e);
        return;
      }
      try (dir) {
        List<Path> names = new ArrayList<>();
        try {
          if (owner != null) {
            PosixFileAttributeView self = dir.getFileAttributeView(PosixFileAttributeView.class);
            self.setOwner(owner);
            self.setPermissions(OWNER_ONLY);
          }
          for (Path p : dir) {
            names.add(p.getFileName());
          }
        } catch (DirectoryIteratorException e) {
          throw at(where, e.getCause());
        } catch (IOException e) {
          throw at(where, e);
        }
        // One entry that cannot be removed does not keep its siblings: the first error is
        // thrown once the rest are gone (the directory itself then stays).
        IOException first = null;
        for (Path n : names) {
          try {
            entry(dir, n, where.resolve(n), depth + 1);
          } catch (IOException e) {
            if (first == null) {
              first = e;
            } else {
              first.addSuppressed(e);
            }
          }
        }
        if (first != null) {
          throw first;
        }
      }
      try {
        in.deleteDirectory(name);
      } catch (NoSuchFileException e) {
        // Gone already.
      } catch (IOException e) {
        // Replaced by a link or file since it was opened: remove that, as a link or file.
        deleteNonDirectory(in, name, where, e);
      }
    }

    /**
     * unlinkat without AT_REMOVEDIR: removes a file or link, never a directory. If that fails,
     * throws {@code cause} (what made us try) or else its own error.
     */
    private static void deleteNonDirectory(SecureDirectoryStream<Path> in, Path name, Path where,
        IOException cause) throws IOException {
      try {
        in.deleteFile(name);
      } catch (NoSuchFileException e) {
        // Gone already.
      } catch (IOException e) {
        if (cause == null) {
          throw at(where, e);
        }
        IOException t = at(where, cause);
        t.addSuppressed(e);
        throw t;
      }
    }

    /** The error of an operation on a name relative to a descriptor, with the full path. */
    private static IOException at(Path where, IOException e) {
      String reason;
      if (e instanceof FileSystemException f && f.getReason() != null) {
        reason = f.getReason();
      } else if (e instanceof DirectoryNotEmptyException) {
        reason = "directory not empty";
      } else if (e instanceof AccessDeniedException) {
        reason = "permission denied";
      } else if (e instanceof NotDirectoryException) {
        reason = "not a directory";
      } else {
        reason = e.getClass().getSimpleName();
      }
      FileSystemException t = new FileSystemException(where.toString(), null, reason);
      t.initCause(e);
      return t;
    }
  }
}
