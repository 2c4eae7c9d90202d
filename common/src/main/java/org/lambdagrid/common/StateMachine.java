package org.lambdagrid.common;

import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * A transition table for an enum of states, checked on every change. Build one per lifecycle
 * as a constant; {@link #check} throws {@link IllegalStateException} for a transition the table
 * does not allow, so a bug shows up where it happens instead of as a confused peer.
 *
 * <p>Thread-safe once built (immutable).
 */
public final class StateMachine<S extends Enum<S>> {
  private final Map<S, Set<S>> allowed;
  private final Set<S> terminal;

  private StateMachine(Map<S, Set<S>> allowed, Set<S> terminal) {
    this.allowed = allowed;
    this.terminal = terminal;
  }

  public static <S extends Enum<S>> Builder<S> builder(Class<S> type) {
    return new Builder<>(type);
  }

  public boolean canMove(S from, S to) {
    return allowed.getOrDefault(from, Set.of()).contains(to);
  }

  /** Throws unless {@code from -> to} is in the table. Returns {@code to}. */
  public S check(S from, S to) {
    if (!canMove(from, to)) {
      throw new IllegalStateException("illegal transition " + from + " -> " + to);
    }
    return to;
  }

  public boolean isTerminal(S state) {
    return terminal.contains(state);
  }

  /** Builds a table. */
  public static final class Builder<S extends Enum<S>> {
    private final Class<S> type;
    private final Map<S, Set<S>> allowed;
    private final Set<S> terminal;

    private Builder(Class<S> type) {
      this.type = type;
      this.allowed = new EnumMap<>(type);
      this.terminal = EnumSet.noneOf(type);
    }

    @SafeVarargs
    public final Builder<S> allow(S from, S... to) {
      allowed.computeIfAbsent(from, k -> EnumSet.noneOf(type)).addAll(Set.of(to));
      return this;
    }

    @SafeVarargs
    public final Builder<S> terminal(S... states) {
      terminal.addAll(Set.of(states));
      return this;
    }

    public StateMachine<S> build() {
      Map<S, Set<S>> copy = new EnumMap<>(type);
      allowed.forEach((k, v) -> copy.put(k, Set.copyOf(v)));
      return new StateMachine<>(copy, Set.copyOf(terminal));
    }
  }
}
