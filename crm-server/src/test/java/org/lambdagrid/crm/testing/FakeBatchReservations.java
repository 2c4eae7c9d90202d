package org.lambdagrid.crm.testing;

import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.lambdagrid.common.Errors;
import org.lambdagrid.crm.pilot.BatchReservations;

/**
 * A {@link BatchReservations} for tests: keeps the "batch system's" reservations in a map (name
 * to spec; a reservation someone else made has a null spec), records every call, and fails as
 * told: refuse the next creates with a code and message, fail the next deletes (as Slurm does
 * while jobs still run in a reservation), or throw a {@link Killed} to stop the caller dead
 * before or after creating (a CRM killed there). Names are {@code lg-SITE-ID}.
 */
public final class FakeBatchReservations implements BatchReservations {
  /** Thrown instead of returning, to emulate the CRM dying at that point (never caught). */
  public static final class Killed extends Error {
    public Killed(String where) {
      super("killed " + where);
    }
  }

  private final String site;
  private final Map<String, Spec> existing = new TreeMap<>();
  private final List<String> calls = new ArrayList<>();
  private Errors.RequestException refuseCreate;
  private int failDeletes;
  private String killOnCreate; // "before" or "after"
  private int capacity = -1;

  public FakeBatchReservations(String site) {
    this.site = site;
  }

  @Override
  public String name(String reservationId) {
    return "lg-" + site + "-" + reservationId;
  }

  @Override
  public synchronized void create(Spec spec) {
    String name = name(spec.reservationId());
    calls.add("create " + name);
    if ("before".equals(killOnCreate)) {
      killOnCreate = null;
      throw new Killed("before creating " + name);
    }
    if (refuseCreate != null) {
      Errors.RequestException e = refuseCreate;
      refuseCreate = null;
      throw e;
    }
    if (existing.containsKey(name)) {
      throw Errors.alreadyExists("ReservationName: '" + name + "': exists already");
    }
    existing.put(name, spec);
    if ("after".equals(killOnCreate)) {
      killOnCreate = null;
      throw new Killed("after creating " + name);
    }
  }

  @Override
  public synchronized void delete(String name) throws BatchReservationException {
    calls.add("delete " + name);
    if (failDeletes > 0) {
      failDeletes--;
      throw new BatchReservationException("Slurm did not delete reservation " + name
          + ": Requested reservation is in use");
    }
    existing.remove(name);
  }

  @Override
  public synchronized int capacity() {
    return capacity;
  }

  /** The next create is refused with this code and message (nothing is made). */
  public synchronized FakeBatchReservations refuseNextCreate(Status.Code code, String message) {
    refuseCreate = new Errors.RequestException(code, message);
    return this;
  }

  /** The next {@code n} deletes fail. */
  public synchronized FakeBatchReservations failDeletes(int n) {
    failDeletes = n;
    return this;
  }

  /** The next create throws {@link Killed} "before" or "after" making the reservation. */
  public synchronized FakeBatchReservations killOnCreate(String when) {
    killOnCreate = when;
    return this;
  }

  /** A reservation someone else made under {@code name}. */
  public synchronized FakeBatchReservations foreign(String name) {
    existing.put(name, null);
    return this;
  }

  public synchronized FakeBatchReservations capacity(int nodes) {
    capacity = nodes;
    return this;
  }

  /** The reservations that exist now, by name (a foreign one maps to null). */
  public synchronized Map<String, Spec> existing() {
    return new TreeMap<>(existing);
  }

  public synchronized List<String> calls() {
    return List.copyOf(calls);
  }
}
