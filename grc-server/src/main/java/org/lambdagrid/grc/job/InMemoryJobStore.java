package org.lambdagrid.grc.job;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** A {@link JobStore} that forgets everything on restart. */
public final class InMemoryJobStore implements JobStore {
  private final Map<String, JobRecord> jobs = new ConcurrentHashMap<>();

  @Override
  public void add(JobRecord job) {
    if (jobs.putIfAbsent(job.id(), job) != null) {
      throw new IllegalStateException("job id " + job.id() + " is already used");
    }
  }

  @Override
  public Optional<JobRecord> get(String id) {
    return Optional.ofNullable(jobs.get(id));
  }

  @Override
  public boolean contains(String id) {
    return jobs.containsKey(id);
  }

  @Override
  public List<JobRecord> list() {
    List<JobRecord> all = new ArrayList<>(jobs.values());
    all.sort(Comparator.comparing(JobRecord::createdAt).reversed()
        .thenComparing(JobRecord::id));
    return all;
  }

  @Override
  public Optional<JobRecord> byClientToken(String user, String token) {
    if (token == null || token.isEmpty()) {
      return Optional.empty();
    }
    return jobs.values().stream().filter(j -> token.equals(j.spec().getClientToken())
        && user.equals(j.spec().getUser())).findFirst();
  }
}
