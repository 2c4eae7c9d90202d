package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class StateMachineTest {
  enum S { A, B, C }

  private final StateMachine<S> sm = StateMachine.builder(S.class)
      .allow(S.A, S.B, S.C).allow(S.B, S.C).terminal(S.C).build();

  @Test
  void allowsOnlyListedTransitions() {
    assertThat(sm.check(S.A, S.B)).isEqualTo(S.B);
    assertThat(sm.canMove(S.B, S.A)).isFalse();
    assertThatThrownBy(() -> sm.check(S.C, S.A)).isInstanceOf(IllegalStateException.class)
        .hasMessage("illegal transition C -> A");
    assertThat(sm.isTerminal(S.C)).isTrue();
    assertThat(sm.isTerminal(S.B)).isFalse();
  }
}
