package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.net.LinkCommands;
import org.lambdagrid.common.security.SecurePaths;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The driver's state directory (namespaces.state_dir): 0700, root's alone when run as root, one
 * sub-directory per guest named by its id (8 hex digits) holding its {@link GuestRecord}.
 * Records tell root what to kill and delete, so they are trusted only in a directory nobody
 * else can write.
 *
 * <p>Thread-safe.
 */
final class StateDir {
  private static final Logger log = LoggerFactory.getLogger(StateDir.class);

  private final NamespacesDriverConfig config;
  private final SecureRandom random = new SecureRandom();

  StateDir(NamespacesDriverConfig config) {
    this.config = config;
  }

  /**
   * Creates the directory of a new guest with a fresh id and saves its first record. {@code claim}
   * gets the id before the record exists, so no {@link #recoverable} call can see it unclaimed.
   */
  GuestRecord newGuest(GuestSpec spec, Consumer<String> claim) throws GuestException {
    try {
      Path base = config.stateDir();
      if (HostCommand.isRoot()) {
        SecurePaths.createRootOnlyDirectory(base, "namespaces.state_dir");
      } else {
        Files.createDirectories(base);
      }
      Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx------"));
      for (int attempt = 0; attempt < 100; attempt++) {
        String id = HexFormat.of().formatHex(random.generateSeed(4));
        Path dir = base.resolve(id);
        if (Files.exists(dir) || LinkCommands.netnsExists(NetworkPlan.netns(id))) {
          continue;
        }
        try {
          Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(
              PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
          continue;
        }
        claim.accept(id);
        GuestRecord rec = GuestRecord.create(dir, id, spec,
            config.attachment().name().toLowerCase(Locale.ROOT));
        rec.save();
        return rec;
      }
      throw new GuestException("could not find a free guest id under " + base);
    } catch (ConfigException e) {
      throw new GuestException(e.getMessage(), e);
    } catch (IOException e) {
      throw new GuestException("cannot create the guest's state directory under "
          + config.stateDir() + ": " + e.getMessage(), e);
    }
  }

  /**
   * The guests recorded here that are not in use elsewhere: not owned by another live process
   * and not {@code inUseInThisProcess}; plus directories of builds that crashed before their
   * first record (older than a minute: a younger one may be a concurrent NodeManager's guest
   * about to write its record). Sorted by id.
   */
  List<GuestHandle> recoverable(Predicate<GuestRecord> inUseInThisProcess) {
    List<GuestHandle> found = new ArrayList<>();
    Path base = config.stateDir();
    if (!Files.isDirectory(base)) {
      return found;
    }
    String unsafe = problem(base);
    if (unsafe != null) {
      log.error("not recovering guests from {}: {}", base, unsafe);
      return found;
    }
    try (Stream<Path> dirs = Files.list(base)) {
      for (Path dir : dirs.filter(d -> Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS))
          .sorted().toList()) {
        if (Files.exists(dir.resolve(GuestRecord.FILE))) {
          try {
            GuestRecord rec = GuestRecord.load(dir);
            if (rec.ownedByAnotherLiveProcess() || inUseInThisProcess.test(rec)) {
              continue;
            }
            found.add(rec.handle());
          } catch (IOException | RuntimeException e) {
            log.warn("unreadable guest record in {}: {}", dir, e.toString());
          }
        } else if (GuestRecord.ID.matcher(dir.getFileName().toString()).matches()
            && olderThanAMinute(dir)) {
          // Created, crashed before the first record was written: nothing else was built.
          found.add(new GuestHandle(dir.getFileName().toString(),
              new GuestSpec("", "", "", 0, List.of(), ""), dir));
        }
      }
    } catch (IOException e) {
      log.warn("cannot list {}: {}", base, e.toString());
    }
    return found;
  }

  /**
   * Removes a guest's directory, its record with it; never while something is mounted there.
   * Returns what is left.
   */
  static List<String> remove(Path dir) {
    List<String> mounted = ProcFs.mountsUnder(dir);
    if (!mounted.isEmpty()) {
      return List.of("state directory " + dir + " still has mounts " + mounted
          + "; not removed");
    }
    try {
      SafeFiles.deleteTree(dir);
      return List.of();
    } catch (IOException e) {
      return List.of("state directory " + dir + ": " + e);
    }
  }

  /** Why root must not trust the records under {@code base}, or null (not root: no check). */
  static String problem(Path base) {
    if (!HostCommand.isRoot()) {
      return null;
    }
    try {
      SecurePaths.requireRootOnly(base, "namespaces.state_dir");
      return null;
    } catch (ConfigException e) {
      return e.getMessage();
    }
  }

  private static boolean olderThanAMinute(Path dir) {
    try {
      return Files.getLastModifiedTime(dir).toInstant().isBefore(Instant.now().minusSeconds(60));
    } catch (IOException e) {
      return false;
    }
  }
}
