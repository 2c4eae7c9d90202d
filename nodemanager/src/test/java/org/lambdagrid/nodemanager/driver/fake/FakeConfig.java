package org.lambdagrid.nodemanager.driver.fake;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The fake driver's {@code driver_config} section. Every key is optional:
 *
 * <pre>
 * driver: fake
 * driver_config:
 *   fail_at: setup          # setup | get_keys | set_keys | run | exec | stop: that call fails
 *   hang_at: run            # setup | get_keys | set_keys | run | exec: that call blocks until
 *                           #   interrupted (the node never answers the phase)
 *   exit_code: 3            # EXEC's command reports this exit code instead of its own
 *   check_host: [no root]   # checkHost returns these reasons (a string or a list)
 *   destroy_leaves: "lg-x"  # destroy reports this as left over
 *   only_on: [site-1]       # fail_at / hang_at / destroy_leaves apply only to these hostnames
 *   oom_kills: 1            # limitEvents of a guest with a memory limit report this many OOM
 *                           #   kills from its build on (the fake enforces nothing), plus one
 *                           #   per line the command appends to $LAMBDAGRID_FAKE_OOM
 * </pre>
 */
public record FakeConfig(String failAt, String hangAt, Integer exitCode, List<String> checkHost,
    String destroyLeaves, List<String> onlyOn, int oomKills) {

  public static final Set<String> KEYS = Set.of("fail_at", "hang_at", "exit_code", "check_host",
      "destroy_leaves", "only_on", "oom_kills");

  public FakeConfig(String failAt, String hangAt, Integer exitCode, List<String> checkHost,
      String destroyLeaves, List<String> onlyOn) {
    this(failAt, hangAt, exitCode, checkHost, destroyLeaves, onlyOn, 0);
  }

  public FakeConfig {
    if (failAt != null && !FakeGuestDriver.PHASES.contains(failAt) && !failAt.equals("stop")) {
      throw new IllegalArgumentException("fail_at: '" + failAt + "' is not one of "
          + new TreeSet<>(FakeGuestDriver.PHASES) + " or stop");
    }
    if (hangAt != null && !FakeGuestDriver.PHASES.contains(hangAt)) {
      throw new IllegalArgumentException("hang_at: '" + hangAt + "' is not one of "
          + new TreeSet<>(FakeGuestDriver.PHASES));
    }
    checkHost = checkHost == null ? List.of() : List.copyOf(checkHost);
    onlyOn = onlyOn == null ? List.of() : List.copyOf(onlyOn);
  }

  public static FakeConfig none() {
    return new FakeConfig(null, null, null, null, null, null);
  }

  /** Whether injected failures apply to {@code hostname}. */
  public boolean appliesTo(String hostname) {
    return onlyOn.isEmpty() || onlyOn.contains(hostname);
  }

  /** From the parsed YAML section; unknown keys and wrong types are named. */
  public static FakeConfig fromMap(Map<String, Object> m) {
    for (String k : m.keySet()) {
      if (!KEYS.contains(k)) {
        throw new IllegalArgumentException(k + ": unknown field (known fields: "
            + String.join(", ", new TreeSet<>(KEYS)) + ")");
      }
    }
    Object exit = m.get("exit_code");
    if (exit != null && !(exit instanceof Integer)) {
      throw new IllegalArgumentException("exit_code: '" + exit + "' is not an integer");
    }
    Object oom = m.getOrDefault("oom_kills", 0);
    if (!(oom instanceof Integer)) {
      throw new IllegalArgumentException("oom_kills: '" + oom + "' is not an integer");
    }
    return new FakeConfig(string(m, "fail_at"), string(m, "hang_at"), (Integer) exit,
        strings(m, "check_host"), string(m, "destroy_leaves"), strings(m, "only_on"),
        (Integer) oom);
  }

  private static String string(Map<String, Object> m, String key) {
    Object v = m.get(key);
    if (v == null || v instanceof String) {
      return (String) v;
    }
    throw new IllegalArgumentException(key + ": '" + v + "' is not a string");
  }

  private static List<String> strings(Map<String, Object> m, String key) {
    Object v = m.get(key);
    if (v == null) {
      return List.of();
    }
    if (v instanceof String s) {
      return List.of(s);
    }
    if (v instanceof List<?> list) {
      List<String> out = new ArrayList<>();
      for (Object o : list) {
        out.add(String.valueOf(o));
      }
      return out;
    }
    throw new IllegalArgumentException(key + ": '" + v + "' is not a string or a list");
  }
}
