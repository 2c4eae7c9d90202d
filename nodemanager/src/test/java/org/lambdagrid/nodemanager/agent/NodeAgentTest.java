package org.lambdagrid.nodemanager.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The agent's request parsing and who a pilot is launched by, without processes. */
class NodeAgentTest {
  @Test
  void request_parsesEveryField() {
    NodeAgent.Request r = NodeAgent.Request.parse("pilot 127.0.0.1:7301 j-1 3 s3cret gpu");
    assertThat(r.crm().toString()).isEqualTo("127.0.0.1:7301");
    assertThat(r.job()).isEqualTo("j-1");
    assertThat(r.node()).isEqualTo(3);
    assertThat(r.credential()).isEqualTo("s3cret");
    assertThat(r.profile()).isEqualTo("gpu");
    assertThat(r.toString()).doesNotContain("s3cret");
    assertThat(NodeAgent.Request.parse("pilot h:1 j 0 c").profile()).isNull();
  }

  @Test
  void request_badFieldsAreNamed() {
    assertThatThrownBy(() -> NodeAgent.Request.parse("hello"))
        .hasMessage("request: expected 'pilot CRM JOB NODE CREDENTIAL [PROFILE]', got 1 fields"
            + " starting 'hello'");
    assertThatThrownBy(() -> NodeAgent.Request.parse("pilot h:1 j x c"))
        .hasMessage("--node: 'x' is not a node index");
    // A user names a profile, never a file: no path can get through.
    for (String bad : new String[] {"/etc/shadow", "../../etc/shadow", ".hidden", "a/b"}) {
      assertThatThrownBy(() -> NodeAgent.Request.parse("pilot h:1 j 0 c " + bad))
          .hasMessageStartingWith("--profile: '" + bad + "' is not a profile name");
    }
    assertThatThrownBy(() -> NodeAgent.Request.parse("pilot nohost j 0 c"))
        .hasMessageStartingWith("--crm: ");
  }

  @Test
  void launchedBy_isThePeerUnlessItIsTheAgentsOwnUser() {
    assertThat(NodeAgent.launchedBy("root", "root")).isNull();
    assertThat(NodeAgent.launchedBy("alice", "root")).isEqualTo("alice");
    assertThat(NodeAgent.launchedBy("alice", "alice")).isNull();
  }
}
