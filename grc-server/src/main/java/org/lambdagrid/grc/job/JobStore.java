package org.lambdagrid.grc.job;

import java.util.List;
import java.util.Optional;

/**
 * Where the coordinator keeps its jobs: {@link JdbcJobStore} in the daemon (durable),
 * {@link InMemoryJobStore} in process. Implementations are thread-safe.
 */
public interface JobStore {
  /** Adds a new job; its id must be unused. */
  void add(JobRecord job);

  Optional<JobRecord> get(String id);

  boolean contains(String id);

  /** Every job, newest first. */
  List<JobRecord> list();

  /** The job a user created with this client token, if any. */
  Optional<JobRecord> byClientToken(String user, String token);
}
