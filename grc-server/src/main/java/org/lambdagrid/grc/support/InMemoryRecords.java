package org.lambdagrid.grc.support;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.function.Predicate;

/**
 * A {@link RecordStore} in memory, forgotten on restart; also the read side of the durable
 * stores, which load every record into one at start and add each new one after it committed.
 */
public class InMemoryRecords<R extends StoredRecord> implements RecordStore<R> {
  private final String kind;
  private final Map<String, R> records = new ConcurrentHashMap<>();
  /** The same records in list order (a record's id and createdAt never change). */
  private final NavigableMap<Paging.Position, R> ordered = new ConcurrentSkipListMap<>();

  /** @param kind what a record is, for messages ("job", "reservation") */
  public InMemoryRecords(String kind) {
    this.kind = kind;
  }

  @Override
  public void add(R record) {
    if (records.putIfAbsent(record.id(), record) != null) {
      throw new IllegalStateException(kind + " id " + record.id() + " is already used");
    }
    ordered.put(Paging.Position.of(record), record);
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
    return new ArrayList<>(ordered.values());
  }

  @Override
  public List<R> page(Paging.Position after, int limit, Predicate<? super R> filter) {
    List<R> out = new ArrayList<>();
    // Weakly consistent: records added meanwhile may or may not be seen, none twice.
    for (R r : (after == null ? ordered : ordered.tailMap(after, false)).values()) {
      if (out.size() >= limit) {
        break;
      }
      if (filter.test(r)) {
        out.add(r);
      }
    }
    return out;
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
