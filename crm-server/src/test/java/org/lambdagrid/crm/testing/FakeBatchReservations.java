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
 * to spec; a reservation someone else made has a null spec or its own), records every call
 * (a conditional delete, {@link #deleteIfAsked}, as "delete NAME"), and fails as
 * told: refuse the next creates with a code and message, fail the next deletes (as Slurm does
 * while jobs still run in a reservation), fail the next look-ups, time a create out (the
 * reservation made at once, later when the test says, or never), hold the next create until the
 * test lets it go (a slow batch system), or throw a {@link Killed} to stop the caller dead before
 * or after creating (a CRM killed there). It records the time each call had left of its
 * deadline and the thread that made it, can make the next look-ups and deletes hang until their
 * deadline (a batch system that is away), and can throw an unchecked exception from the next
 * delete. Names are {@code lg-SITE-ID}.
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
  private String timeOutCreate; // "made", "later" or "never"
  private final Map<String, Spec> later = new TreeMap<>();
  private int failExists;
  private java.util.concurrent.CountDownLatch gate; // the next create waits on it
  private final java.util.concurrent.CountDownLatch[] entered = {null};
  private final List<Long> deadlinesMillis = new ArrayList<>();
  private final List<String> threads = new ArrayList<>();
  private int hang;
  private RuntimeException throwOnDelete;

  public FakeBatchReservations(String site) {
    this.site = site;
  }

  @Override
  public String name(String reservationId) {
    return "lg-" + site + "-" + reservationId;
  }

  @Override
  public synchronized boolean exists(String name, io.grpc.Deadline deadline)
      throws BatchReservationException {
    called("exists " + name, deadline);
    hangUntil(deadline, name);
    if (failExists > 0) {
      failExists--;
      throw new BatchReservationException("cannot look for Slurm reservation " + name
          + ": scontrol did not answer within 9s");
    }
    return existing.containsKey(name);
  }

  @Override
  public void create(Spec spec, io.grpc.Deadline deadline) {
    java.util.concurrent.CountDownLatch g;
    synchronized (this) {
      g = gate;
      gate = null;
      called("create " + name(spec.reservationId()), deadline);
      if (g != null && entered[0] != null) {
        entered[0].countDown();
      }
    }
    if (g != null) {
      try {
        g.await(); // the batch system is slow; the caller must not hold its lock meanwhile
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    create0(spec);
  }

  private synchronized void create0(Spec spec) {
    String name = name(spec.reservationId());
    if (timeOutCreate != null) {
      String how = timeOutCreate;
      timeOutCreate = null;
      if (how.equals("made")) {
        existing.put(name, spec);
      } else if (how.equals("later")) {
        later.put(name, spec);
      }
      throw Errors.unavailable("Slurm cannot reserve ... (ReservationName=" + name + "):"
          + " scontrol did not answer within 7s");
    }
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
  public synchronized void delete(String name, io.grpc.Deadline deadline)
      throws BatchReservationException {
    called("delete " + name, deadline);
    failDelete(deadline, name);
    existing.remove(name);
  }

  /** The window, user and node count of the spec (no account, no partition). */
  @Override
  public Asked asked(Spec spec) {
    return new Asked(spec.start(), spec.end(), spec.user(), null, spec.nodes(), null);
  }

  /**
   * Recorded as "delete NAME" too (it fails, hangs and throws as {@link #delete} does); deletes
   * only a reservation whose spec has {@code asked}'s window and user. A foreign one without a
   * spec differs in "Users".
   */
  @Override
  public synchronized Mismatch deleteIfAsked(String name, Asked asked,
      io.grpc.Deadline deadline) throws BatchReservationException {
    called("delete " + name, deadline);
    failDelete(deadline, name);
    if (!existing.containsKey(name)) {
      return null;
    }
    Spec s = existing.get(name);
    Mismatch m = s == null ? new Mismatch("Users", asked.users(), "(someone else's)")
        : !s.start().equals(asked.start())
            ? new Mismatch("StartTime", asked.start().toString(), s.start().toString())
        : !s.end().equals(asked.end())
            ? new Mismatch("EndTime", asked.end().toString(), s.end().toString())
        : !s.user().equals(asked.users()) ? new Mismatch("Users", asked.users(), s.user())
        : null;
    if (m == null) {
      existing.remove(name);
    }
    return m;
  }

  private void failDelete(io.grpc.Deadline deadline, String name)
      throws BatchReservationException {
    hangUntil(deadline, name);
    if (throwOnDelete != null) {
      RuntimeException e = throwOnDelete;
      throwOnDelete = null;
      throw e;
    }
    if (failDeletes > 0) {
      failDeletes--;
      throw new BatchReservationException("Slurm did not delete reservation " + name
          + ": Requested reservation is in use");
    }
  }

  private void called(String call, io.grpc.Deadline deadline) {
    calls.add(call);
    deadlinesMillis.add(deadline.timeRemaining(java.util.concurrent.TimeUnit.MILLISECONDS));
    threads.add(Thread.currentThread().getName());
  }

  /** Under this object's lock: a hung batch system answers nobody meanwhile. */
  private void hangUntil(io.grpc.Deadline deadline, String name)
      throws BatchReservationException {
    if (hang == 0) {
      return;
    }
    hang--;
    try {
      while (!deadline.isExpired()) {
        Thread.sleep(Math.max(1,
            deadline.timeRemaining(java.util.concurrent.TimeUnit.MILLISECONDS)));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    throw new BatchReservationException("scontrol did not answer about " + name + " in time");
  }

  /** The next {@code n} look-ups and deletes hang until their deadline, then fail. */
  public synchronized FakeBatchReservations hang(int n) {
    hang = n;
    return this;
  }

  /** The next delete throws {@code e} (a bug, not a batch system's refusal). */
  public synchronized FakeBatchReservations throwOnNextDelete(RuntimeException e) {
    throwOnDelete = e;
    return this;
  }

  /** The name of the thread that made each call so far ({@link #calls} order). */
  public synchronized List<String> threads() {
    return List.copyOf(threads);
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

  /**
   * The next create does not answer (UNAVAILABLE): its reservation is {@code "made"} before
   * that, appears {@code "later"} (at {@link #madeLate}), or is {@code "never"} made.
   */
  public synchronized FakeBatchReservations timeOutNextCreate(String how) {
    timeOutCreate = how;
    return this;
  }

  /** The reservations of creates that timed out "later" appear now. */
  public synchronized FakeBatchReservations madeLate() {
    existing.putAll(later);
    later.clear();
    return this;
  }

  /** The next {@code n} look-ups ({@link #exists}) do not answer. */
  public synchronized FakeBatchReservations failExists(int n) {
    failExists = n;
    return this;
  }

  /**
   * The next create waits until the returned latch is counted down; {@code entered} is counted
   * down when it starts waiting.
   */
  public synchronized java.util.concurrent.CountDownLatch holdCreates(
      java.util.concurrent.CountDownLatch entered) {
    gate = new java.util.concurrent.CountDownLatch(1);
    this.entered[0] = entered;
    return gate;
  }

  /** For each call with a deadline so far, the milliseconds it had left. */
  public synchronized List<Long> deadlinesMillis() {
    return List.copyOf(deadlinesMillis);
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

  /** A reservation someone else made under {@code name}, for {@code spec}'s window and user. */
  public synchronized FakeBatchReservations foreign(String name, Spec spec) {
    existing.put(name, spec);
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
