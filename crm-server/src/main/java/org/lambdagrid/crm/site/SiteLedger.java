package org.lambdagrid.crm.site;

import java.time.Instant;
import java.util.List;
import org.lambdagrid.common.reservation.HoldTable;

/**
 * Where a CRM records its reservation holds and the shares bound to them durably, so a restarted
 * CRM still holds what it promised, lets a PREPARED hold expire at its original instant, and
 * never hands a node or a range out twice. Each method has committed when it returns; if it
 * throws, the operation that called it fails and the site's memory is unchanged.
 *
 * <p>A hold is PREPARED, then COMMITTED, then RELEASED (or ABORTED / EXPIRED); terminal holds
 * are kept as tombstones for the hold table's retention. A share is <em>opened</em> (OpenShare
 * bound it to a committed reservation), then <em>started</em> (the first SetupNodes: pilots may
 * exist from then on), then <em>running</em> (StartGuests completed: every guest is up and a
 * restarted CRM may re-adopt its pilots), then gone (released). See {@link SiteShares#recover}.
 */
public interface SiteLedger {
  /** A hold as recorded; {@code held} has no window for an abort of an unknown id. */
  record Hold(String id, HoldTable.State state, SiteReservations.Held held, Instant expiresAt,
      Instant endedAt) {}

  /**
   * A share as recorded; {@code running} is null until StartGuests completed.
   */
  record BoundShare(String jobId, String reservationId, String user, boolean started,
      Running running) {
    public BoundShare(String jobId, String reservationId, String user, boolean started) {
      this(jobId, reservationId, user, started, null);
    }
  }

  /**
   * What a restarted CRM needs to re-adopt a running share's pilots.
   *
   * @param guestUser the user the guests run as
   * @param slots MPI slots per node (for the node entries)
   * @param reconnectHashes per node index, the hex SHA-256 of its reconnect credential (the
   *     credential itself is never stored)
   */
  record Running(String guestUser, int slots, List<String> reconnectHashes) {
    public Running {
      reconnectHashes = List.copyOf(reconnectHashes);
    }
  }

  SiteLedger NONE = new SiteLedger() {
    @Override
    public void holdPrepared(SiteReservations.Held h, Instant expiresAt) { }

    @Override
    public void holdChanged(String id, HoldTable.State state, Instant endedAt) { }

    @Override
    public List<Hold> loadHolds() {
      return List.of();
    }

    @Override
    public void forgetHoldsEndedBefore(Instant t) { }

    @Override
    public void shareOpened(ShareSpec spec) { }

    @Override
    public void shareStarted(String jobId) { }

    @Override
    public void shareRunning(String jobId, Running running) { }

    @Override
    public void shareReleased(String jobId) { }

    @Override
    public List<BoundShare> loadShares() {
      return List.of();
    }
  };

  /**
   * Records the new PREPARED hold {@code h}, all of it in one write (with
   * {@link SiteReservations.Held#overlay}: whether its Commit must build an overlay end).
   */
  void holdPrepared(SiteReservations.Held h, Instant expiresAt);

  /** Upsert: an abort of an id never prepared records a tombstone. */
  void holdChanged(String id, HoldTable.State state, Instant endedAt);

  /** Holds in the order they were recorded, terminal ones in the order they ended. */
  List<Hold> loadHolds();

  /** Drops tombstones older than the retention. */
  void forgetHoldsEndedBefore(Instant t);

  /** Idempotent for the same job. */
  void shareOpened(ShareSpec spec);

  /** Idempotent. */
  void shareStarted(String jobId);

  /** Records that the share's guests all run, with what re-adopting them needs. Idempotent. */
  void shareRunning(String jobId, Running running);

  /** Idempotent. */
  void shareReleased(String jobId);

  List<BoundShare> loadShares();

  /**
   * A recorded batch system reservation: its name, and what the batch system was asked for under
   * it ({@code asked} null: recorded by a CRM that did not keep that; such a name is deleted by
   * name, unchecked).
   */
  record BatchRecord(String name, org.lambdagrid.crm.pilot.BatchReservations.Asked asked) {}

  /**
   * Records that this CRM is about to create the batch system reservation {@code name} for
   * reservation {@code reservationId} ({@link org.lambdagrid.crm.pilot.BatchReservations}),
   * asking for {@code asked}: written before the batch system is asked, so that a CRM killed
   * before it recorded the hold finds the name after its restart and deletes what it may have
   * made, if it is what was asked. Idempotent; replaces an earlier record of the id.
   */
  default void batchReserving(String reservationId, String name,
      org.lambdagrid.crm.pilot.BatchReservations.Asked asked) { }

  /** Forgets the batch reservation of {@code reservationId}: it is deleted or was never made. */
  default void batchGone(String reservationId) { }

  /** Every batch reservation recorded and not forgotten: reservation id to its record. */
  default java.util.Map<String, BatchRecord> loadBatchReservations() {
    return java.util.Map.of();
  }
}
