package org.lambdagrid.crm.pilot;

import java.time.Instant;
import org.lambdagrid.common.Errors;

/**
 * The site's batch system's side of a grid reservation: an advance reservation in the local
 * batch system over the reservation's window, so that at the window's start local jobs do not
 * hold the nodes the site promised. The seam beside {@link PilotStarter}: {@link #NONE} for the
 * one-machine starter (nothing to reserve), {@link SlurmReservations} for Slurm; tests use a
 * recording fake.
 *
 * <p>{@code SiteReservations} calls it inside the two-phase commit: {@link #create} in Prepare
 * (after its own calendar said yes, before the hold is recorded; a refusal here is the site's
 * "no" vote with the batch system's reason), nothing in Commit (the advance reservation simply
 * stays), and {@link #delete} whenever the hold ends (Abort, expiry, Release) or a restarted CRM
 * finds one it made for a hold that is not live. The name is a function of the site and the
 * reservation id only, so a restarted CRM finds what it made from its records; the CRM records
 * the name before it calls {@link #create}, so a crash between the two leaves a record that
 * makes the restarted CRM delete it.
 *
 * <p>Implementations are thread-safe; the CRM calls them with its reservation lock held, so they
 * must bound every call to the batch system with a timeout.
 */
public interface BatchReservations {
  /**
   * What to reserve.
   *
   * @param reservationId the grid reservation's id
   * @param start the window's start
   * @param end the window's end
   * @param nodes grid nodes (pilots) the window must host
   * @param user the local account the reservation's pilots run as (its grid user mapped by
   *     the site's {@code accounts:}), or empty when the reservation names no user
   */
  record Spec(String reservationId, Instant start, Instant end, int nodes, String user) {}

  /** No batch system reservation: every method does nothing and {@link #name} is null. */
  BatchReservations NONE = new BatchReservations() {
    @Override
    public String name(String reservationId) {
      return null;
    }

    @Override
    public void create(Spec spec) { }

    @Override
    public void delete(String name) { }

    @Override
    public int capacity() {
      return -1;
    }
  };

  /**
   * The batch system's name for the advance reservation of {@code reservationId} on this site,
   * or null when this site makes none. The same id always gives the same name.
   *
   * @throws Errors.RequestException INVALID_ARGUMENT naming {@code reservation_id} when the id
   *     cannot be part of a batch system name
   */
  String name(String reservationId);

  /**
   * Creates the advance reservation named {@link #name}{@code (spec.reservationId())}. Not
   * idempotent: the CRM calls it once per prepared hold.
   *
   * @throws Errors.RequestException the site's "no", naming why: FAILED_PRECONDITION (the batch
   *     system cannot reserve that many nodes in the window, or refuses the user or partition),
   *     ALREADY_EXISTS (the batch system already has a reservation of that name; it is left
   *     alone), UNAVAILABLE (the batch system did not answer; a reservation may have been made,
   *     and the caller must delete it by name later). Except for UNAVAILABLE, nothing is left
   *     in the batch system when it throws.
   */
  void create(Spec spec);

  /**
   * Deletes the advance reservation {@code name}. Idempotent: returns normally when it is
   * already gone.
   *
   * @throws BatchReservationException when the batch system refuses (jobs still run in it) or
   *     does not answer; the caller tries again later
   */
  void delete(String name) throws BatchReservationException;

  /**
   * How many grid nodes the batch system could host now (its usable nodes in the pilots'
   * partition, times the pilots one node takes), or -1 when it does not say (no batch system,
   * or it did not answer). Cheap: implementations cache the answer for a few seconds.
   */
  int capacity();

  /** A delete that did not happen; the message names the reservation and the reason. */
  final class BatchReservationException extends Exception {
    public BatchReservationException(String message) {
      super(message);
    }
  }
}
