package org.lambdagrid.nodemanager.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The agent's request parsing and who a pilot is launched by, without processes. */
class NodeAgentTest {
  @Test
  void request_parsesEveryField() {
    NodeAgent.Request r = NodeAgent.Request.parse("pilot 127.0.0.1:7301 j-1 3 s3cret /etc/nm.yaml");
    assertThat(r.crm().toString()).isEqualTo("127.0.0.1:7301");
    assertThat(r.job()).isEqualTo("j-1");
    assertThat(r.node()).isEqualTo(3);
    assertThat(r.credential()).isEqualTo("s3cret");
    assertThat(r.config()).isEqualTo(Path.of("/etc/nm.yaml"));
    assertThat(r.toString()).doesNotContain("s3cret");
    assertThat(NodeAgent.Request.parse("pilot h:1 j 0 c").config()).isNull();
  }

  @Test
  void request_badFieldsAreNamed() {
    assertThatThrownBy(() -> NodeAgent.Request.parse("hello"))
        .hasMessage("request: expected 'pilot CRM JOB NODE CREDENTIAL [CONFIG]', got 1 fields"
            + " starting 'hello'");
    assertThatThrownBy(() -> NodeAgent.Request.parse("pilot h:1 j x c"))
        .hasMessage("--node: 'x' is not a node index");
    assertThatThrownBy(() -> NodeAgent.Request.parse("pilot h:1 j 0 c nm.yaml"))
        .hasMessage("--nm-config: 'nm.yaml' is not an absolute path");
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
