package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.crm.CrmConfig;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.crm.testing.InProcessCrm;
import org.lambdagrid.crm.testing.TestPilot;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.SetupNodesRequest;

/**
 * A pilot's one-time credential: valid for its own job and node only, once, and only until it
 * expires (pilot.credential_ttl, by default the launch phase's deadline). Every refusal is
 * PERMISSION_DENIED with the reason; the rightful pilot is not locked out by an impostor.
 */
class PilotCredentialTest {
  private InProcessCrm crm;

  @AfterEach
  void close() {
    if (crm != null) {
      crm.close();
    }
  }

  private void start(String pilotExtra) {
    String yaml = "site: a\nlisten: 127.0.0.1:0\ngrc: 127.0.0.1:1\nnode_capacity: 4\n"
        + "ranges: [10.10.0.0/16]\nphase_timeout: 5s\nshutdown_wait: 1s\npilot:\n"
        + "  run_as_user: false\n" + pilotExtra;
    crm = new InProcessCrm(ConfigLoader.parse("crm.yaml", yaml, CrmConfig.class), null);
  }

  private CompletableFuture<List<NodeEntry>> reserveAndSetup(String job, String cidr) {
    crm.openShare(job, 1, cidr, "alice", null);
    return CompletableFuture.supplyAsync(() -> crm.site().setupNodes(SetupNodesRequest
        .newBuilder().setJobId(job).setSite("a").setTimeout(ProtoTime.toProto(
            Duration.ofSeconds(5))).build()).getNodesList());
  }

  private PilotLaunch launchOf(String job) {
    await().atMost(5, TimeUnit.SECONDS).until(() -> crm.starter.launches().stream()
        .anyMatch(l -> l.jobId().equals(job)));
    return crm.starter.launches().stream().filter(l -> l.jobId().equals(job)).findFirst()
        .orElseThrow();
  }

  private Status connect(String job, int node, String credential) {
    return new TestPilot(crm.channel, job, node, credential).connect().closed().join();
  }

  @Test
  void anExpiredCredentialIsRefused() {
    start("  credential_ttl: 300ms\n");
    crm.starter.neverDial(0);
    CompletableFuture<List<NodeEntry>> setup = reserveAndSetup("j-1", "10.10.0.0/30");
    PilotLaunch launch = launchOf("j-1");
    crm.clock.advance(Duration.ofMillis(600));
    Status refused = connect("j-1", 0, launch.credential());
    assertThat(refused.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(refused.getDescription())
        .startsWith("pilot refused: node 0 of job j-1: the credential expired at ");
    await().atMost(5, TimeUnit.SECONDS).until(() -> crm.starter.launchChecks() > 0);
    crm.clock.advance(Duration.ofSeconds(5)); // the launch phase's deadline passes
    assertThat(setup).failsWithin(Duration.ofSeconds(10));
  }

  @Test
  void aCredentialWithinItsLifetimeIsAcceptedOnce() {
    start("  credential_ttl: 30s\n");
    crm.starter.neverDial(0);
    CompletableFuture<List<NodeEntry>> setup = reserveAndSetup("j-1", "10.10.0.0/30");
    PilotLaunch launch = launchOf("j-1");
    new TestPilot(crm.channel, launch).connect();
    assertThat(setup).succeedsWithin(Duration.ofSeconds(5));
    Status again = connect("j-1", 0, launch.credential());
    assertThat(again.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(again.getDescription()).endsWith("the credential was already used");
  }

  @Test
  void anotherJobsCredentialIsRefusedAndTheRightfulPilotStillJoins() {
    start("");
    crm.starter.neverDial(0);
    CompletableFuture<List<NodeEntry>> one = reserveAndSetup("j-1", "10.10.0.0/30");
    CompletableFuture<List<NodeEntry>> two = reserveAndSetup("j-2", "10.10.0.4/30");
    PilotLaunch first = launchOf("j-1");
    PilotLaunch second = launchOf("j-2");
    Status foreign = connect("j-2", 0, first.credential());
    assertThat(foreign.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(foreign.getDescription())
        .isEqualTo("pilot refused: node 0 of job j-2: wrong credential");
    new TestPilot(crm.channel, first).connect();
    new TestPilot(crm.channel, second).connect();
    assertThat(one).succeedsWithin(Duration.ofSeconds(5));
    assertThat(two).succeedsWithin(Duration.ofSeconds(5));
  }

  @Test
  void theTtlIsValidatedAndNeverExtendsTheLaunchDeadline() {
    SiteSettings s = ConfigLoader.parse("crm.yaml", "site: a\nlisten: 127.0.0.1:0\ngrc:"
        + " 127.0.0.1:1\nnode_capacity: 1\nranges: [10.0.0.0/24]\npilot: {credential_ttl: 1h}\n",
        CrmConfig.class).siteSettings();
    java.time.Instant now = java.time.Instant.parse("2026-01-01T00:00:00Z");
    assertThat(s.credentialExpiry(now, now.plusSeconds(60))).isEqualTo(now.plusSeconds(60));
    assertThat(s.credentialTtl()).isEqualTo(Duration.ofHours(1));
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> ConfigLoader.parse("crm.yaml",
        "site: a\nlisten: 127.0.0.1:0\ngrc: 127.0.0.1:1\nnode_capacity: 1\n"
            + "ranges: [10.0.0.0/24]\npilot: {credential_ttl: 0s}\n", CrmConfig.class))
        .hasMessageContaining("credential_ttl: '0s' must be more than 0");
  }
}
