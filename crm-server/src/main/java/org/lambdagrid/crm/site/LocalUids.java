package org.lambdagrid.crm.site;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.security.HostTools;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The uid of a local account on the CRM's host, for {@code accounts.min_uid}: {@code getent
 * passwd NAME} (getent found once in the system directories, never on the PATH), with a 5 s
 * timeout; an answer is reused for 10 s, so a reservation's Prepare, OpenShare and SetupNodes
 * fork it about once. Null when the host does not know the account (or getent cannot say): the
 * pilot starter and the NodeManager, which look the account up where it runs, refuse a missing
 * one. Thread-safe.
 */
final class LocalUids {
  private static final Logger log = LoggerFactory.getLogger(LocalUids.class);
  private static final Path GETENT = HostTools.find("getent", HostTools.SYSTEM_DIRS);
  private static final long REUSE_NANOS = TimeUnit.SECONDS.toNanos(10);

  /** The system's passwd database. */
  static final LocalUids SYSTEM = new LocalUids();

  private record Seen(Integer uid, long atNanos) {}

  private final Map<String, Seen> seen = new ConcurrentHashMap<>();

  private LocalUids() {}

  /** The uid of {@code account}, or null when unknown here. */
  Integer uid(String account) {
    long now = System.nanoTime();
    Seen s = seen.get(account);
    if (s != null && now - s.atNanos() < REUSE_NANOS) {
      return s.uid();
    }
    Integer uid = lookUp(account);
    seen.put(account, new Seen(uid, now));
    return uid;
  }

  private static Integer lookUp(String account) {
    if (GETENT == null) {
      return null;
    }
    try {
      Process p = new ProcessBuilder(GETENT.toString(), "passwd", account)
          .redirectError(ProcessBuilder.Redirect.DISCARD).start();
      p.getOutputStream().close();
      if (!p.waitFor(5, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        log.warn("getent passwd {} did not answer within 5s; accounts.min_uid not checked",
            account);
        return null;
      }
      String entry = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
          .strip();
      String[] f = entry.split(":", -1);
      if (p.exitValue() != 0 || f.length < 7 || !f[0].equals(account)
          || !f[2].matches("\\d{1,10}")) {
        return null;
      }
      return (int) Math.min(Long.parseLong(f[2]), Integer.MAX_VALUE);
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }
}
