package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.util.List;
import org.lambdagrid.nodemanager.driver.GuestException;

/**
 * One step of building a guest ({@link GuestSteps} runs them). {@link #plan} names in the record
 * what {@link #build} will make; the record is saved between the two, so that {@link #undo}, which
 * reads nothing but the record, finds whatever a failed, interrupted or crashed build left.
 */
interface GuestStep {
  /**
   * Refuses a guest this step could not make; {@link GuestSteps} asks every step before any
   * builds, so a refused SETUP changes nothing (not even the user's ~/.ssh). Reads only.
   */
  default void check(NewGuest guest) throws GuestException {}

  /** Records the names of what {@link #build} makes. Pure: changes only the record. */
  default void plan(NewGuest guest) {}

  /** Makes this step's objects. Records what it learns on the way (pids) and saves. */
  void build(NewGuest guest) throws GuestException, IOException;

  /**
   * Removes what this step made, as named in {@code rec}; also when the build never got here,
   * got here partly, or was undone already. Never throws; returns what it could not remove
   * (empty when everything is gone).
   */
  List<String> undo(GuestRecord rec);

  /**
   * Whether {@link #undo} must wait until the later steps' objects are all gone (it is skipped
   * when one of their undos failed, and runs on the next destroy).
   */
  default boolean undoNeedsLaterStepsGone() {
    return false;
  }
}
