package org.lambdagrid.grc.reservation;

import java.util.concurrent.CompletableFuture;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.reservation.Vote;

/**
 * One participant of a reservation's two-phase commit: a site's CRM (nodes) or a network
 * resource manager (bandwidth). The methods return futures so that a remote manager (a gRPC
 * future stub) and an in-process one ({@link CalendarSiteResourceManager}) look the same; the
 * coordinator puts its own deadline on them.
 *
 * <p>Every method is idempotent: the coordinator may retry, and the network may duplicate or
 * reorder messages. An implementation keyed by reservation id (see {@link HoldTable}) gets this
 * for free. A PREPARED hold the coordinator never commits expires by itself after the manager's
 * hold time, so a coordinator that dies between the phases leaks nothing.
 */
public interface ResourceManager {
  /** A stable name for messages and outcomes ("site:tokyo", "network:grc"). */
  String name();

  /**
   * Phase one: hold {@code ask} in {@code window} under {@code reservationId} until commit,
   * abort or the hold time. Completes with {@link Vote#prepared()} or {@link Vote#refused} (an
   * exceptional completion counts as a refusal). Repeating it for the same id and ask answers
   * the same and holds nothing more; it is refused once the id was aborted, so a duplicate that
   * arrives after the abort cannot resurrect the hold.
   */
  CompletableFuture<Vote> prepare(String reservationId, Window window, Ask ask);

  /**
   * Phase two, success: make the hold permanent (until release). Repeating it does nothing.
   * Fails with FAILED_PRECONDITION if the hold expired or was aborted, NOT_FOUND if unknown.
   */
  CompletableFuture<Void> commit(String reservationId);

  /**
   * Phase two, failure: drop the hold. Succeeds for an unknown id too (the prepare may still be
   * in flight; it will then be refused). Repeating it does nothing. Fails with
   * FAILED_PRECONDITION for a committed hold (use {@link #release}).
   */
  CompletableFuture<Void> abort(String reservationId);

  /** Frees a committed hold (reservation cancelled or over). Idempotent; unknown ids succeed. */
  CompletableFuture<Void> release(String reservationId);
}
