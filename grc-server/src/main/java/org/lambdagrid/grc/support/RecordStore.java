package org.lambdagrid.grc.support;

import java.util.List;
import java.util.Optional;

/** Where the GRC keeps records of one kind (jobs, reservations). Thread-safe. */
public interface RecordStore<R extends StoredRecord> {
  /** Adds a new record; its id must be unused. */
  void add(R record);

  Optional<R> get(String id);

  boolean contains(String id);

  /** Every record, newest first (then by id). */
  List<R> list();

  /** The record a user created with this client token, if any. */
  Optional<R> byClientToken(String user, String token);
}
