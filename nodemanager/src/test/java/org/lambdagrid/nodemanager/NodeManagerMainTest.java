package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command's user errors, in this JVM: each is one line on stderr and a specific exit code. */
class NodeManagerMainTest {
  @TempDir Path dir;
  private final StringWriter err = new StringWriter();

  /** Runs with {@code yaml} plus {@code tls: {insecure: true}}. */
  private int run(String yaml, String stdin, String... extra) throws Exception {
    return runExactly(yaml + "tls: {insecure: true}\n", stdin, extra);
  }

  private int runExactly(String yaml, String stdin, String... extra) throws Exception {
    Path config = dir.resolve("nm.yaml");
    Files.writeString(config, yaml.replace("STATE", dir.resolve("state").toString()));
    List<String> args = new ArrayList<>(List.of("--crm", "127.0.0.1:1", "--job", "j-main",
        "--node", "0", "--config", config.toString()));
    args.addAll(List.of(extra));
    CommandLine cl = NodeManagerMain.commandLine(new NodeManagerMain(
        new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8))));
    cl.setErr(new PrintWriter(err, true));
    return cl.execute(args.toArray(String[]::new));
  }

  @Test
  void badConfig_namesFileAndField() throws Exception {
    assertThat(run("driver: fake\nstate_dir: STATE\nconnect_timeout: soon\n", "")).isEqualTo(2);
    assertThat(err.toString()).isEqualTo("nodemanager: nm.yaml: connect_timeout: 'soon' is not a"
        + " duration (examples: 90s, 5m, 1h30m, 2d)\n");
  }

  @Test
  void noTlsSection_isRefusedNamingTheField() throws Exception {
    assertThat(runExactly("driver: fake\nstate_dir: STATE\n", "")).isEqualTo(2);
    assertThat(err.toString()).startsWith("nodemanager: nm.yaml: tls: is required");
  }

  @Test
  void tlsWithAMissingCertificate_namesTheFile() throws Exception {
    assertThat(runExactly("driver: fake\nstate_dir: STATE\ntls: {ca: /nonexistent/ca.crt,"
        + " cert: /nonexistent/nm.crt, key: /nonexistent/nm.key}\n", "")).isEqualTo(2);
    assertThat(err.toString()).isEqualTo("nodemanager: nm.yaml: tls.cert: '/nonexistent/nm.crt'"
        + " does not exist\n");
  }

  @Test
  void unknownDriver_listsTheKnownOnes() throws Exception {
    assertThat(run("driver: vserver\nstate_dir: STATE\n", "")).isEqualTo(2);
    assertThat(err.toString()).isEqualTo("nodemanager: nm.yaml: driver: unknown guest driver"
        + " 'vserver' (known drivers: fake, namespaces)\n");
  }

  @Test
  void badDriverSection_namesTheField() throws Exception {
    assertThat(run("driver: fake\nstate_dir: STATE\ndriver_config: {hang_at: never}\n", ""))
        .isEqualTo(2);
    assertThat(err.toString()).startsWith("nodemanager: nm.yaml: driver_config: hang_at: 'never'"
        + " is not one of");
  }

  @Test
  void hostThatCannotRunTheDriver_exits3WithTheReasons() throws Exception {
    assertThat(run("driver: fake\nstate_dir: STATE\n"
        + "driver_config: {check_host: [must run as root, no overlayfs]}\n", "")).isEqualTo(3);
    assertThat(err.toString()).isEqualTo("nodemanager: the fake driver cannot run on this host:"
        + " must run as root; no overlayfs\n");
  }

  @Test
  void credentialMissingOnStdin_isAUsageError() throws Exception {
    assertThat(run("driver: fake\nstate_dir: STATE\n", "", "--credential-stdin")).isEqualTo(2);
    assertThat(err.toString()).isEqualTo("nodemanager: --credential-stdin: stdin ended before the"
        + " credential line\n");
  }

  @Test
  void unreachableCrm_exits4NamingIt() throws Exception {
    assertThat(run("driver: fake\nstate_dir: STATE\nconnect_timeout: 1s\n", "cred\n",
        "--credential-stdin")).isEqualTo(4);
    assertThat(err.toString()).startsWith("nodemanager: cannot reach the CRM at 127.0.0.1:1"
        + " within 1s");
    assertThat(err.toString().lines()).hasSize(1);
  }

  @Test
  void missingRequiredOption_isAUsageError() {
    CommandLine cl = NodeManagerMain.commandLine(new NodeManagerMain());
    cl.setErr(new PrintWriter(err, true));
    assertThat(cl.execute("--job", "j")).isEqualTo(2);
    assertThat(err.toString()).contains("missing required option --crm");
  }
}
