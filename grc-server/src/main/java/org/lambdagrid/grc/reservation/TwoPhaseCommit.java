package org.lambdagrid.grc.reservation;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.reservation.Vote;

/**
 * The coordinator of a reservation's two-phase commit over several {@link ResourceManager}s.
 *
 * <ol>
 *   <li>Prepare is sent to every participant at once; one deadline ({@code timeout}) covers the
 *       whole phase.
 *   <li>If every participant voted PREPARED in time, commit is sent to all; otherwise abort is
 *       sent to all, including those that refused and those that did not answer (an abort that
 *       overtakes its prepare leaves a tombstone there, so the late prepare is refused).
 *   <li>Phase-two answers are awaited for another {@code timeout}. The decision is final either
 *       way: an unacknowledged abort still ends as an abort or an expiry at that manager; an
 *       unacknowledged commit is reported in {@link Outcome#problems()} and the caller should
 *       retry commit (idempotent) before the manager's hold time runs out.
 * </ol>
 *
 * <p>Non-blocking: {@link #run} returns a future. Timeouts come from a {@link Delayer}, by default
 * {@link CompletableFuture#delayedExecutor}; tests pass a manual one and fire it. Thread-safe
 * and stateless between runs.
 */
public final class TwoPhaseCommit {
  /** Completes the returned future after {@code d}. */
  @FunctionalInterface
  public interface Delayer {
    CompletableFuture<Void> after(Duration d);
  }

  /** One participant and what it is asked to hold. */
  public record Participant(ResourceManager manager, Ask ask) {}

  public enum Decision { COMMITTED, ABORTED }

  /**
   * How a run ended.
   *
   * @param votes each participant's prepare vote, by manager name, in participant order
   * @param problems sentences for refusals, timeouts and unacknowledged phase-two messages
   */
  public record Outcome(String reservationId, Decision decision, Map<String, Vote> votes, List<String> problems) {
    public boolean committed() {
      return decision == Decision.COMMITTED;
    }
  }

  private final Duration timeout;
  private final Delayer delayer;

  public TwoPhaseCommit(Duration timeout) {
    this(timeout, d -> CompletableFuture.runAsync(() -> { },
        CompletableFuture.delayedExecutor(d.toNanos(), TimeUnit.NANOSECONDS)));
  }

  public TwoPhaseCommit(Duration timeout, Delayer delayer) {
    this.timeout = timeout;
    this.delayer = delayer;
  }

  /** Runs both phases for {@code reservationId}; the future never completes exceptionally. */
  public CompletableFuture<Outcome> run(String reservationId, Window window, List<Participant> participants) {
    List<String> names = new ArrayList<>();
    for (Participant p : participants) {
      if (names.contains(p.manager().name())) {
        throw new IllegalArgumentException("participant " + p.manager().name() + " appears twice");
      }
      names.add(p.manager().name());
    }
    CompletableFuture<Void> deadline = delayer.after(timeout);
    List<CompletableFuture<Vote>> votes = new ArrayList<>();
    for (Participant p : participants) {
      CompletableFuture<Vote> answer = safely(() -> p.manager().prepare(reservationId, window, p.ask()))
          .handle((v, t) -> t == null ? v : refusal(t));
      CompletableFuture<Vote> late = deadline.thenApply(x -> Vote.timedOut(
          p.manager().name() + " did not answer prepare within " + timeout));
      votes.add(answer.applyToEither(late, v -> v));
    }
    return CompletableFuture.allOf(votes.toArray(CompletableFuture[]::new)).thenCompose(x -> {
      Map<String, Vote> byName = new LinkedHashMap<>();
      List<String> problems = new ArrayList<>();
      boolean all = true;
      for (int i = 0; i < participants.size(); i++) {
        Vote v = votes.get(i).join();
        byName.put(names.get(i), v);
        if (!v.isPrepared()) {
          all = false;
          problems.add(v.kind() == Vote.Kind.TIMED_OUT ? v.reason()
              : names.get(i) + " refused (" + v.code() + "): " + v.reason());
        }
      }
      Decision decision = all ? Decision.COMMITTED : Decision.ABORTED;
      return phaseTwo(reservationId, decision, participants, problems)
          .thenApply(y -> new Outcome(reservationId, decision, byName, List.copyOf(problems)));
    });
  }

  private CompletableFuture<Void> phaseTwo(
      String id, Decision decision, List<Participant> participants, List<String> problems) {
    String verb = decision == Decision.COMMITTED ? "commit" : "abort";
    CompletableFuture<Void> deadline = delayer.after(timeout);
    List<CompletableFuture<String>> acks = new ArrayList<>();
    for (Participant p : participants) {
      ResourceManager rm = p.manager();
      CompletableFuture<String> ack = safely(() -> decision == Decision.COMMITTED ? rm.commit(id) : rm.abort(id))
          .handle((v, t) -> t == null ? null : rm.name() + " failed " + verb + ": " + message(t));
      CompletableFuture<String> late = deadline.thenApply(v -> rm.name() + " did not acknowledge "
          + verb + " within " + timeout + (decision == Decision.ABORTED
              ? " (its hold, if any, expires by itself)" : " (retry commit before its hold time runs out)"));
      acks.add(ack.applyToEither(late, s -> s));
    }
    return CompletableFuture.allOf(acks.toArray(CompletableFuture[]::new)).thenRun(() -> {
      synchronized (problems) {
        for (CompletableFuture<String> a : acks) {
          String s = a.join();
          if (s != null) {
            problems.add(s);
          }
        }
      }
    });
  }

  private static <T> CompletableFuture<T> safely(java.util.function.Supplier<CompletableFuture<T>> call) {
    try {
      CompletableFuture<T> f = call.get();
      return f == null ? CompletableFuture.failedFuture(new NullPointerException("null future")) : f;
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  private static Vote refusal(Throwable t) {
    Throwable c = unwrap(t);
    if (c instanceof Errors.RequestException r) {
      return Vote.refused(r.code(), r.getMessage());
    }
    return Vote.refused(io.grpc.Status.fromThrowable(c).getCode() == io.grpc.Status.Code.UNKNOWN
        ? io.grpc.Status.Code.UNAVAILABLE : io.grpc.Status.fromThrowable(c).getCode(), message(c));
  }

  /** The participant's own sentence: a gRPC status's description, not "CODE: description". */
  private static String message(Throwable t) {
    Throwable c = unwrap(t);
    if (c instanceof io.grpc.StatusRuntimeException s && s.getStatus().getDescription() != null) {
      return s.getStatus().getDescription();
    }
    return c.getMessage() == null ? c.toString() : c.getMessage();
  }

  private static Throwable unwrap(Throwable t) {
    while (t instanceof CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }
}
