package org.lambdagrid.nodemanager.bench;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Properties;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.lambdagrid.nodemanager.driver.RunningCommand;
import org.lambdagrid.nodemanager.driver.namespaces.NamespacesDriver;
import org.lambdagrid.nodemanager.driver.namespaces.NamespacesDriverConfig;

/**
 * Benchmark helper for {@code scripts/bench}: builds N real guests with the
 * {@link NamespacesDriver} (SETUP, GET_KEYS, SET_KEYS with every guest's keys, RUN), then runs
 * a host command and/or a command inside guest 0 (through the driver's EXEC, as the user), then
 * stops and destroys every guest. Prints one {@code bench: PHASE guest=I ms=T} line per guest
 * and phase, so the harness can time build, start and destroy per guest.
 *
 * <pre>
 * GuestBench --attachment bridge|macvlan --link BRIDGE_OR_PARENT --user USER
 *            [--guests N] [--subnet 10.99.0] [--state DIR]
 *            [--host-cmd 'SHELL'] [--guest-cmd 'SHELL'] [--workdir DIR]
 * </pre>
 *
 * The host command gets {@code G_COUNT} and per guest {@code G<i>_NS} (netns), {@code G<i>_ADDR},
 * {@code G<i>_LINK} (host-side link, bridge attachment only), {@code G<i>_INIT} (pid of the
 * guest's init, for nsenter). Guest addresses are SUBNET.(i+1)/24. Exit status: that of the
 * first failing command, 3 if a guest could not be destroyed completely.
 */
public final class GuestBench {
  private GuestBench() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> opt = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        System.err.println("GuestBench: bad argument '" + args[i] + "'");
        System.exit(2);
      }
      opt.put(args[i].substring(2), args[++i]);
    }
    String attachment = opt.getOrDefault("attachment", "bridge");
    String link = opt.get("link");
    String user = opt.get("user");
    if (link == null || user == null) {
      System.err.println("GuestBench: --link and --user are required");
      System.exit(2);
    }
    int n = Integer.parseInt(opt.getOrDefault("guests", "2"));
    String subnet = opt.getOrDefault("subnet", "10.99.0");
    Path state = Path.of(opt.getOrDefault("state", "/run/lambdagrid/bench-guests"));
    NamespacesDriverConfig cfg = (attachment.equals("macvlan")
        ? NamespacesDriverConfig.macvlan(link) : NamespacesDriverConfig.bridge(link))
        .withStateDir(state);
    NamespacesDriver driver = new NamespacesDriver(cfg);
    List<String> problems = driver.checkHost();
    if (!problems.isEmpty()) {
      System.err.println("GuestBench: cannot run: " + problems);
      System.exit(4);
    }

    List<GuestHandle> guests = new ArrayList<>();
    int rc = 0;
    try {
      for (int i = 0; i < n; i++) {
        long t = System.nanoTime();
        guests.add(driver.build(new GuestSpec("bench", "lgb-" + i, subnet + "." + (i + 1), 24,
            List.of(), user)));
        report("build", i, t);
      }
      StringBuilder hostfile = new StringBuilder();
      StringBuilder known = new StringBuilder();
      StringBuilder auth = new StringBuilder();
      StringBuilder hosts = new StringBuilder();
      for (int i = 0; i < n; i++) {
        long t = System.nanoTime();
        GuestKeys k = driver.publicKeys(guests.get(i));
        report("keys", i, t);
        String addr = guests.get(i).spec().address();
        String name = guests.get(i).spec().hostname();
        hostfile.append(addr).append(" slots=1\n");
        known.append(name).append(',').append(addr).append(' ').append(k.hostPublicKey())
            .append('\n');
        auth.append(k.userPublicKey()).append('\n');
        hosts.append(addr).append(' ').append(name).append('\n');
      }
      GuestTrust trust = new GuestTrust(hostfile.toString(), known.toString(), auth.toString(),
          hosts.toString());
      for (int i = 0; i < n; i++) {
        long t = System.nanoTime();
        driver.installTrust(guests.get(i), trust);
        report("trust", i, t);
      }
      for (int i = 0; i < n; i++) {
        long t = System.nanoTime();
        driver.start(guests.get(i));
        report("start", i, t);
      }

      if (opt.containsKey("host-cmd")) {
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", opt.get("host-cmd")).inheritIO();
        pb.environment().put("G_COUNT", Integer.toString(n));
        for (int i = 0; i < n; i++) {
          Properties p = new Properties();
          try (InputStream in = Files.newInputStream(
              guests.get(i).stateDir().resolve("guest.properties"))) {
            p.load(in);
          }
          pb.environment().put("G" + i + "_NS", p.getProperty("netns", ""));
          pb.environment().put("G" + i + "_ADDR", guests.get(i).spec().address());
          pb.environment().put("G" + i + "_LINK",
              attachment.equals("bridge") ? p.getProperty("hostLink", "") : "");
          pb.environment().put("G" + i + "_INIT", p.getProperty("init.pid", ""));
        }
        int r = pb.start().waitFor();
        if (r != 0) {
          System.err.println("GuestBench: host command exited " + r);
          rc = r;
        }
      }
      if (rc == 0 && opt.containsKey("guest-cmd")) {
        RunningCommand c = driver.exec(guests.get(0), new ExecRequest(
            List.of("bash", "-c", opt.get("guest-cmd")), Map.of(),
            opt.getOrDefault("workdir", "/"), user), (stderr, data) -> {
              (stderr ? System.err : System.out).write(data, 0, data.length);
              (stderr ? System.err : System.out).flush();
            });
        OptionalInt r = c.waitFor(Duration.ofMinutes(30));
        if (r.isEmpty() || r.getAsInt() != 0) {
          System.err.println("GuestBench: guest command exited " + r);
          rc = r.isEmpty() ? 1 : r.getAsInt();
        }
      }
    } catch (Exception e) {
      System.err.println("GuestBench: " + e.getMessage());
      rc = 1;
    } finally {
      for (int i = 0; i < guests.size(); i++) {
        long t = System.nanoTime();
        driver.stop(guests.get(i));
        report("stop", i, t);
        t = System.nanoTime();
        List<String> left = driver.destroy(guests.get(i));
        report("destroy", i, t);
        if (!left.isEmpty()) {
          System.err.println("GuestBench: guest " + i + " left " + left);
          rc = rc == 0 ? 3 : rc;
        }
      }
      try {
        Files.deleteIfExists(state);
      } catch (IOException e) {
        // not empty: reported by the leak check
      }
    }
    System.out.flush();
    System.exit(rc);
  }

  private static void report(String phase, int guest, long startNanos) {
    System.out.printf(Locale.ROOT, "bench: %s guest=%d ms=%.1f%n", phase, guest,
        (System.nanoTime() - startNanos) / 1e6);
    System.out.flush();
  }
}
