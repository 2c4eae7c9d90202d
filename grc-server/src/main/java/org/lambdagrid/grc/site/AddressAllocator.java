package org.lambdagrid.grc.site;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;

/**
 * Leases each site of a reservation an address sub-range, keyed by reservation id (a job's
 * addresses are its reservation's).
 *
 * <p>For a reservation asking n_s nodes on site s, site s gets the smallest aligned block holding
 * n_s usable hosts ({@link Ipv4Cidr#prefixForHosts}) from s's published ranges, disjoint from
 * every sub-range any live lease holds on any site. Sites may publish the same pool, and a
 * block is still never leased twice at once: reservations without bandwidth have no segment of
 * their own, and their guests share the sites' joined bridges, where two guests with one address
 * would answer each other's ARP. The reservation's own sites thereby get disjoint blocks too, so
 * its guests reach each other with on-link routes alone. Allocation is all or nothing and
 * first-fit in address order (sites with the largest block first, ties by name, so big blocks
 * are not fragmented by small ones).
 *
 * <p>Durability: every lease and release is written to the {@link Ledger} (under this
 * allocator's lock, before the method returns), so a restarted GRC {@link #restore}s exactly the
 * blocks that were leased and never hands one out twice.
 *
 * <p>Thread-safe: every method locks this allocator. Leases live until {@link #release}.
 */
public final class AddressAllocator implements SiteRegistry.LeaseView {
  /**
   * Where leases are recorded durably. Each method must have committed when it returns; if it
   * throws, the allocator's memory is left unchanged and the exception reaches the caller.
   */
  public interface Ledger {
    Ledger NONE = new Ledger() {
      @Override
      public void leased(String reservationId, Map<String, Ipv4Cidr> blocks) { }

      @Override
      public void released(String reservationId) { }
    };

    void leased(String reservationId, Map<String, Ipv4Cidr> blocks);

    void released(String reservationId);
  }

  /** reservation id -> site -> leased block. */
  private final Map<String, Map<String, Ipv4Cidr>> leases = new LinkedHashMap<>();
  /**
   * Every leased block by its first address (blocks are disjoint, so starts are unique): a free
   * block is found in O(blocks in the range x log) instead of testing every lease of every site
   * at every step (issue 20: with 10,000 live reservations that was most of a decision).
   */
  private final java.util.NavigableMap<Long, Ipv4Cidr> byStart = new TreeMap<>();
  private final Ledger ledger;

  /** Leases in memory only. */
  public AddressAllocator() {
    this(Ledger.NONE);
  }

  public AddressAllocator(Ledger ledger) {
    this.ledger = ledger;
  }

  /** Puts back a lease read from the ledger at start-up (not written again). */
  public synchronized void restore(String reservationId, Map<String, Ipv4Cidr> blocks) {
    leases.put(reservationId, new HashMap<>(blocks));
    // (two blocks with one start cannot come from this allocator; keep the larger one)
    blocks.values().forEach(b -> byStart.merge(b.network(), b,
        (x, y) -> x.prefixLength() <= y.prefixLength() ? x : y));
  }

  /**
   * Leases sub-ranges for a reservation; all or nothing. Idempotent per id: a repeat returns the
   * existing leases.
   *
   * @param siteNodes the reservation's sites with their node counts (each >= 1)
   * @return site name -> block, sorted by site name
   * @throws Errors.RequestException FAILED_PRECONDITION naming the site, the block size and the
   *     site's ranges when no free block is left
   */
  public synchronized Map<String, Ipv4Cidr> allocate(String reservationId,
      Map<Site, Integer> siteNodes) {
    Map<String, Ipv4Cidr> existing = leases.get(reservationId);
    if (existing != null) {
      return new TreeMap<>(existing);
    }
    List<Map.Entry<Site, Integer>> order = new ArrayList<>(siteNodes.entrySet());
    order.sort(Comparator.<Map.Entry<Site, Integer>>comparingInt(e -> -e.getValue())
        .thenComparing(e -> e.getKey().name()));
    Map<String, Ipv4Cidr> mine = new TreeMap<>();
    try {
      for (Map.Entry<Site, Integer> e : order) {
        Site site = e.getKey();
        int prefix = Ipv4Cidr.prefixForHosts(e.getValue());
        Ipv4Cidr block = null;
        for (Ipv4Cidr range : site.ranges()) {
          block = firstFree(range, prefix);
          if (block != null) {
            break;
          }
        }
        if (block == null) {
          String ranges = site.ranges().stream().map(Object::toString)
              .collect(Collectors.joining(", "));
          long leased = byStart.values().stream()
              .filter(t -> site.ranges().stream().anyMatch(r -> r.overlaps(t))).count();
          throw Errors.precondition("site '" + site.name() + "' has no free /" + prefix + " in "
              + ranges + " (" + leased + (leased == 1 ? " block" : " blocks") + " leased)");
        }
        byStart.put(block.network(), block); // taken for this reservation's next sites too
        mine.put(site.name(), block);
      }
      ledger.leased(reservationId, mine);
    } catch (RuntimeException e) {
      mine.values().forEach(b -> byStart.remove(b.network(), b));
      throw e;
    }
    leases.put(reservationId, new HashMap<>(mine));
    return mine;
  }

  /**
   * First aligned /prefix block inside range that overlaps no leased block, or null. Walks the
   * leased blocks of the range in address order, from the range's start, past each one that
   * overlaps the candidate (leased blocks are disjoint CIDR blocks, so besides those starting
   * inside the range only the one starting last before it can reach into it).
   */
  private Ipv4Cidr firstFree(Ipv4Cidr range, int prefix) {
    if (prefix < range.prefixLength()) {
      return null;
    }
    long size = 1L << (32 - prefix);
    long reach = range.network(); // everything below is covered by a leased block or outside
    Map.Entry<Long, Ipv4Cidr> before = byStart.lowerEntry(range.network());
    if (before != null) {
      reach = Math.max(reach, before.getValue().lastAddress() + 1);
    }
    long a = align(reach, size);
    for (Ipv4Cidr t : byStart.subMap(range.network(), true, range.lastAddress(), true).values()) {
      if (a + size - 1 > range.lastAddress()) {
        return null;
      }
      if (t.network() > a + size - 1) {
        break; // the candidate ends before this block: free
      }
      reach = Math.max(reach, t.lastAddress() + 1);
      a = Math.max(a, align(reach, size));
    }
    return a + size - 1 <= range.lastAddress() ? new Ipv4Cidr(a, prefix) : null;
  }

  private static long align(long address, long size) {
    return (address + size - 1) / size * size;
  }

  /** Frees exactly this reservation's leases. Idempotent. */
  public synchronized void release(String reservationId) {
    if (leases.containsKey(reservationId)) {
      ledger.released(reservationId);
      leases.remove(reservationId).values().forEach(b -> byStart.remove(b.network(), b));
    }
  }

  /** This reservation's leases (site -> block, sorted), empty if none. */
  public synchronized Map<String, Ipv4Cidr> leasesOf(String reservationId) {
    Map<String, Ipv4Cidr> m = leases.get(reservationId);
    return m == null ? Map.of() : new TreeMap<>(m);
  }

  /** Whether this reservation id holds leases now. */
  public synchronized boolean holds(String reservationId) {
    return leases.containsKey(reservationId);
  }

  /** Reservation ids that hold leases now. */
  public synchronized List<String> holders() {
    return List.copyOf(leases.keySet());
  }

  @Override
  public synchronized List<Ipv4Cidr> leasedOn(String site) {
    List<Ipv4Cidr> out = new ArrayList<>();
    for (Map<String, Ipv4Cidr> held : leases.values()) {
      Ipv4Cidr b = held.get(site);
      if (b != null) {
        out.add(b);
      }
    }
    return out;
  }
}
