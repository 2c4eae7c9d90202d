package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.crm.CrmConfig;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.crm.testing.InProcessCrm;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CollectKeysRequest;
import org.lambdagrid.proto.v1.ConnectResponse;
import org.lambdagrid.proto.v1.ConnectResponse.CommandCase;
import org.lambdagrid.proto.v1.ExecCommandRequest;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.InstallTrustRequest;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.StartGuestsRequest;
import org.lambdagrid.proto.v1.TrustBundle;

/**
 * A site whose crm.yaml maps grid users to local accounts, over in-process gRPC with test pilots:
 * the pilots start and their guests and command run as the local account, the nodes report it,
 * and a user the site does not run is refused at Prepare, naming the field.
 */
class SiteAccountsPhasesTest {
  private final InProcessCrm crm = new InProcessCrm(ConfigLoader.parse("crm.yaml", """
      site: a
      listen: 127.0.0.1:0
      grc: 127.0.0.1:1
      node_capacity: 2
      ranges: [10.10.0.0/16]
      phase_timeout: 5s
      shutdown_wait: 1s
      pilot:
        run_as_user: false
      accounts:
        map: {alice: a.smith}
        require_map: true
      """, CrmConfig.class), null);

  @AfterEach
  void close() {
    crm.close();
  }

  private List<NodeEntry> setup(String job, String user) {
    return crm.site().setupNodes(SetupNodesRequest.newBuilder().setJobId(job).setSite("a")
        .setUser(user).setTimeout(ProtoTime.toProto(Duration.ofSeconds(5))).build())
        .getNodesList();
  }

  @Test
  void theGuestsAndTheCommandRunAsTheMappedLocalAccount_andTheNodesReportIt() {
    crm.openShare("j-1", 2, "10.10.0.0/29", "alice", null);
    List<NodeEntry> nodes = setup("j-1", "alice");

    assertThat(nodes).extracting(NodeEntry::getLocalUser).containsExactly("a.smith", "a.smith");
    assertThat(crm.starter.launches()).extracting(PilotLaunch::user).containsOnly("a.smith");
    assertThat(crm.starter.pilot(0).received().get(0).getSetup().getUser()).isEqualTo("a.smith");

    crm.site().collectKeys(CollectKeysRequest.newBuilder().setJobId("j-1").build());
    crm.site().installTrust(InstallTrustRequest.newBuilder().setJobId("j-1")
        .setBundle(TrustBundle.newBuilder().addAllNodes(nodes)).build());
    crm.site().startGuests(StartGuestsRequest.newBuilder().setJobId("j-1").build());
    // The GRC sends the grid user; the pilot is told the guest's local account.
    crm.site().execCommand(ExecCommandRequest.newBuilder().setJobId("j-1").setHostname("a-0")
        .setExec(ExecSpec.newBuilder().addArgv("hostname").setUser("alice")).build());
    ConnectResponse exec = crm.starter.pilot(0).received().stream()
        .filter(c -> c.getCommandCase() == CommandCase.EXEC).findFirst().orElseThrow();
    assertThat(exec.getExec().getExec().getUser()).isEqualTo("a.smith");
  }

  @Test
  void aGridUserTheSiteDoesNotRunIsRefusedAtPrepare_andNothingIsHeld() {
    assertThatThrownBy(() -> crm.site().prepare(PrepareRequest.newBuilder()
        .setReservationId("r-1").setNodeCount(1)
        .setRange(AddressRange.newBuilder().setCidr("10.10.0.0/29")).setUser("carol")
        .setStart(ProtoTime.toProto(crm.clock.instant()))
        .setEnd(ProtoTime.toProto(crm.clock.instant().plusSeconds(60))).build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
          assertThat(e.getStatus().getDescription()).startsWith("accounts.map: has no entry"
              + " for grid user 'carol', and accounts.require_map is true");
        });
    assertThat(crm.server.shares().reservations().snapshot()).isEmpty();
    // Both nodes are still free for a user the site runs.
    crm.openShare("j-2", 2, "10.10.0.0/29", "alice", null);
  }

  @Test
  void aMappedAccountThatCannotStartNamesTheRuleThatMadeIt() {
    crm.starter.failStart(0, "user 'a.smith' does not exist on this host");
    crm.openShare("j-1", 2, "10.10.0.0/29", "alice", null);

    assertThatThrownBy(() -> setup("j-1", "alice"))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ABORTED);
          assertThat(e.getStatus().getDescription()).isEqualTo("node a-0 failed phase LAUNCH:"
              + " could not start its pilot: user 'a.smith' does not exist on this host (local"
              + " account 'a.smith' is grid user 'alice' on site 'a' by accounts.map[alice] in"
              + " crm.yaml)");
        });
  }
}
