package org.lambdagrid.crm.pilot;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The pilot log files the CRM (usually root) creates, safely: only in a directory that nobody
 * but root and the CRM's own user can change, so no user can plant a symbolic link or a hard
 * link where the CRM is about to create, write or chown a file.
 *
 * <p>{@link #secureDirectory} resolves the log directory to a real path and checks every
 * directory on the way; {@link #createOrAppend} creates the file with {@code O_CREAT | O_EXCL |
 * O_NOFOLLOW} and its final mode, and accepts an existing entry only if it is a regular file
 * with one link and an expected owner. A later {@code chown} by path (Java has no {@code
 * fchown}) is then safe because no one else can replace the entry; it is still done with
 * {@code lchown} ({@link LinkOption#NOFOLLOW_LINKS}).
 */
final class PilotLogs {
  private static final int S_IFMT = 0170000;
  private static final int S_IFDIR = 0040000;
  private static final int S_IFLNK = 0120000;
  private static final int S_IFREG = 0100000;
  private static final int STICKY = 01000;
  private static final int MAX_LINKS = 40;

  private PilotLogs() {}

  /** What lstat says about an entry. */
  record Stat(int mode, int uid, int gid, int nlink) {
    boolean isDirectory() {
      return (mode & S_IFMT) == S_IFDIR;
    }

    boolean isLink() {
      return (mode & S_IFMT) == S_IFLNK;
    }

    boolean isRegularFile() {
      return (mode & S_IFMT) == S_IFREG;
    }

    String octal() {
      return String.format("%04o", mode & 07777);
    }
  }

  static Stat lstat(Path p) throws IOException {
    Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid,gid,nlink",
        LinkOption.NOFOLLOW_LINKS);
    return new Stat((Integer) a.get("mode"), (Integer) a.get("uid"), (Integer) a.get("gid"),
        (Integer) a.get("nlink"));
  }

  /** A directory the CRM must not create files in, with what is wrong with it. */
  static final class UnsafeDirectoryException extends IOException {
    UnsafeDirectoryException(String message) {
      super(message);
    }
  }

  /**
   * The real path of {@code dir}, creating missing directories (mode 0755) one at a time, after
   * checking that only root or {@code myUid} can add, remove or rename entries anywhere on it:
   * every directory from {@code /} down is owned by one of them and writable by no one else (an
   * ancestor may instead be sticky, like {@code /tmp}, where others cannot move our entries), and
   * a symbolic link on the way is followed only from such a directory, and from a sticky one
   * only if root or {@code myUid} owns the link.
   *
   * @throws UnsafeDirectoryException naming the directory or link that others could change
   * @throws IOException when a directory cannot be read or created
   */
  static Path secureDirectory(Path dir, int myUid) throws IOException {
    Path abs = dir.toAbsolutePath();
    Deque<String> todo = new ArrayDeque<>();
    abs.forEach(n -> todo.add(n.toString()));
    Path cur = abs.getRoot();
    Stat curStat = lstat(cur);
    check(dir, cur, curStat, myUid, !todo.isEmpty());
    int links = 0;
    while (!todo.isEmpty()) {
      String name = todo.poll();
      if (name.equals(".") || name.isEmpty()) {
        continue;
      }
      if (name.equals("..")) { // cur is a real path, so its parent is the real parent
        cur = cur.getParent() == null ? cur : cur.getParent();
        curStat = lstat(cur);
        continue;
      }
      Path next = cur.resolve(name);
      Stat s;
      try {
        s = lstat(next);
      } catch (NoSuchFileException e) {
        try {
          Files.createDirectory(next, PosixFilePermissions.asFileAttribute(
              PosixFilePermissions.fromString("rwxr-xr-x")));
        } catch (FileAlreadyExistsException raced) {
          // Someone made it meanwhile: checked like any existing entry below.
        }
        s = lstat(next);
      }
      if (s.isLink()) {
        if (++links > MAX_LINKS) {
          throw new IOException(dir + ": too many symbolic links");
        }
        if (!ours(s, myUid) && (curStat.mode() & 022) != 0) {
          throw new UnsafeDirectoryException(dir + " is not safe for files the CRM creates: "
              + next + " is a symbolic link of uid " + s.uid() + " in a directory others can"
              + " write");
        }
        Path target = Files.readSymbolicLink(next);
        List<String> names = new ArrayList<>();
        target.forEach(n -> names.add(n.toString()));
        Collections.reverse(names);
        names.forEach(todo::addFirst);
        if (target.isAbsolute()) {
          cur = target.getRoot();
          curStat = lstat(cur);
        }
        continue;
      }
      if (!s.isDirectory()) {
        throw new IOException(dir + ": " + next + " is not a directory");
      }
      check(dir, next, s, myUid, !todo.isEmpty());
      cur = next;
      curStat = s;
    }
    return cur;
  }

  private static boolean ours(Stat s, int myUid) {
    return s.uid() == 0 || s.uid() == myUid;
  }

  private static void check(Path dir, Path p, Stat s, int myUid, boolean ancestor)
      throws UnsafeDirectoryException {
    String problem = null;
    if (!ours(s, myUid)) {
      problem = p + " belongs to uid " + s.uid();
    } else if ((s.mode() & 022) != 0 && !(ancestor && (s.mode() & STICKY) != 0)) {
      problem = p + " is writable by group or others (mode " + s.octal() + ")";
    }
    if (problem != null) {
      throw new UnsafeDirectoryException(dir + " is not safe for files the CRM creates: "
          + problem + "; it and every directory above it must belong to root (or the CRM's"
          + " user) and be writable by no one else");
    }
  }

  /**
   * Creates {@code file} (in a directory from {@link #secureDirectory}) as a new regular file
   * with mode {@code perms} (less the umask), without following a link, and writes {@code text};
   * if an entry is already there it must be a regular file with one link owned by one of
   * {@code owners}, and {@code text} is appended to it.
   *
   * @return the file's lstat after writing
   * @throws IOException naming the path when the existing entry is anything else
   */
  static Stat createOrAppend(Path file, String text, String perms, Set<Integer> owners)
      throws IOException {
    ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
    try (SeekableByteChannel ch = Files.newByteChannel(file, Set.<OpenOption>of(
        StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(perms)))) {
      writeAll(ch, bytes);
      return lstat(file);
    } catch (FileAlreadyExistsException e) {
      // Reused below, only if it is what the CRM itself would have left there.
    }
    Stat s = lstat(file);
    String problem = s.isLink() ? "is a symbolic link"
        : !s.isRegularFile() ? "is not a regular file (mode " + Integer.toOctalString(s.mode())
            + ")"
        : s.nlink() != 1 ? "has " + s.nlink() + " hard links"
        : !owners.contains(s.uid()) ? "belongs to uid " + s.uid() + " (expected "
            + owners.stream().sorted().map(String::valueOf).toList() + ")"
        : null;
    if (problem != null) {
      throw new IOException(file + " already exists and " + problem + "; the CRM does not"
          + " touch it");
    }
    try (SeekableByteChannel ch = Files.newByteChannel(file, Set.<OpenOption>of(
        StandardOpenOption.WRITE,
        StandardOpenOption.APPEND, LinkOption.NOFOLLOW_LINKS))) {
      writeAll(ch, bytes);
    }
    return lstat(file);
  }

  private static void writeAll(SeekableByteChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  /** lchown: the owner of {@code file} itself, never of what a link points to. */
  static void chown(Path file, int uid, int gid) throws IOException {
    Files.setAttribute(file, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
    Files.setAttribute(file, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
  }
}
