package org.lambdagrid.crm.site;

import java.util.Map;
import java.util.TreeMap;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.PosixNames;

/**
 * Which local account a grid user's guests and command run as on this site: the site operator's
 * rule ({@code accounts:} in crm.yaml), never the user's choice. A grid user the explicit
 * {@code map} names gets its entry; any other gets {@code prefix + name + suffix} (by default the
 * same name), unless {@code require_map} is set, which refuses it.
 *
 * <p>Every grid user gets an account of its own: the map may not give two grid users the same
 * account (refused when the configuration is read), and a user the map does not name is refused
 * when the rule would give it an account the map already gives someone else. Nor is anyone given
 * {@code root}, nor a system account: one whose uid on the CRM's host is below {@code min_uid}
 * (default {@value #DEFAULT_MIN_UID}, the first regular uid of common distributions; e.g.
 * {@code daemon}, {@code www-data}), nor {@code nobody} (uid {@value #OVERFLOW_UID}). Whether
 * the account exists is the node's business (the pilot starter and the NodeManager look it up):
 * an account the CRM's host does not know is not refused here; a look-up that failed (getent
 * timed out or erred) is UNAVAILABLE, never taken as "allowed".
 *
 * <p>Immutable and thread-safe; plain Java but for the uid look-up, which tests give.
 */
public final class SiteAccounts {
  private static final java.util.regex.Pattern PREFIX =
      java.util.regex.Pattern.compile("([a-z_][a-z0-9_.-]*)?");
  private static final java.util.regex.Pattern SUFFIX =
      java.util.regex.Pattern.compile("[a-z0-9_.-]*");

  /** The lowest uid an account jobs run as may have, unless {@code min_uid} says otherwise. */
  public static final int DEFAULT_MIN_UID = 1000;

  /** nobody's uid (the kernel's overflow uid): never an account jobs run as. */
  public static final int OVERFLOW_UID = 65534;

  /** The default: every grid user runs as the local account of the same name. */
  public static final SiteAccounts SAME_NAME = new SiteAccounts(Map.of(), "", "", false);

  private final Map<String, String> map;
  private final Map<String, String> byAccount;
  private final String prefix;
  private final String suffix;
  private final boolean requireMap;
  private final int minUid;
  private final java.util.function.Function<String, Integer> uids;

  /** With {@code min_uid} {@value #DEFAULT_MIN_UID}, uids from the CRM host's passwd database. */
  public SiteAccounts(Map<String, String> map, String prefix, String suffix, boolean requireMap) {
    this(map, prefix, suffix, requireMap, DEFAULT_MIN_UID, LocalUids.SYSTEM::uid);
  }

  /** The section as read: uids from the CRM host's passwd database. */
  public static SiteAccounts of(Map<String, String> map, String prefix, String suffix,
      boolean requireMap, int minUid) {
    return new SiteAccounts(map, prefix, suffix, requireMap, minUid, LocalUids.SYSTEM::uid);
  }

  /**
   * @param map grid user name -> local account name
   * @param prefix put before a grid user's name the map does not list ("" for none)
   * @param suffix put after it ("" for none)
   * @param requireMap refuse every grid user the map does not list
   * @param minUid the lowest uid an account may have (at least 1)
   * @param uids an account's uid on the CRM's host, or null when unknown there; throws
   *     {@link Errors.RequestException} UNAVAILABLE when it cannot say
   * @throws IllegalArgumentException naming the field (relative to {@code accounts:}) and value:
   *     a name that is not a login name, root, an account given to two grid users, a prefix or
   *     suffix that cannot be part of a login name, a min_uid below 1
   */
  public SiteAccounts(Map<String, String> map, String prefix, String suffix, boolean requireMap,
      int minUid, java.util.function.Function<String, Integer> uids) {
    if (minUid < 1) {
      throw new IllegalArgumentException("min_uid: '" + minUid + "' must be at least 1 (uid 0"
          + " is root, which never runs jobs)");
    }
    this.minUid = minUid;
    this.uids = uids;
    this.prefix = prefix == null ? "" : prefix;
    this.suffix = suffix == null ? "" : suffix;
    this.requireMap = requireMap;
    if (!PREFIX.matcher(this.prefix).matches()) {
      throw new IllegalArgumentException("prefix: '" + this.prefix + "' cannot begin a login"
          + " name (a-z or _, then a-z, 0-9, _ . -)");
    }
    if (!SUFFIX.matcher(this.suffix).matches()) {
      throw new IllegalArgumentException("suffix: '" + this.suffix + "' cannot end a login"
          + " name (a-z, 0-9, _ . -)");
    }
    Map<String, String> m = new TreeMap<>();
    Map<String, String> owners = new TreeMap<>();
    // In name order, so a refusal names the same entry every time.
    for (Map.Entry<String, String> e : new TreeMap<>(map == null ? Map.<String, String>of() : map)
        .entrySet()) {
      String grid = e.getKey();
      String local = e.getValue();
      String field = "map[" + grid + "]";
      if (grid == null || !PosixNames.LOGIN.matcher(grid).matches()) {
        throw new IllegalArgumentException("map: '" + grid + "' is not a grid user name (a"
            + " login name: a-z or _, then up to 31 of a-z, 0-9, _ . -)");
      }
      if (grid.equals("root")) {
        throw new IllegalArgumentException("map: 'root' is not a grid user (jobs never run as"
            + " root)");
      }
      if (local == null || !PosixNames.LOGIN.matcher(local).matches()) {
        throw new IllegalArgumentException(field + ": '" + local + "' is not a login name (a-z"
            + " or _, then up to 31 of a-z, 0-9, _ . -)");
      }
      if (local.equals("root")) {
        throw new IllegalArgumentException(field + ": 'root' may not run jobs; jobs never run"
            + " as root");
      }
      String other = owners.putIfAbsent(local, grid);
      if (other != null) {
        throw new IllegalArgumentException(field + ": '" + local + "' is already the account"
            + " of grid user '" + other + "' (map[" + other + "]); each grid user needs an"
            + " account of its own");
      }
      m.put(grid, local);
    }
    this.map = java.util.Collections.unmodifiableMap(m);
    this.byAccount = java.util.Collections.unmodifiableMap(owners);
  }

  /**
   * The local account {@code gridUser}'s guests and command run as on this site.
   *
   * @throws Errors.RequestException FAILED_PRECONDITION naming the field and the user: the map
   *     lacks the user and {@code require_map} is set; the rule gives a name that is not a login
   *     name, is root, or is the account the map gives another grid user; the account's uid on
   *     the CRM's host is below {@code min_uid} or is {@value #OVERFLOW_UID}; UNAVAILABLE when
   *     the uid could not be looked up
   */
  public String localAccount(String gridUser) {
    String mapped = map.get(gridUser);
    if (mapped != null) {
      return regular(gridUser, mapped);
    }
    if (requireMap) {
      throw Errors.precondition("accounts.map: has no entry for grid user '" + gridUser
          + "', and accounts.require_map is true: this site runs only the grid users its map"
          + " names (ask the site's operator for an account)");
    }
    String local = prefix + gridUser + suffix;
    String rule = rule();
    if (!PosixNames.LOGIN.matcher(local).matches()) {
      throw Errors.precondition("accounts: grid user '" + gridUser + "' would be local account '"
          + local + "' (" + rule + "), which is not a login name (at most 32 of a-z, 0-9, _ . -)");
    }
    if (local.equals("root")) {
      throw Errors.precondition("accounts: grid user '" + gridUser + "' would be local account"
          + " 'root' (" + rule + "); jobs never run as root");
    }
    String owner = byAccount.get(local);
    if (owner != null) {
      throw Errors.precondition("accounts: grid user '" + gridUser + "' would be local account '"
          + local + "' (" + rule + "), which accounts.map[" + owner + "] gives grid user '"
          + owner + "'; add '" + gridUser + "' to accounts.map or set accounts.require_map");
    }
    return regular(gridUser, local);
  }

  /**
   * {@code local}, unless its uid here is below {@code min_uid} (a system account) or is
   * {@value #OVERFLOW_UID} (nobody: the kernel's overflow uid, which unmapped ids show as).
   */
  private String regular(String gridUser, String local) {
    Integer uid = uids.apply(local); // UNAVAILABLE when the look-up failed: never skipped
    if (uid != null && uid == OVERFLOW_UID) {
      String by = origin(gridUser);
      throw Errors.precondition("accounts: local account '" + local + "' of grid user '"
          + gridUser + "'" + (by == null ? "" : " (" + by + ")") + " has uid " + uid
          + " (nobody, the overflow uid that unmapped users show as): it never runs jobs (map"
          + " the user to a regular account)");
    }
    if (uid != null && uid < minUid) {
      String by = origin(gridUser);
      throw Errors.precondition("accounts.min_uid: local account '" + local + "' of grid user '"
          + gridUser + "'" + (by == null ? "" : " (" + by + ")") + " has uid " + uid
          + ", below accounts.min_uid " + minUid + ": a system account never runs jobs (map the"
          + " user to a regular account, or lower accounts.min_uid)");
    }
    return local;
  }

  /** The lowest uid a job's account may have ({@code min_uid}). */
  public int minUid() {
    return minUid;
  }

  /**
   * Where {@code gridUser}'s account on this site comes from, for messages:
   * {@code accounts.map[alice]}, the prefix/suffix rule, or null when it is the same name by
   * default (nothing to explain).
   */
  public String origin(String gridUser) {
    if (map.containsKey(gridUser)) {
      return "accounts.map[" + gridUser + "]";
    }
    return prefix.isEmpty() && suffix.isEmpty() ? null : rule();
  }

  /** Whether every grid user runs as the account of its own name (no accounts: section). */
  public boolean isSameName() {
    return map.isEmpty() && prefix.isEmpty() && suffix.isEmpty() && !requireMap;
  }

  private String rule() {
    return "accounts.prefix '" + prefix + "' + name + accounts.suffix '" + suffix + "'";
  }

  @Override
  public String toString() {
    return "accounts{map=" + map + ", prefix='" + prefix + "', suffix='" + suffix
        + "', require_map=" + requireMap + ", min_uid=" + minUid + "}";
  }
}
