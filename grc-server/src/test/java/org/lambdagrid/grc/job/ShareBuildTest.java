package org.lambdagrid.grc.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.lambdagrid.proto.v1.NodeEntry;

class ShareBuildTest {
  private static NodeEntry node(String host, String localUser) {
    return NodeEntry.newBuilder().setSite("a").setHostname(host).setAddress("10.0.0.1")
        .setLocalUser(localUser).build();
  }

  @Test
  void eachNodeKeepsItsSitesLocalAccount_orGetsTheGridUserFromACrmThatReportsNone() {
    assertThat(ShareBuild.withLocalUsers("a", List.of(node("a-0", "a.smith"), node("a-1", "")),
        "alice")).extracting(NodeEntry::getLocalUser).containsExactly("a.smith", "alice");
  }

  @Test
  void aLocalAccountThatIsNotALoginNameFailsThePhaseNamingTheSiteAndNode() {
    assertThatThrownBy(() -> ShareBuild.withLocalUsers("a", List.of(node("a-0", "x y")),
        "alice")).hasMessage("site 'a' reported local_user 'x y' for node a-0, which is not a"
            + " login name a job may run as");
    assertThatThrownBy(() -> ShareBuild.withLocalUsers("a", List.of(node("a-0", "root")),
        "alice")).hasMessageContaining("local_user 'root'");
  }
}
