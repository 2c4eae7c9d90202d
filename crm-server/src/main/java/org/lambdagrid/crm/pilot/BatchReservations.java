package org.lambdagrid.crm.pilot;

import io.grpc.Deadline;
import java.time.Instant;
import org.lambdagrid.common.Errors;

/**
 * The site's batch system's side of a grid reservation: an advance reservation in the local
 * batch system over the reservation's window, so that at the window's start local jobs do not
 * hold the nodes the site promised. The seam beside {@link PilotStarter}: {@link #NONE} for the
 * one-machine starter (nothing to reserve), {@link SlurmReservations} for Slurm; tests use a
 * recording fake.
 *
 * <p>{@code SiteReservations} calls it inside the two-phase commit: in Prepare (after its own
 * calendar said yes, before the hold is recorded) {@link #exists} and then {@link #create} (a
 * refusal here is the site's "no" vote with the batch system's reason), nothing in Commit (the
 * advance reservation simply stays), and {@link #deleteIfAsked} whenever the hold ends (Abort,
 * expiry, Release) or a restarted CRM finds one it made for a hold that is not live. The name is
 * a function of the site and the reservation id only, so a restarted CRM finds what it made from
 * its records; the CRM records the name and what it asks for ({@link #asked}) after
 * {@link #exists} said there is none and before it calls {@link #create}, so a crash between the
 * two leaves a record that makes the restarted CRM delete it, a name someone else uses is never
 * recorded, and one someone else makes under a recorded name (while the create did not answer)
 * does not show what was asked, so is never deleted either.
 *
 * <p>Implementations are thread-safe. The CRM calls them without its reservation lock, each
 * call with a deadline (a Prepare's answer is due before the GRC's {@code rpc_timeout}), which
 * they must keep: every call to the batch system ends by then.
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

  /**
   * What {@link #create} asks the batch system for, in its terms: recorded with the name before
   * the create, and compared with what the batch system shows under the name before a recorded
   * name is deleted ({@link #deleteIfAsked}), so that a reservation someone else made under it
   * is left alone.
   *
   * @param start the window's start as asked (Slurm: cut to the second)
   * @param end the window's end as asked
   * @param users the batch system user(s) it is for
   * @param account the account it is for, or null
   * @param nodes the batch system nodes asked for
   * @param partition where, or null for the batch system's default
   */
  record Asked(Instant start, Instant end, String users, String account, int nodes,
      String partition) {}

  /**
   * How the reservation the batch system shows under a recorded name differs from what was
   * {@link Asked}: the first field that differs, as the batch system names it, and both values.
   */
  record Mismatch(String field, String asked, String shown) {}

  /** No batch system reservation: every method does nothing and {@link #name} is null. */
  BatchReservations NONE = new BatchReservations() {
    @Override
    public String name(String reservationId) {
      return null;
    }

    @Override
    public boolean exists(String name, Deadline deadline) {
      return false;
    }

    @Override
    public void create(Spec spec, Deadline deadline) { }

    @Override
    public void delete(String name, Deadline deadline) { }

    @Override
    public Asked asked(Spec spec) {
      return null;
    }

    @Override
    public Mismatch deleteIfAsked(String name, Asked asked, Deadline deadline) {
      return null;
    }

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
   * Whether the batch system has a reservation named {@code name} now (whoever made it).
   *
   * @throws BatchReservationException it did not answer by {@code deadline}, or failed
   */
  boolean exists(String name, Deadline deadline) throws BatchReservationException;

  /**
   * Creates the advance reservation named {@link #name}{@code (spec.reservationId())}, and checks
   * what the batch system made. Not idempotent: the CRM calls it once per prepared hold, after
   * {@link #exists} said there is none of that name.
   *
   * @throws Errors.RequestException the site's "no", naming why: FAILED_PRECONDITION (the batch
   *     system cannot reserve that many nodes in the window, or refuses the user or partition),
   *     ALREADY_EXISTS (a reservation of that name appeared since {@link #exists}; it is left
   *     alone), UNAVAILABLE (the batch system did not answer by {@code deadline}, or what it made
   *     could not be checked or undone: a reservation of that name may exist now or appear
   *     later, and the caller must resolve it by name). Except for UNAVAILABLE, nothing is left
   *     in the batch system when it throws.
   */
  void create(Spec spec, Deadline deadline);

  /**
   * Deletes the advance reservation {@code name}. Idempotent: returns normally when it is
   * already gone.
   *
   * @throws BatchReservationException when the batch system refuses (jobs still run in it) or
   *     does not answer by {@code deadline}; the caller tries again later
   */
  void delete(String name, Deadline deadline) throws BatchReservationException;

  /**
   * What {@link #create}{@code (spec)} asks the batch system for (null when this site makes
   * none). Changes nothing; the same spec gives the same answer while the configuration stays.
   *
   * @throws Errors.RequestException INVALID_ARGUMENT when the spec cannot be asked for
   */
  Asked asked(Spec spec);

  /**
   * Deletes the advance reservation {@code name} only if the batch system shows it with the
   * window, users and account of {@code asked} (what the CRM recorded for it): a recorded
   * name whose create did not answer, or whose hold ended. Idempotent: returns null when
   * there is none of that name. The look and the delete are two calls (the batch system has
   * no conditional delete); the CRM is the only one that deletes its names in between.
   *
   * @return null when it is deleted or not there; else how it differs: it is someone else's,
   *     and is left alone
   * @throws BatchReservationException when the batch system does not answer by
   *     {@code deadline}, shows the reservation in a form that cannot be compared (a field
   *     missing or unreadable: neither ours nor someone else's) or refuses the delete; the
   *     caller keeps the name and tries again later
   */
  Mismatch deleteIfAsked(String name, Asked asked, Deadline deadline)
      throws BatchReservationException;

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
