package org.lambdagrid.grc.support;

import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/** Where the GRC keeps records of one kind (jobs, reservations). Thread-safe. */
public interface RecordStore<R extends StoredRecord> {
  /** Adds a new record; its id must be unused. */
  void add(R record);

  Optional<R> get(String id);

  boolean contains(String id);

  /** Every record, newest first (then by id). */
  List<R> list();

  /**
   * Up to {@code limit} records that {@code filter} keeps, in {@link #list()} order, from just
   * after {@code after} (from the first when null; {@code after} need not be a record's). For
   * {@link Paging}: costs the records passed over, not the whole list.
   */
  List<R> page(Paging.Position after, int limit, Predicate<? super R> filter);

  /** The record a user created with this client token, if any. */
  Optional<R> byClientToken(String user, String token);
}
