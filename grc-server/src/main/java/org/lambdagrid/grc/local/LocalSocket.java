package org.lambdagrid.grc.local;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import jdk.net.ExtendedSocketOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The GRC's local login socket: a Unix domain socket (mode 0666) on which each connection is
 * answered, once, with a {@link LoginAnswer} for the OS user the kernel reports for the peer
 * (SO_PEERCRED), then closed. The adapter only: who gets what is {@link LocalLogin}'s.
 *
 * <p>Binding refuses a socket directory that belongs to anyone but root or the GRC's user, or that
 * users other than its owner may write (they could replace the socket), and refuses if another GRC still answers on the path; a stale file left by
 * a GRC that died is replaced. {@link #close} removes the file.
 */
public final class LocalSocket implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(LocalSocket.class);

  /** The OS user of a connected peer; tests inject their own. */
  @FunctionalInterface
  public interface PeerLookup {
    String user(SocketChannel ch) throws IOException;
  }

  /** The kernel's word: SO_PEERCRED. */
  public static final PeerLookup PEERCRED =
      ch -> ch.getOption(ExtendedSocketOptions.SO_PEERCRED).user().getName();

  private final Path path;
  private final ServerSocketChannel server;
  private final Thread thread;
  private volatile boolean closed;

  private LocalSocket(Path path, ServerSocketChannel server, LocalLogin login, PeerLookup peers) {
    this.path = path;
    this.server = server;
    this.thread = new Thread(() -> serve(login, peers), "grc-local-login");
    this.thread.setDaemon(true);
  }

  /**
   * Binds {@code path} (creating its directory, mode 0755, if missing) and serves on a thread.
   *
   * @throws IllegalStateException naming the problem: another GRC answers there, the
   *     directory is writable by others, or the socket cannot be bound
   * @throws IOException if the directory cannot be created or inspected
   */
  public static LocalSocket bind(Path path, LocalLogin login, PeerLookup peers)
      throws IOException {
    Path dir = path.toAbsolutePath().getParent();
    if (!Files.isDirectory(dir)) {
      Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(
          PosixFilePermissions.fromString("rwxr-xr-x")));
    }
    String owner = Files.getOwner(dir).getName();
    String me = System.getProperty("user.name");
    if (!owner.equals("root") && !owner.equals(me)) {
      throw new IllegalStateException("local.socket: the directory " + dir + " belongs to '"
          + owner + "', not to root or the GRC's user '" + me + "' (its owner could replace the"
          + " socket); use a directory only the GRC's user (root) can write, e.g."
          + " /run/lambdagrid");
    }
    Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir);
    if (perms.contains(PosixFilePermission.GROUP_WRITE)
        || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
      throw new IllegalStateException("local.socket: the directory " + dir + " is writable by"
          + " users other than its owner (" + PosixFilePermissions.toString(perms)
          + "); use a directory only the GRC's user (root) can write, e.g. /run/lambdagrid");
    }
    if (Files.exists(path)) {
      boolean answers;
      try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
        answers = true;
      } catch (IOException stale) {
        answers = false;
      }
      if (answers) {
        throw new IllegalStateException("local.socket: another GRC is already answering on "
            + path + " (stop it, or give this one another local.socket)");
      }
      Files.delete(path);
    }
    ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      s.bind(UnixDomainSocketAddress.of(path));
      Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw-rw-"));
    } catch (IOException e) {
      s.close();
      throw new IllegalStateException("local.socket: cannot listen on " + path + ": " + e, e);
    }
    LocalSocket ls = new LocalSocket(path, s, login, peers);
    ls.thread.start();
    log.info("local login on {}", path);
    return ls;
  }

  public Path path() {
    return path;
  }

  private void serve(LocalLogin login, PeerLookup peers) {
    while (!closed) {
      try (SocketChannel ch = server.accept()) {
        answer(ch, login, peers);
      } catch (ClosedChannelException e) {
        return;
      } catch (IOException e) {
        // the peer left before the answer (e.g. another GRC probing whether this one answers)
        log.debug("local login: {}", e.toString());
      } catch (RuntimeException e) {
        if (!closed) {
          log.warn("local login: {}", e.toString());
        }
      }
    }
  }

  private static void answer(SocketChannel ch, LocalLogin login, PeerLookup peers)
      throws IOException {
    String who = peers.user(ch);
    LoginAnswer a = login.login(who);
    if (a.ok()) {
      log.info("local login: a session for {} until {}", a.user(), a.expires());
    } else {
      log.warn("local login: refused OS user {}: {}", who, a.error());
    }
    ByteBuffer b = ByteBuffer.wrap(a.format().getBytes(StandardCharsets.UTF_8));
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  /** Stops answering and removes the socket file. */
  @Override
  public void close() {
    closed = true;
    try {
      server.close();
    } catch (IOException e) {
      // closing anyway
    }
    try {
      Files.deleteIfExists(path);
    } catch (IOException e) {
      log.warn("cannot remove {}: {}", path, e.toString());
    }
  }
}
