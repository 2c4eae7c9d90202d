package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.ConfigLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CrmConfigTest {
  private static final String MINIMAL = """
      site: tokyo
      listen: 127.0.0.1:7100
      grc: 127.0.0.1:7000
      node_capacity: 4
      ranges: [10.10.0.0/16]
      """;

  private static CrmConfig parse(String yaml) {
    return ConfigLoader.parse("crm.yaml", yaml, CrmConfig.class);
  }

  @Test
  void accountsMapGridUsersToLocalAccounts_andBadOnesAreRefusedNamingTheField() {
    assertThat(parse(MINIMAL).siteSettings().accounts().isSameName()).isTrue();
    CrmConfig c = parse(MINIMAL + """
        accounts:
          map: {alice: a.smith, bob: rsmith}
          prefix: grid_
          require_map: false
        """);
    assertThat(c.accounts().map()).containsEntry("alice", "a.smith");
    assertThat(c.siteSettings().accounts().localAccount("alice")).isEqualTo("a.smith");
    assertThat(c.siteSettings().accounts().localAccount("carol")).isEqualTo("grid_carol");
    assertThat(ConfigLoader.render(c)).contains("require_map: false");
    assertThatThrownBy(() -> parse(MINIMAL + "accounts:\n  map: {alice: A.Smith}\n"))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("crm.yaml: accounts: map[alice]: 'A.Smith' is not a login name");
    assertThatThrownBy(() -> parse(MINIMAL + "accounts:\n  map: {alice: x, bob: x}\n"))
        .hasMessageContaining("accounts: map[bob]: 'x' is already the account of grid user"
            + " 'alice'");
    assertThat(c.accounts().minUid()).isEqualTo(1000);
    assertThat(parse(MINIMAL + "accounts:\n  min_uid: 500\n").siteSettings().accounts()
        .minUid()).isEqualTo(500);
    assertThatThrownBy(() -> parse(MINIMAL + "accounts:\n  min_uid: 0\n"))
        .hasMessageContaining("accounts: min_uid: '0' must be at least 1");
    assertThatThrownBy(() -> parse(MINIMAL + "accounts:\n  requiremap: true\n"))
        .hasMessageContaining("accounts.requiremap: unknown field");
  }

  @Test
  void anOverlaySectionIsReadWithDefaultsAndBadValuesAreRefusedNamingFieldAndValue() {
    assertThat(parse(MINIMAL).overlay()).isNull();
    CrmConfig c = parse(MINIMAL + "overlay: {endpoint: 172.31.255.2}\n");
    assertThat(c.overlay()).isEqualTo(new CrmConfig.Overlay("172.31.255.2", "", 1500));
    assertThat(parse(MINIMAL + "overlay: {endpoint: 172.31.255.2, netns: lg-site-tokyo, underlay_mtu: 1550}\n")
        .overlay()).isEqualTo(new CrmConfig.Overlay("172.31.255.2", "lg-site-tokyo", 1550));
    assertThatThrownBy(() -> parse(MINIMAL + "overlay: {netns: x}\n"))
        .hasMessageContaining("overlay.endpoint: is required");
    assertThatThrownBy(() -> parse(MINIMAL + "overlay: {endpoint: vtep.tokyo}\n"))
        .hasMessageContaining("overlay.endpoint: 'vtep.tokyo' is not an IPv4 address");
    assertThatThrownBy(() -> parse(MINIMAL + "overlay: {endpoint: 10.0.0.1, netns: a/b}\n"))
        .hasMessageContaining("overlay.netns: 'a/b'");
    assertThatThrownBy(() -> parse(MINIMAL + "overlay: {endpoint: 10.0.0.1, underlay_mtu: 1000}\n"))
        .hasMessageContaining("overlay.underlay_mtu: 1000 is not 1330..65535");
    assertThatThrownBy(() -> parse(MINIMAL + "overlay: {endpoint: 10.0.0.1, vni: 5}\n"))
        .hasMessageContaining("overlay.vni: unknown field");
  }

  @Test
  void defaultsAreFilledIn() {
    CrmConfig c = parse(MINIMAL);
    assertThat(c.advertise()).isEqualTo("127.0.0.1:7100");
    assertThat(c.slotsPerNode()).isEqualTo(1);
    assertThat(c.stateDir()).isEqualTo("/run/lambdagrid/crm-tokyo");
    assertThat(c.phaseTimeoutDuration()).isEqualTo(Duration.ofSeconds(60));
    assertThat(c.pilot().starter()).isEqualTo("local");
    assertThat(c.pilot().launcher()).isEqualTo("scripts/lambdagrid-launcher");
    assertThat(c.pilot().runAsUser()).isTrue();
    assertThat(c.pilot().extraArgs()).isEmpty();
    assertThat(c.pilot().nodemanagerProfile()).isNull();
    assertThat(ConfigLoader.render(c)).contains("node_capacity: 4").contains("run_as_user: true");
  }

  @Test
  void aFullFileIsRead() {
    CrmConfig c = parse(MINIMAL.replace("listen: 127.0.0.1:7100", "listen: 0.0.0.0:7100")
        + """
        advertise: crm-tokyo.lan:7100
        slots_per_node: 8
        state_dir: /tmp/crm
        phase_timeout: 90s
        pilot:
          launcher: /opt/lg/lambdagrid-launcher
          run_as_user: false
          extra_args: [--verbose]
          nodemanager_profile: gpu
        """);
    assertThat(c.advertiseEndpoint().host()).isEqualTo("crm-tokyo.lan");
    assertThat(c.siteSettings().slotsPerNode()).isEqualTo(8);
    assertThat(c.siteSettings().phaseTimeout()).isEqualTo(Duration.ofSeconds(90));
    assertThat(c.pilot().nodemanagerProfile()).isEqualTo("gpu");
  }

  @Test
  void errorsNameFileFieldAndProblem() {
    assertThatThrownBy(() -> parse(MINIMAL.replace("[10.10.0.0/16]", "[10.10.0.0/16, 10.0.0.0/33]")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("crm.yaml: ").hasMessageContaining("ranges[1]: '10.0.0.0/33' is not"
            + " a CIDR block");
    assertThatThrownBy(() -> parse(MINIMAL.replace("[10.10.0.0/16]", "[10.10.0.0/16, 10.10.1.0/24]")))
        .hasMessageContaining("ranges[1]: '10.10.1.0/24' overlaps ranges[0] '10.10.0.0/16'");
    assertThatThrownBy(() -> parse(MINIMAL.replace("node_capacity: 4", "node_capacity: 0")))
        .hasMessageContaining("node_capacity: 0 must be at least 1");
    assertThatThrownBy(() -> parse(MINIMAL.replace("site: tokyo", "site: Tokyo")))
        .hasMessageContaining("site: 'Tokyo' is not a site name");
    assertThatThrownBy(() -> parse(MINIMAL.replace("grc: 127.0.0.1:7000", "grc: nowhere")))
        .hasMessageContaining("grc: 'nowhere' is not host:port");
    assertThatThrownBy(() -> parse(MINIMAL.replace("listen: 127.0.0.1:7100", "listen: 0.0.0.0:1")))
        .hasMessageContaining("advertise: is required when listen is a wildcard address");
    assertThatThrownBy(() -> parse(MINIMAL + "phase_timeout: soon\n"))
        .hasMessageContaining("phase_timeout: 'soon' is not a duration");
    assertThatThrownBy(() -> parse(MINIMAL + "pilot:\n  starter: pbs\n"))
        .hasMessageContaining("pilot: starter: 'pbs' is not a known pilot starter (known: local,"
            + " slurm)");
    assertThatThrownBy(() -> parse(MINIMAL + "pilot:\n  lancher: x\n"))
        .hasMessageContaining("pilot.lancher: unknown field");
    assertThatThrownBy(() -> parse("site: a\n"))
        .hasMessageContaining("listen: is required");
  }

  @Test
  void theSlurmSectionIsReadWithDefaults() {
    CrmConfig c = parse(MINIMAL + """
        pilot:
          starter: slurm
          launcher: /opt/lambdagrid/scripts/lambdagrid-launcher
          slurm:
            partition: batch
            account: grid
            extra_args: [--qos=grid, --exclusive]
            pending_grace: 30s
            log_dir: /shared/lg/pilots
            bin_dir: /opt/slurm/bin
            pilots_per_node: 4
        """);
    assertThat(c.pilot().slurm().binDir()).isEqualTo("/opt/slurm/bin");
    assertThat(c.pilot().slurm().pilotsPerNode()).isEqualTo(4);
    assertThat(CrmMain.batchReservations(c)).isInstanceOf(
        org.lambdagrid.crm.pilot.SlurmReservations.class);
    assertThat(c.pilot().slurm().partition()).isEqualTo("batch");
    assertThat(c.pilot().slurm().account()).isEqualTo("grid");
    assertThat(c.pilot().slurm().extraArgs()).containsExactly("--qos=grid", "--exclusive");
    assertThat(c.pilot().slurm().pendingGraceDuration()).isEqualTo(Duration.ofSeconds(30));
    assertThat(CrmMain.starter(c)).isInstanceOf(
        org.lambdagrid.crm.pilot.SlurmPilotStarter.class);

    CrmConfig d = parse(MINIMAL + "pilot:\n  starter: slurm\n");
    assertThat(d.pilot().slurm().partition()).isNull();
    assertThat(d.pilot().slurm().account()).isNull();
    assertThat(d.pilot().slurm().extraArgs()).isEmpty();
    assertThat(d.pilot().slurm().pendingGraceDuration()).isEqualTo(Duration.ofSeconds(60));
    assertThat(d.pilot().slurm().logDir()).isNull();
    assertThat(d.pilot().slurm().binDir()).isNull();
    assertThat(d.pilot().slurm().reserve()).isTrue();
    assertThat(d.pilot().slurm().pilotsPerNode()).isEqualTo(1);
    assertThat(ConfigLoader.render(d)).contains("pending_grace: \"60s\"");
    assertThat(CrmMain.batchReservations(parse(MINIMAL
        + "pilot:\n  starter: slurm\n  slurm:\n    reserve: false\n")))
        .isSameAs(org.lambdagrid.crm.pilot.BatchReservations.NONE);
    assertThat(CrmMain.batchReservations(parse(MINIMAL)))
        .isSameAs(org.lambdagrid.crm.pilot.BatchReservations.NONE);
  }

  @Test
  void slurmErrorsNameTheField() {
    String slurm = MINIMAL + "pilot:\n  starter: slurm\n  slurm:\n";
    assertThatThrownBy(() -> parse(slurm + "    partition: 'a b'\n"))
        .hasMessage("crm.yaml: pilot.slurm: partition: 'a b' is not a Slurm partition name");
    assertThatThrownBy(() -> parse(slurm + "    extra_args: [qos=grid]\n"))
        .hasMessageContaining("pilot.slurm: extra_args[0]: 'qos=grid' is not an sbatch option");
    assertThatThrownBy(() -> parse(slurm + "    extra_args: [--exclusive, --time=5]\n"))
        .hasMessageContaining("pilot.slurm: extra_args[1]: '--time=5' is set by the Slurm"
            + " starter");
    assertThatThrownBy(() -> parse(slurm + "    extra_args: [-pdebug]\n"))
        .hasMessageContaining("extra_args[0]: '-pdebug' is set by the Slurm starter (use"
            + " pilot.slurm.partition / account)");
    assertThatThrownBy(() -> parse(slurm + "    extra_args: [--reservation=mine]\n"))
        .hasMessageContaining("pilot.slurm: extra_args[0]: '--reservation=mine' is set by the"
            + " Slurm starter");
    assertThatThrownBy(() -> parse(slurm + "    pilots_per_node: 0\n"))
        .hasMessageContaining("pilot.slurm: pilots_per_node: 0 must be at least 1");
    assertThatThrownBy(() -> parse(slurm + "    pending_grace: 0s\n"))
        .hasMessageContaining("pilot.slurm: pending_grace: '0s' must be more than 0");
    assertThatThrownBy(() -> parse(slurm + "    log_dir: pilots\n"))
        .hasMessageContaining("pilot.slurm: log_dir: 'pilots' must be an absolute path");
    assertThatThrownBy(() -> parse(slurm + "    bin_dir: opt/slurm/bin\n"))
        .hasMessageContaining("pilot.slurm: bin_dir: 'opt/slurm/bin' must be an absolute path");
    assertThatThrownBy(() -> parse(slurm + "    queue: x\n"))
        .hasMessageContaining("pilot.slurm.queue: unknown field");
    assertThatThrownBy(() -> parse(MINIMAL + "pilot:\n  slurm:\n    partition: x\n"))
        .hasMessageContaining("pilot: slurm: is only read with starter: slurm");
  }

  @Test
  void theCommandExitsWith2AndOneLineForABadConfig(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("crm.yaml");
    Files.writeString(file, MINIMAL.replace("node_capacity: 4", "node_capacity: -1"));
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = new CommandLine(new CrmMain()).execute("--config", file.toString());
    } finally {
      System.setErr(old);
    }
    assertThat(code).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8).trim())
        .isEqualTo("crm.yaml: node_capacity: -1 must be at least 1");
  }

  @Test
  void aMissingLauncherExitsWith2NamingTheField(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("crm.yaml");
    Files.writeString(file, MINIMAL + "pilot:\n  launcher: " + dir.resolve("nope") + "\n");
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream old = System.err;
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = new CommandLine(new CrmMain()).execute("--config", file.toString());
    } finally {
      System.setErr(old);
    }
    assertThat(code).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8).trim()).isEqualTo(
        "crm.yaml: pilot.launcher: '" + dir.resolve("nope") + "' is not an executable file");
  }
}
