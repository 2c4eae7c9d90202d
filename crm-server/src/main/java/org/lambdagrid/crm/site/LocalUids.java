package org.lambdagrid.crm.site;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.security.HostTools;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The uid of a local account on the CRM's host, for {@code accounts.min_uid}: {@code getent
 * passwd NAME} (getent found once in the system directories, never on the PATH), with a 5 s
 * timeout; an answer is reused for 10 s, so a reservation's Prepare, OpenShare and SetupNodes
 * fork it about once. Null only when getent says the host does not know the account (exit 2):
 * the pilot starter and the NodeManager, which look the account up where it runs, refuse a
 * missing one. Any other failure (a timeout, another exit code, an entry it cannot read) is
 * UNAVAILABLE and not reused: the check is never skipped because the look-up failed. Without
 * getent on the host (logged once, when this class is loaded) no account is checked.
 * Thread-safe.
 */
final class LocalUids {
  private static final Logger log = LoggerFactory.getLogger(LocalUids.class);
  private static final long REUSE_NANOS = TimeUnit.SECONDS.toNanos(10);
  /** Answers kept at most (older ones are dropped first when there are more). */
  private static final int KEEP = 1024;
  /** getent's exit status for "key not found in the database". */
  private static final int NOT_FOUND = 2;

  /** The system's passwd database. */
  static final LocalUids SYSTEM = new LocalUids(HostTools.find("getent", HostTools.SYSTEM_DIRS),
      5000);

  private record Seen(Integer uid, long atNanos) {}

  private final Path getent;
  private final long timeoutMillis;
  private final Map<String, Seen> seen = new ConcurrentHashMap<>();

  /** @param getent the getent program, or null when the host has none (nothing is checked) */
  LocalUids(Path getent, long timeoutMillis) {
    this.getent = getent;
    this.timeoutMillis = timeoutMillis;
    if (getent == null) {
      log.warn("no getent in the system directories ({}): accounts.min_uid cannot be checked"
          + " on this host", HostTools.SYSTEM_DIRS);
    }
  }

  /**
   * The uid of {@code account}, or null when the host does not know it (or has no getent).
   *
   * @throws Errors.RequestException UNAVAILABLE naming the account when the look-up failed
   */
  Integer uid(String account) {
    long now = System.nanoTime();
    Seen s = seen.get(account);
    if (s != null && now - s.atNanos() < REUSE_NANOS) {
      return s.uid();
    }
    Integer uid = lookUp(account);
    if (seen.size() >= KEEP) {
      seen.values().removeIf(o -> now - o.atNanos() >= REUSE_NANOS);
      if (seen.size() >= KEEP) {
        seen.clear();
      }
    }
    seen.put(account, new Seen(uid, now));
    return uid;
  }

  private Integer lookUp(String account) {
    if (getent == null) {
      return null;
    }
    String what = getent + " passwd " + account;
    try {
      Process p = new ProcessBuilder(getent.toString(), "passwd", account)
          .redirectError(ProcessBuilder.Redirect.DISCARD).start();
      p.getOutputStream().close();
      if (!p.waitFor(timeoutMillis, TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw failed(account, what + " did not answer within " + timeoutMillis + " ms");
      }
      String entry = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
          .strip();
      int exit = p.exitValue();
      if (exit == NOT_FOUND) {
        return null;
      }
      if (exit != 0) {
        throw failed(account, what + " exited with status " + exit);
      }
      String[] f = entry.split(":", -1);
      if (f.length < 7 || !f[0].equals(account) || !f[2].matches("\\d{1,10}")) {
        throw failed(account, what + " answered an entry that is not account '" + account
            + "' with a uid");
      }
      return (int) Math.min(Long.parseLong(f[2]), Integer.MAX_VALUE);
    } catch (IOException e) {
      throw failed(account, "cannot run " + what + ": " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw failed(account, what + " was interrupted");
    }
  }

  private static Errors.RequestException failed(String account, String why) {
    return Errors.unavailable("accounts.min_uid: cannot look up the uid of local account '"
        + account + "' on the CRM's host (" + why + "); try again");
  }
}
