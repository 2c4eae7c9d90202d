package org.lambdagrid.grc.job;

import org.lambdagrid.grc.support.RecordStore;

/**
 * Where the coordinator keeps its jobs: {@link JdbcJobStore} in the daemon (durable),
 * {@link InMemoryJobStore} in process. Implementations are thread-safe.
 */
public interface JobStore extends RecordStore<JobRecord> {}
