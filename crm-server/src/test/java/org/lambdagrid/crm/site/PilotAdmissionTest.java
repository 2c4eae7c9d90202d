package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.lambdagrid.proto.v1.NodeState.NODE_EXECUTING;
import static org.lambdagrid.proto.v1.NodeState.NODE_LOST;
import static org.lambdagrid.proto.v1.NodeState.NODE_READY;
import static org.lambdagrid.proto.v1.NodeState.NODE_STOPPED;

import io.grpc.Status;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Errors.RequestException;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.PilotHello;

/** Which hello may take which node, on plain values: no CRM, no streams. */
class PilotAdmissionTest {
  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  private final TestClock clock = new TestClock(T0);
  private final PilotAdmission admission = new PilotAdmission("j-1", "a", clock);

  /** A node as admission sees it. */
  private static final class Seat implements PilotAdmission.Seat {
    final PilotCredentials credentials;
    NodeState state = NODE_READY;
    String lostMessage;
    boolean connected;

    Seat(PilotCredentials credentials) {
      this.credentials = credentials;
    }

    @Override
    public PilotCredentials credentials() {
      return credentials;
    }

    @Override
    public NodeState state() {
      return state;
    }

    @Override
    public String lostMessage() {
      return lostMessage;
    }

    @Override
    public boolean pilotConnected() {
      return connected;
    }
  }

  /** A node whose launch credential was issued at T0, valid for a minute. */
  private static Seat launched() {
    PilotCredentials c = new PilotCredentials();
    c.issue(T0.plusSeconds(60));
    return new Seat(c);
  }

  /** A node put back after a restart, its pilot welcomed with {@code reconnect}. */
  private static Seat restored(String reconnect) {
    return new Seat(PilotCredentials.restored(PilotCredentials.sha256(reconnect)));
  }

  private static PilotHello hello(int node, String credential) {
    return PilotHello.newBuilder().setJobId("j-1").setNodeIndex(node).setCredential(credential)
        .build();
  }

  private static PilotHello resume(int node, String credential) {
    return hello(node, credential).toBuilder().setResume(true).setState(NODE_EXECUTING).build();
  }

  private static void assertRefused(Runnable call, Status.Code code, String message) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(RequestException.class, e -> {
      assertThat(e.code()).isEqualTo(code);
      assertThat(e.getMessage()).isEqualTo(message);
    });
  }

  private static void assertDenied(Runnable call, String why) {
    assertRefused(call, Status.Code.PERMISSION_DENIED, "pilot refused: " + why);
  }

  @Test
  void theLaunchCredentialAdmitsOnceAndBindsTheReconnectCredential() {
    Seat s = launched();
    String credential = s.credentials.launchCredential();
    assertThat(admission.admit(hello(0, credential), List.of(s), false, "r-0")).isSameAs(s);
    assertThat(s.credentials.reconnectHash()).isEqualTo(PilotCredentials.sha256("r-0"));
    assertThat(s.credentials.isReconnectCredential("r-0")).isTrue();
    assertDenied(() -> admission.admit(hello(0, credential), List.of(s), false, "r-1"),
        "node 0 of job j-1: the credential was already used");
    assertThat(s.credentials.reconnectHash()).isEqualTo(PilotCredentials.sha256("r-0"));
  }

  @Test
  void aWrongCredentialIsRefusedAndDoesNotLockTheRightfulPilotOut() {
    Seat s = launched();
    assertDenied(() -> admission.admit(hello(0, "not-it"), List.of(s), false, "r"),
        "node 0 of job j-1: wrong credential");
    assertDenied(() -> admission.admit(hello(0, ""), List.of(s), false, "r"),
        "node 0 of job j-1: wrong credential");
    assertThat(s.credentials.used()).isFalse();
    admission.admit(hello(0, s.credentials.launchCredential()), List.of(s), false, "r");
  }

  @Test
  void aNodeWithoutACredentialTakesNoPilot() {
    Seat s = new Seat(new PilotCredentials());
    assertDenied(() -> admission.admit(hello(0, ""), List.of(s), false, "r"),
        "node 0 of job j-1: wrong credential");
  }

  @Test
  void aUsedUpCredentialIsRefusedOnlyAfterItWasShownToBeRight() {
    Seat s = launched();
    s.credentials.useUp(); // the share was released
    assertDenied(() -> admission.admit(hello(0, "not-it"), List.of(s), false, "r"),
        "node 0 of job j-1: wrong credential");
    assertDenied(() -> admission.admit(hello(0, s.credentials.launchCredential()), List.of(s),
        false, "r"), "node 0 of job j-1: the credential was already used");
  }

  @Test
  void aCredentialIsValidUpToItsExpiryInclusive() {
    Seat s = launched();
    String credential = s.credentials.launchCredential();
    clock.set(T0.plusSeconds(60).plusMillis(1));
    assertDenied(() -> admission.admit(hello(0, credential), List.of(s), false, "r"),
        "node 0 of job j-1: the credential expired at 2030-01-01T00:01:00Z");
    clock.set(T0.plusSeconds(60));
    admission.admit(hello(0, credential), List.of(s), false, "r");
  }

  @Test
  void aWrongNodeIndexIsNoSuchNode() {
    Seat s = launched();
    String credential = s.credentials.launchCredential();
    assertDenied(() -> admission.admit(hello(1, credential), List.of(s), false, "r"),
        "node 1 of job j-1: no such node (the job has 1 nodes on site 'a')");
    assertDenied(() -> admission.admit(hello(-1, credential), List.of(s), false, "r"),
        "node -1 of job j-1: no such node (the job has 1 nodes on site 'a')");
    assertDenied(() -> admission.admit(hello(0, credential), List.<Seat>of(), false, "r"),
        "node 0 of job j-1: no such node (the job has no pilots started on site 'a')");
    assertDenied(() -> admission.readmit(resume(1, "r"), List.of(restored("r")), false, false),
        "node 1 of job j-1: no such node");
  }

  @Test
  void aReleasedShareTakesNoPilot() {
    Seat s = launched();
    assertDenied(() -> admission.admit(hello(0, s.credentials.launchCredential()), List.of(s),
        true, "r"), "node 0 of job j-1: the share was released");
    assertDenied(() -> admission.readmit(resume(0, "r"), List.of(restored("r")), true, false),
        "node 0 of job j-1: the share was released");
  }

  @Test
  void aResumeNeedsTheReconnectCredential() {
    Seat s = restored("r-0");
    assertDenied(() -> admission.readmit(resume(0, "r-1"), List.of(s), false, false),
        "node 0 of job j-1: wrong reconnect credential");
    assertThat(admission.readmit(resume(0, "r-0"), List.of(s), false, false)).isSameAs(s);
  }

  @Test
  void aResumeOfANodeNeverAdmittedOrWithAnEmptyRecordIsRefused() {
    Seat fresh = launched();
    assertDenied(() -> admission.readmit(resume(0, fresh.credentials.launchCredential()),
        List.of(fresh), false, false), "node 0 of job j-1: wrong reconnect credential");
    Seat unrecorded = new Seat(PilotCredentials.restored(""));
    assertDenied(() -> admission.readmit(resume(0, ""), List.of(unrecorded), false, false),
        "node 0 of job j-1: wrong reconnect credential");
  }

  @Test
  void aRestoredNodeTakesNoLaunchCredential() {
    Seat s = restored("r-0");
    assertDenied(() -> admission.admit(hello(0, "r-0"), List.of(s), false, "x"),
        "node 0 of job j-1: wrong credential");
  }

  @Test
  void aLostOrStoppedNodeTakesNoPilotBack() {
    Seat lost = restored("r-0");
    lost.state = NODE_LOST;
    lost.lostMessage = "node a-0 was lost (stream broke)";
    assertDenied(() -> admission.readmit(resume(0, "r-0"), List.of(lost), false, false),
        "node 0 of job j-1: the node is LOST (node a-0 was lost (stream broke))");
    Seat stopped = restored("r-0");
    stopped.state = NODE_STOPPED;
    assertDenied(() -> admission.readmit(resume(0, "r-0"), List.of(stopped), false, false),
        "node 0 of job j-1: the node is STOPPED");
  }

  @Test
  void aNodeWhosePilotIsStillConnectedTakesNoSecondOne() {
    Seat s = restored("r-0");
    s.connected = true;
    assertDenied(() -> admission.readmit(resume(0, "r-0"), List.of(s), false, false),
        "node 0 of job j-1: its pilot is still connected");
  }

  @Test
  void aResumeWhileTheCrmStopsIsToldToRedial() {
    assertRefused(() -> admission.readmit(resume(0, "r-0"), List.of(restored("r-0")), false,
        true), Status.Code.UNAVAILABLE, "the CRM is stopping; redial");
  }

  @Test
  void secretsAreFreshAndHashedAsHex() {
    assertThat(PilotCredentials.newSecret()).hasSize(43).isNotEqualTo(PilotCredentials.newSecret());
    assertThat(PilotCredentials.sha256("abc")).isEqualTo(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
}
