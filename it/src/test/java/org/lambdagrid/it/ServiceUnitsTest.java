package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.crm.CrmConfig;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.nodemanager.NodeManagerConfig;
import org.lambdagrid.nodemanager.driver.namespaces.NamespacesDriverConfig;

/**
 * {@code scripts/install-service} and the systemd units and example configs it installs
 * ({@code scripts/systemd}), staged with {@code --root} into a temp dir for a stub installed tree:
 * systemd accepts the units without a word, the GRC and the CRM run sandboxed and the node agent
 * as root without a sandbox its guests would inherit, the unit and the configs agree on paths,
 * every config key exists in the daemons' config records, an operator's config survives a second
 * run, and bad arguments are refused. Runs in seconds and needs no root; the systemd-analyze
 * checks are skipped, saying why, where it is missing (Debian: the systemd package).
 */
class ServiceUnitsTest {
  private static final Path REPO = Path.of("").toAbsolutePath().getParent();
  private static final Path SCRIPT = REPO.resolve("scripts/install-service");
  private static final Duration TIMEOUT = Duration.ofSeconds(60);

  @TempDir
  Path dir;
  private Path tree;
  private Path root;

  /** A tree shaped like scripts/install's: bin/ with the three daemons' commands, and lib/. */
  @BeforeEach
  void stubTree() throws IOException {
    tree = Files.createDirectories(dir.resolve("tree/bin"));
    for (String b : List.of("grc-server", "crm-server", "nodemanager")) {
      Path f = Files.writeString(tree.resolve(b), "#!/bin/sh\nexit 0\n");
      Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
    tree = tree.getParent();
    Files.createDirectories(tree.resolve("lib"));
    root = dir.resolve("root");
  }

  private Sh.Result install(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(SCRIPT.toString(), "--root", root.toString(),
        "--prefix", tree.toString()));
    cmd.addAll(List.of(args));
    return Sh.run(TIMEOUT, cmd.toArray(String[]::new));
  }

  private Path unit(String name) {
    return root.resolve("etc/systemd/system").resolve(name);
  }

  /** A unit's [Service] settings: key to its values in order (a key may repeat). */
  private static Map<String, List<String>> service(Path unit) throws IOException {
    Map<String, List<String>> m = new TreeMap<>();
    boolean inService = false;
    for (String line : Files.readAllLines(unit)) {
      if (line.startsWith("[")) {
        inService = line.equals("[Service]");
      } else if (inService && !line.startsWith("#") && line.contains("=")) {
        int eq = line.indexOf('=');
        m.computeIfAbsent(line.substring(0, eq), k -> new ArrayList<>())
            .add(line.substring(eq + 1));
      }
    }
    return m;
  }

  @Test
  void systemdAnalyzeVerifyAcceptsEveryUnitWithoutAWord() throws Exception {
    install("grc", "crm@alpha", "node-agent").orFail("install-service");
    assumeTrue(Sh.onPath("systemd-analyze"),
        "skipped: needs systemd-analyze (Debian: apt-get install systemd)");
    for (String u : List.of("lambdagrid-grc.service", "lambdagrid-crm@.service",
        "lambdagrid-node-agent.service")) {
      Sh.Result r = Sh.run(TIMEOUT, "systemd-analyze", "verify", unit(u).toString());
      // verify exits 0 on unknown keys and bad values too: only its silence about our unit counts.
      List<String> ours = (r.out() + r.err()).lines().filter(l -> l.contains("lambdagrid"))
          .toList();
      assertThat(ours).as(u + ":\n" + r.out() + r.err()).isEmpty();
      assertThat(r.exit()).as(u + ":\n" + r.out() + r.err()).isZero();
    }
  }

  @Test
  void grcAndCrmRunSandboxedTheGrcWithoutRoot() throws Exception {
    install("grc", "crm@alpha").orFail("install-service");
    Map<String, List<String>> grc = service(unit("lambdagrid-grc.service"));
    Map<String, List<String>> crm = service(unit("lambdagrid-crm@.service"));
    assertThat(grc.get("User")).containsExactly("lambdagrid");
    assertThat(grc.get("CapabilityBoundingSet")).containsExactly("");
    assertThat(grc.get("SystemCallFilter")).containsExactly("@system-service",
        "~@privileged @resources");
    assertThat(grc.get("StateDirectory")).containsExactly("lambdagrid/grc");
    assertThat(grc.get("ExecStart"))
        .containsExactly(tree + "/bin/grc-server --config /etc/lambdagrid/grc.yaml");
    // Root: it starts each pilot as the job's user; only the capabilities that takes.
    assertThat(crm.get("User")).containsExactly("root");
    assertThat(crm.get("CapabilityBoundingSet")).containsExactly("CAP_SETUID CAP_SETGID CAP_CHOWN"
        + " CAP_DAC_OVERRIDE CAP_KILL CAP_SYS_RESOURCE CAP_AUDIT_WRITE");
    assertThat(crm.get("SystemCallFilter")).containsExactly("@system-service");
    assertThat(crm.get("StateDirectory")).containsExactly("lambdagrid/crm-%i");
    assertThat(crm.get("ExecStart"))
        .containsExactly(tree + "/bin/crm-server --config /etc/lambdagrid/crm-%i.yaml");
    // A restart must leave the launchers of running jobs alone (they are re-adopted).
    assertThat(crm.get("KillMode")).containsExactly("process");
    for (Map<String, List<String>> u : List.of(grc, crm)) {
      for (String yes : List.of("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices",
          "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
          "RestrictNamespaces", "LockPersonality", "RestrictSUIDSGID")) {
        assertThat(u.get(yes)).as(yes).containsExactly("yes");
      }
      assertThat(u.get("ProtectSystem")).containsExactly("strict");
      assertThat(u.get("RestrictAddressFamilies")).containsExactly("AF_UNIX AF_INET AF_INET6");
      assertThat(u.get("SuccessExitStatus")).containsExactly("143"); // the JVM after SIGTERM
      assertThat(u.get("Restart")).containsExactly("on-failure");
      // The JVM writes the code it runs: with MemoryDenyWriteExecute it does not start.
      assertThat(u).doesNotContainKey("MemoryDenyWriteExecute");
    }
  }

  @Test
  void nodeAgentRunsAsRootWithNothingItsGuestsWouldInherit() throws Exception {
    install("node-agent").orFail("install-service");
    Map<String, List<String>> agent = service(unit("lambdagrid-node-agent.service"));
    assertThat(agent.get("User")).containsExactly("root");
    assertThat(agent.get("ExecStart"))
        .containsExactly(tree + "/bin/nodemanager --agent /run/lambdagrid/nodeagent.sock");
    // SIGTERM to the agent alone, which tears its guests down; a job's OOM is not the agent's.
    assertThat(agent.get("KillMode")).containsExactly("mixed");
    assertThat(agent.get("OOMPolicy")).containsExactly("continue");
    assertThat(agent).doesNotContainKeys("ProtectSystem", "ProtectHome", "PrivateTmp",
        "PrivateDevices", "ProtectHostname", "ProtectClock", "ProtectKernelTunables",
        "RestrictNamespaces", "NoNewPrivileges", "SystemCallFilter", "RestrictAddressFamilies",
        "DynamicUser", "PrivateUsers",
        // Guests' cgroups go beside the unit's, not in it (docs/guests.md): nothing to delegate.
        "Delegate");
    assertThat(Files.readSymbolicLink(root.resolve(tree.toString().substring(1)).resolve("etc")))
        .isEqualTo(Path.of("/etc/lambdagrid"));
  }

  @Test
  void exampleConfigsLoadAndAgreeWithTheUnits() throws Exception {
    install("grc", "crm@alpha", "node-agent").orFail("install-service");
    Path etc = root.resolve("etc/lambdagrid");
    GrcConfig grc = ConfigLoader.load(etc.resolve("grc.yaml"), GrcConfig.class);
    assertThat(grc.stateDir()).isEqualTo("/var/lib/lambdagrid/grc"); // StateDirectory
    assertThat(grc.local().socket()).isEqualTo("/run/lambdagrid/grc/grc.sock"); // RuntimeDirectory
    assertThat(grc.tokens().file()).isEqualTo("/etc/lambdagrid/tokens");
    assertThat(Files.getPosixFilePermissions(etc.resolve("tokens")))
        .isEqualTo(PosixFilePermissions.fromString("rw-------"));
    assertThat(Files.readString(unit("lambdagrid-grc.service")))
        .contains("ln -sfn grc/grc.sock /run/lambdagrid/grc.sock");

    CrmConfig crm = ConfigLoader.load(etc.resolve("crm-alpha.yaml"), CrmConfig.class);
    assertThat(crm.site()).isEqualTo("alpha");
    assertThat(crm.stateDir()).isEqualTo("/var/lib/lambdagrid/crm-alpha");
    assertThat(crm.pilot().launcher()).isEqualTo(tree + "/scripts/lambdagrid-launcher");
    // The local starter's launchers share the CRM's sandbox: they must go through the agent.
    assertThat(crm.pilot().extraArgs())
        .containsExactly("--agent", "/run/lambdagrid/nodeagent.sock");
    assertThat(crm.tls().key()).isEqualTo("/etc/lambdagrid/tls/crm-alpha.key");

    NodeManagerConfig nm = NodeManagerConfig.load(etc.resolve("nodemanager.yaml"));
    assertThat(NamespacesDriverConfig.fromMap(nm.driverConfig()).bridge()).isEqualTo("br-grid");
    assertThat(nm.tls().key()).isEqualTo("/etc/lambdagrid/tls/nodemanager.key");
  }

  @Test
  void aSecondRunKeepsTheOperatorsConfigsAndRestoresTheUnits() throws Exception {
    install("crm@alpha").orFail("install-service");
    Path config = root.resolve("etc/lambdagrid/crm-alpha.yaml");
    Files.writeString(config, "site: alpha # the operator's\n");
    Path unit = unit("lambdagrid-crm@.service");
    String installed = Files.readString(unit);
    Files.writeString(unit, "[Unit]\n");

    Sh.Result again = install("crm@alpha", "crm@bravo").orFail("install-service");
    assertThat(Files.readString(config)).isEqualTo("site: alpha # the operator's\n");
    assertThat(Files.readString(unit)).isEqualTo(installed);
    assertThat(again.out()).contains("kept " + config, "updated " + unit,
        "wrote " + root.resolve("etc/lambdagrid/crm-bravo.yaml"));
    assertThat(again.out()).contains("systemctl enable --now lambdagrid-crm@bravo.service");
  }

  @Test
  void badArgumentsAreRefusedInOneLine() throws Exception {
    Map<List<String>, String> cases = Map.of(
        List.of(), "no role given",
        List.of("crm"), "crm: name the site, e.g. crm@alpha",
        List.of("crm@Tokyo"), "crm@Tokyo: 'Tokyo' is not a site name",
        List.of("web"), "unknown role 'web' (roles: grc, crm@SITE, node-agent)",
        List.of("--bogus", "grc"), "unknown option '--bogus'");
    for (var c : cases.entrySet()) {
      Sh.Result r = install(c.getKey().toArray(String[]::new));
      assertThat(r.exit()).as(c.getKey().toString()).isEqualTo(2);
      assertThat(r.err().strip()).as(c.getKey().toString())
          .startsWith("install-service: " + c.getValue()).doesNotContain("\n");
    }
    // A checkout is not an installed tree: the units would run its cached snapshots.
    Sh.Result r = Sh.run(TIMEOUT, SCRIPT.toString(), "--root", root.toString(), "--prefix",
        REPO.toString(), "grc");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains(REPO + " is not an installed tree");
    assertThat(root.resolve("etc/systemd/system/lambdagrid-grc.service")).doesNotExist();
  }
}
