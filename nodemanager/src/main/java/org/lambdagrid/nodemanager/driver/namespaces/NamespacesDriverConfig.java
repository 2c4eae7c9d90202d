package org.lambdagrid.nodemanager.driver.namespaces;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * Configuration of the namespaces guest driver, as the site operator writes it in the
 * NodeManager's config (section {@code namespaces:}). Construct with {@link #bridge(String)} /
 * {@link #macvlan(String)} and the {@code with...} methods, or from parsed YAML with
 * {@link #fromMap(Map)}; the canonical constructor validates and names the bad field.
 *
 * <pre>
 * namespaces:
 *   state_dir: /run/lambdagrid/guests  # per-guest state, keys, overlay upper layer
 *   attachment: bridge                 # bridge | macvlan
 *   bridge: lgbr0                      # attachment: bridge -- an existing bridge
 *   parent: eth1                       # attachment: macvlan -- an existing parent interface
 *   macvlan_mode: bridge               # private | vepa | bridge | passthru
 *   default_gateway: null              # off by default; an on-link IPv4 address if wanted
 *   sshd: /usr/sbin/sshd
 *   guest_path: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
 *   shared_paths: []                   # extra host directories shared into every guest
 *   start_timeout_seconds: 20          # how long RUN waits for sshd to accept on guest:22
 *   kill_grace_seconds: 5              # TERM, then KILL after this long
 * </pre>
 *
 * @param stateDir directory holding one sub-directory per guest; created 0700 root
 * @param attachment how eth0 is attached to the site network
 * @param bridge existing bridge the host end of the veth joins (attachment BRIDGE), else null
 * @param parent existing interface the macvlan is made on (attachment MACVLAN), else null
 * @param macvlanMode macvlan mode (MACVLAN only), "bridge" by default
 * @param defaultGateway IPv4 gateway for a default route in the guest, or null for none
 * @param sshdPath absolute path of OpenSSH sshd, also inside the guest (the guest sees the host's
 *     file system)
 * @param guestPath PATH of the job and of ssh sessions in the guest; must reach Open MPI's orted
 * @param sharedPaths absolute host directories bind-mounted into every guest besides the user's
 *     home (e.g. a scratch file system)
 * @param startTimeout how long {@code start} waits for sshd to accept connections
 * @param killGrace time between TERM and KILL when stopping processes
 */
public record NamespacesDriverConfig(
    Path stateDir,
    Attachment attachment,
    String bridge,
    String parent,
    String macvlanMode,
    String defaultGateway,
    String sshdPath,
    String guestPath,
    List<String> sharedPaths,
    Duration startTimeout,
    Duration killGrace) {

  /** How the guest's eth0 reaches the site network. */
  public enum Attachment {
    /** A veth pair: eth0 in the guest, {@code lgv<id>} on the host, enslaved to a bridge. */
    BRIDGE,
    /** A macvlan child of a parent interface, moved into the guest and renamed eth0. */
    MACVLAN
  }

  public static final Path DEFAULT_STATE_DIR = Path.of("/run/lambdagrid/guests");
  public static final String DEFAULT_SSHD = "/usr/sbin/sshd";
  public static final String DEFAULT_GUEST_PATH =
      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(20);
  public static final Duration DEFAULT_KILL_GRACE = Duration.ofSeconds(5);

  /** A network interface name as the kernel takes it (IFNAMSIZ 16, with the NUL). */
  static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");
  private static final Set<String> MACVLAN_MODES = Set.of("private", "vepa", "bridge", "passthru");

  public NamespacesDriverConfig {
    sharedPaths = List.copyOf(sharedPaths == null ? List.of() : sharedPaths);
    if (stateDir == null) {
      stateDir = DEFAULT_STATE_DIR;
    }
    if (macvlanMode == null) {
      macvlanMode = "bridge";
    }
    if (sshdPath == null) {
      sshdPath = DEFAULT_SSHD;
    }
    if (guestPath == null) {
      guestPath = DEFAULT_GUEST_PATH;
    }
    if (startTimeout == null) {
      startTimeout = DEFAULT_START_TIMEOUT;
    }
    if (killGrace == null) {
      killGrace = DEFAULT_KILL_GRACE;
    }
    List<String> errors = new ArrayList<>();
    if (!stateDir.isAbsolute() || stateDir.getNameCount() < 1) {
      errors.add("state_dir: '" + stateDir + "' must be an absolute path below /");
    }
    if (attachment == null) {
      errors.add("attachment: missing; one of bridge, macvlan");
    } else if (attachment == Attachment.BRIDGE) {
      if (bridge == null || !IFNAME.matcher(bridge).matches()) {
        errors.add("bridge: '" + bridge + "' is not an interface name (attachment: bridge needs"
            + " the name of an existing bridge, at most 15 characters)");
      }
      if (parent != null) {
        errors.add("parent: only used with attachment: macvlan");
      }
    } else {
      if (parent == null || !IFNAME.matcher(parent).matches()) {
        errors.add("parent: '" + parent + "' is not an interface name (attachment: macvlan needs"
            + " the name of an existing parent interface, at most 15 characters)");
      }
      if (bridge != null) {
        errors.add("bridge: only used with attachment: bridge");
      }
    }
    if (!MACVLAN_MODES.contains(macvlanMode)) {
      errors.add("macvlan_mode: '" + macvlanMode + "' is not one of " + MACVLAN_MODES);
    }
    if (defaultGateway != null && !Ipv4Cidr.isAddress(defaultGateway)) {
      errors.add("default_gateway: '" + defaultGateway + "' is not an IPv4 address");
    }
    if (!sshdPath.startsWith("/")) {
      errors.add("sshd: '" + sshdPath + "' must be an absolute path (sshd re-executes itself)");
    }
    if (guestPath.isBlank() || guestPath.contains("=") || guestPath.contains(" ")) {
      errors.add("guest_path: '" + guestPath + "' is not a PATH value");
    }
    for (int i = 0; i < sharedPaths.size(); i++) {
      String p = sharedPaths.get(i);
      if (p == null || !p.startsWith("/") || p.equals("/") || p.contains("..")
          || Path.of(p).normalize().toString().length() != p.length()) {
        errors.add("shared_paths[" + i + "]: '" + p + "' must be a normalized absolute path"
            + " other than /");
      }
    }
    if (startTimeout.isNegative() || startTimeout.isZero()) {
      errors.add("start_timeout_seconds: must be positive");
    }
    if (killGrace.isNegative()) {
      errors.add("kill_grace_seconds: must not be negative");
    }
    if (!errors.isEmpty()) {
      throw new IllegalArgumentException(String.join("; ", errors));
    }
  }

  /** Defaults, guests attached by veth to the existing bridge {@code bridge}. */
  public static NamespacesDriverConfig bridge(String bridge) {
    return new NamespacesDriverConfig(null, Attachment.BRIDGE, bridge, null, null, null, null,
        null, List.of(), null, null);
  }

  /** Defaults, guests attached by macvlan (mode bridge) on the existing interface {@code parent}. */
  public static NamespacesDriverConfig macvlan(String parent) {
    return new NamespacesDriverConfig(null, Attachment.MACVLAN, null, parent, null, null, null,
        null, List.of(), null, null);
  }

  public NamespacesDriverConfig withStateDir(Path dir) {
    return new NamespacesDriverConfig(dir, attachment, bridge, parent, macvlanMode,
        defaultGateway, sshdPath, guestPath, sharedPaths, startTimeout, killGrace);
  }

  public NamespacesDriverConfig withDefaultGateway(String gateway) {
    return new NamespacesDriverConfig(stateDir, attachment, bridge, parent, macvlanMode,
        gateway, sshdPath, guestPath, sharedPaths, startTimeout, killGrace);
  }

  public NamespacesDriverConfig withSharedPaths(List<String> paths) {
    return new NamespacesDriverConfig(stateDir, attachment, bridge, parent, macvlanMode,
        defaultGateway, sshdPath, guestPath, paths, startTimeout, killGrace);
  }

  /** The keys {@link #fromMap} accepts. */
  public static final Set<String> KEYS = Set.of("state_dir", "attachment", "bridge", "parent",
      "macvlan_mode", "default_gateway", "sshd", "guest_path", "shared_paths",
      "start_timeout_seconds", "kill_grace_seconds");

  /**
   * Reads the {@code namespaces:} section of the NodeManager config as parsed by Jackson/YAML
   * (strings, numbers, lists). Unknown keys are rejected; missing keys take their default.
   *
   * @throws IllegalArgumentException whose message starts with the field name, e.g.
   *     "attachment: 'vxlan' is not one of bridge, macvlan" (several problems joined by "; ")
   */
  public static NamespacesDriverConfig fromMap(Map<String, ?> map) {
    Map<String, Object> m = new LinkedHashMap<>(map == null ? Map.of() : map);
    List<String> unknown = m.keySet().stream().filter(k -> !KEYS.contains(k)).sorted().toList();
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException(unknown.get(0) + ": unknown field (unknown: " + unknown
          + "; known fields: " + String.join(", ", KEYS.stream().sorted().toList()) + ")");
    }
    String attachmentText = string(m, "attachment");
    Attachment attachment;
    if (attachmentText == null) {
      attachment = null;
    } else {
      attachment = switch (attachmentText.toLowerCase(java.util.Locale.ROOT)) {
        case "bridge" -> Attachment.BRIDGE;
        case "macvlan" -> Attachment.MACVLAN;
        default -> throw new IllegalArgumentException("attachment: '"
            + attachmentText + "' is not one of bridge, macvlan");
      };
    }
    String stateDir = string(m, "state_dir");
    return new NamespacesDriverConfig(
        stateDir == null ? null : Path.of(stateDir),
        attachment,
        string(m, "bridge"),
        string(m, "parent"),
        string(m, "macvlan_mode"),
        string(m, "default_gateway"),
        string(m, "sshd"),
        string(m, "guest_path"),
        stringList(m, "shared_paths"),
        seconds(m, "start_timeout_seconds"),
        seconds(m, "kill_grace_seconds"));
  }

  private static String string(Map<String, Object> m, String key) {
    Object v = m.get(key);
    if (v == null) {
      return null;
    }
    if (v instanceof String s) {
      return s;
    }
    throw new IllegalArgumentException(
        key + ": expected a string, got '" + v + "'");
  }

  private static List<String> stringList(Map<String, Object> m, String key) {
    Object v = m.get(key);
    if (v == null) {
      return List.of();
    }
    if (v instanceof List<?> list && list.stream().allMatch(e -> e instanceof String)) {
      return list.stream().map(String.class::cast).toList();
    }
    throw new IllegalArgumentException(
        key + ": expected a list of strings, got '" + v + "'");
  }

  private static Duration seconds(Map<String, Object> m, String key) {
    Object v = m.get(key);
    if (v == null) {
      return null;
    }
    if (v instanceof Number n) {
      return Duration.ofMillis(Math.round(n.doubleValue() * 1000));
    }
    throw new IllegalArgumentException(
        key + ": expected a number of seconds, got '" + v + "'");
  }
}
