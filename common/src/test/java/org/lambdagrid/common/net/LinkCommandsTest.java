package org.lambdagrid.common.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Looking devices up and removing them through a {@link FakeKernel}. */
class LinkCommandsTest {
  static final Duration T = Duration.ofSeconds(1);
  final FakeKernel kernel = new FakeKernel();
  /** A namespace that is not there (not in /run/netns, and the fake's ip cannot open it). */
  final String gone = "lgt-gone-" + UUID.randomUUID().toString().substring(0, 8);

  @BeforeEach
  void missing() {
    assertThat(LinkCommands.netnsExists(gone)).as("/run/netns/" + gone).isFalse();
    kernel.missingNamespaces.add(gone);
  }

  @Test
  void aDeviceInANamespaceThatDoesNotExistIsGoneAndNothingIsDeleted() {
    assertThat(LinkCommands.lookUp(kernel, T, gone, "lgnabc123x0").presence())
        .isEqualTo(LinkCommands.Presence.ABSENT);
    assertThat(LinkCommands.ensureGone(kernel, T, gone, "lgnabc123x0")).isNull();
    assertThat(kernel.commandsMatching("del")).isEmpty();
  }

  @Test
  void aPresentDeviceIsRemovedAndAnAbsentOneLeftAlone() {
    kernel.links.add("lgnabc123b0");
    assertThat(LinkCommands.lookUp(kernel, T, "", "lgnabc123b0").presence())
        .isEqualTo(LinkCommands.Presence.PRESENT);
    assertThat(LinkCommands.ensureGone(kernel, T, "", "lgnabc123b0")).isNull();
    assertThat(kernel.links).doesNotContain("lgnabc123b0");
    assertThat(LinkCommands.ensureGone(kernel, T, "", "lgnabc123b0")).isNull(); // again
    assertThat(kernel.mutations()).containsExactly("ip link del dev lgnabc123b0");
  }

  @Test
  void whenIpCannotTellInANamespaceThatExistsTheDeleteIsTriedAndItsErrorReported() {
    // The host's namespace always exists, so only ip's answer counts there.
    kernel.links.add("lgnabc123b0");
    kernel.failWhen(argv -> argv.contains("link"));
    assertThat(LinkCommands.lookUp(kernel, T, "", "lgnabc123b0").presence())
        .isEqualTo(LinkCommands.Presence.UNKNOWN);
    assertThat(LinkCommands.ensureGone(kernel, T, "", "lgnabc123b0"))
        .startsWith("device lgnabc123b0: ").contains("Operation not permitted");
    assertThat(kernel.commands).contains(List.of("ip", "link", "del", "dev", "lgnabc123b0"));
  }

  @Test
  void aNamespaceNameThatIsAPathIsRefusedNotCalledGone() {
    for (String bad : List.of("../netns/x", "a/b", "..", ".", "")) {
      org.assertj.core.api.Assertions.assertThatIllegalArgumentException()
          .isThrownBy(() -> LinkCommands.lookUp(kernel, T, bad.isEmpty() ? "x/" : bad,
              "lgnabc123b0"))
          .withMessageContaining("is not a namespace name");
    }
    org.assertj.core.api.Assertions.assertThatIllegalArgumentException()
        .isThrownBy(() -> LinkCommands.netnsExists(""));
  }
}
