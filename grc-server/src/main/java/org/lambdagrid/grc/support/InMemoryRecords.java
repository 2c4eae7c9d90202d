package org.lambdagrid.grc.support;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A {@link RecordStore} in memory, forgotten on restart; also the read side of the durable
 * stores, which load every record into one at start and add each new one after it committed.
 */
public class InMemoryRecords<R extends StoredRecord> implements RecordStore<R> {
  private final String kind;
  private final Map<String, R> records = new ConcurrentHashMap<>();

  /** @param kind what a record is, for messages ("job", "reservation") */
  public InMemoryRecords(String kind) {
    this.kind = kind;
  }

  @Override
  public void add(R record) {
    if (records.putIfAbsent(record.id(), record) != null) {
      throw new IllegalStateException(kind + " id " + record.id() + " is already used");
    }
  }

  @Override
  public Optional<R> get(String id) {
    return Optional.ofNullable(records.get(id));
  }

  @Override
  public boolean contains(String id) {
    return records.containsKey(id);
  }

  @Override
  public List<R> list() {
    List<R> all = new ArrayList<>(records.values());
    all.sort(Comparator.comparing(StoredRecord::createdAt).reversed()
        .thenComparing(StoredRecord::id));
    return all;
  }

  @Override
  public Optional<R> byClientToken(String user, String token) {
    if (token == null || token.isEmpty()) {
      return Optional.empty();
    }
    return records.values().stream().filter(r -> token.equals(r.clientToken())
        && user.equals(r.user())).findFirst();
  }
}
