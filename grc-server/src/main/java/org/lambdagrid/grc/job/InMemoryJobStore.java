package org.lambdagrid.grc.job;

import org.lambdagrid.grc.support.InMemoryRecords;

/** A {@link JobStore} that forgets everything on restart. */
public final class InMemoryJobStore extends InMemoryRecords<JobRecord> implements JobStore {
  public InMemoryJobStore() {
    super("job");
  }
}
