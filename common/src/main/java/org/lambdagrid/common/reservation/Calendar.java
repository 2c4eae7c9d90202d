package org.lambdagrid.common.reservation;

import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * How much of one resource (a site's nodes, a link's bandwidth) is used over time, against a
 * fixed capacity: a step function built from holds, each an amount over a half-open interval
 * {@code [from, to)}. Times are plain {@code long}s (the co-allocator uses epoch milliseconds).
 *
 * <p>Representation: a {@link TreeMap} from change point to the level that holds from that point
 * up to the next one; before the first point and from the last point on the level is 0. The map
 * is kept canonical (no point where the level does not change), so {@link #remove} restores
 * exactly the map that existed before the matching {@link #add}, and the number of points is at
 * most twice the number of live holds. Costs, with n points and k points inside the asked
 * interval: {@link #maxUsage}, {@link #firstOver}: O(log n + k); {@link #add}, {@link #remove}:
 * O(k log n). With the short holds of a reservation calendar k is small, so 10,000 holds cost
 * microseconds per query.
 *
 * <p>Not thread-safe: the owner (the GRC's CoAllocator, a {@link HoldTable}'s resource)
 * serialises every call, reads included.
 */
public final class Calendar {
  /** Returned by the search methods when there is no such time. */
  public static final long NONE = Long.MIN_VALUE;

  private record Hold(long from, long to, long amount) {}

  private final String name;
  private final long capacity;
  private final TreeMap<Long, Long> levels = new TreeMap<>();
  private final Map<String, Hold> holds = new HashMap<>();

  /** {@code name} is used in messages ("site 'tokyo'", "link 'a<->b'"). */
  public Calendar(String name, long capacity) {
    if (capacity < 0) {
      throw new IllegalArgumentException(name + ": capacity " + capacity + " is negative");
    }
    this.name = name;
    this.capacity = capacity;
  }

  public String name() {
    return name;
  }

  /**
   * A copy with another capacity and the same holds (a site whose capacity changed). Usage above
   * a lowered capacity stays; it only keeps new holds out until it falls.
   */
  public Calendar withCapacity(long newCapacity) {
    Calendar c = new Calendar(name, newCapacity);
    c.levels.putAll(levels);
    c.holds.putAll(holds);
    return c;
  }

  public long capacity() {
    return capacity;
  }

  /** The level at time {@code t}. */
  public long usageAt(long t) {
    Map.Entry<Long, Long> e = levels.floorEntry(t);
    return e == null ? 0 : e.getValue();
  }

  /** The highest level anywhere in {@code [from, to)}; 0 for an empty interval. */
  public long maxUsage(long from, long to) {
    if (from >= to) {
      return 0;
    }
    long max = usageAt(from);
    for (long v : levels.subMap(from, false, to, false).values()) {
      if (v > max) {
        max = v;
      }
    }
    return max;
  }

  /** Capacity minus {@link #maxUsage}: what one more hold over {@code [from, to)} may take. */
  public long free(long from, long to) {
    return capacity - maxUsage(from, to);
  }

  /** Whether {@code amount} more fits over the whole of {@code [from, to)}. */
  public boolean fits(long from, long to, long amount) {
    return firstOver(from, to, capacity - amount) == NONE;
  }

  /** The earliest time in {@code [from, to)} where the level exceeds {@code limit}, or NONE. */
  public long firstOver(long from, long to, long limit) {
    if (from >= to) {
      return NONE;
    }
    if (usageAt(from) > limit) {
      return from;
    }
    for (Map.Entry<Long, Long> e : levels.subMap(from, false, to, false).entrySet()) {
      if (e.getValue() > limit) {
        return e.getKey();
      }
    }
    return NONE;
  }

  /**
   * The earliest change point after {@code t} where the level is at most {@code limit}, or NONE.
   * When the level at {@code t} is above the limit, no interval starting in {@code (t, answer)}
   * can stay within it: the co-allocator uses this to skip candidate starts.
   */
  public long nextAtOrBelow(long t, long limit) {
    for (Map.Entry<Long, Long> e : levels.tailMap(t, false).entrySet()) {
      if (e.getValue() <= limit) {
        return e.getKey();
      }
    }
    return NONE;
  }

  /** The earliest change point after {@code t} where the level drops (a hold ends), or NONE. */
  public long nextDecreaseAfter(long t) {
    long prev = usageAt(t);
    for (Map.Entry<Long, Long> e : levels.tailMap(t, false).entrySet()) {
      if (e.getValue() < prev) {
        return e.getKey();
      }
      prev = e.getValue();
    }
    return NONE;
  }

  /**
   * Holds {@code amount} over {@code [from, to)} under {@code holdId}. The caller checks
   * {@link #fits} first; a hold that would exceed the capacity is a bug and throws
   * {@link IllegalStateException}, leaving the calendar unchanged. A reused id throws
   * {@link IllegalArgumentException}.
   */
  public void add(String holdId, long from, long to, long amount) {
    if (from >= to || amount <= 0) {
      throw new IllegalArgumentException(
          name + ": hold " + holdId + " needs from < to and amount > 0, got [" + from + ", " + to
              + ") x " + amount);
    }
    if (holds.containsKey(holdId)) {
      throw new IllegalArgumentException(name + ": hold " + holdId + " already exists");
    }
    if (!fits(from, to, amount)) {
      throw new IllegalStateException(
          name + ": hold " + holdId + " of " + amount + " over [" + from + ", " + to
              + ") exceeds capacity " + capacity + " (free " + free(from, to) + ")");
    }
    shift(from, to, amount);
    holds.put(holdId, new Hold(from, to, amount));
  }

  /** Frees exactly what {@code holdId} held. Returns false (and does nothing) for an unknown id. */
  public boolean remove(String holdId) {
    Hold h = holds.remove(holdId);
    if (h == null) {
      return false;
    }
    shift(h.from, h.to, -h.amount);
    return true;
  }

  public boolean holds(String holdId) {
    return holds.containsKey(holdId);
  }

  public int holdCount() {
    return holds.size();
  }

  /** A copy of the step function (change point to level), for tests and diagnostics. */
  public NavigableMap<Long, Long> steps() {
    return Collections.unmodifiableNavigableMap(new TreeMap<>(levels));
  }

  private void shift(long from, long to, long delta) {
    // Pin the level at both ends before changing the inside, then drop points made redundant.
    levels.putIfAbsent(to, usageAt(to));
    levels.putIfAbsent(from, usageAt(from));
    for (Map.Entry<Long, Long> e : levels.subMap(from, true, to, false).entrySet()) {
      e.setValue(e.getValue() + delta);
    }
    dropIfRedundant(from);
    dropIfRedundant(to);
  }

  private void dropIfRedundant(long t) {
    Long v = levels.get(t);
    if (v == null) {
      return;
    }
    Map.Entry<Long, Long> before = levels.lowerEntry(t);
    long prev = before == null ? 0 : before.getValue();
    if (prev == v) {
      levels.remove(t);
    }
  }

  @Override
  public String toString() {
    return name + " (capacity " + capacity + ", " + holds.size() + " holds)";
  }
}
