package org.lambdagrid.grc.reservation;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** A {@link ReservationStore} that forgets everything on restart. */
public final class InMemoryReservationStore implements ReservationStore {
  private final Map<String, ReservationRecord> all = new ConcurrentHashMap<>();

  @Override
  public void add(ReservationRecord r) {
    if (all.putIfAbsent(r.id(), r) != null) {
      throw new IllegalStateException("reservation id " + r.id() + " is already used");
    }
  }

  @Override
  public Optional<ReservationRecord> get(String id) {
    return Optional.ofNullable(all.get(id));
  }

  @Override
  public boolean contains(String id) {
    return all.containsKey(id);
  }

  @Override
  public List<ReservationRecord> list() {
    List<ReservationRecord> out = new ArrayList<>(all.values());
    out.sort(Comparator.comparing(ReservationRecord::createdAt).reversed()
        .thenComparing(ReservationRecord::id));
    return out;
  }

  @Override
  public Optional<ReservationRecord> byClientToken(String user, String token) {
    if (token == null || token.isEmpty()) {
      return Optional.empty();
    }
    return all.values().stream().filter(r -> token.equals(r.spec().getClientToken())
        && user.equals(r.user())).findFirst();
  }
}
