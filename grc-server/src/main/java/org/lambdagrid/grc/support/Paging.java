package org.lambdagrid.grc.support;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.zip.CRC32;
import org.lambdagrid.common.Errors;

/**
 * Pages of a {@link RecordStore}'s list (ListReservations, ListJobs), in its order: newest
 * first, then by id. A page resumes after the last record the previous page returned (its
 * position, not its index), so a record that exists throughout a listing is on exactly one
 * page, however many records are added between pages or change state; records added meanwhile
 * before that position (every new one, whose {@code createdAt} is now) are not listed. A record
 * whose state changes between pages is shown, or filtered out, as it is when its page is read.
 *
 * <p>The page token is opaque to clients: it holds that position and a checksum of the list's
 * query (which list, which user, which filters), so a token of another list or query, or one
 * altered, is refused (INVALID_ARGUMENT naming {@code page_token}). It grants nothing: the
 * caller's own filters still decide what is listed.
 */
public final class Paging {
  /** The page size when a request gives 0. */
  public static final int DEFAULT_PAGE_SIZE = 500;
  /** The largest page size a request may ask for. */
  public static final int MAX_PAGE_SIZE = 1000;

  private static final String VERSION = "1";
  /** The longest token quoted back in an error. */
  private static final int QUOTED = 80;

  private Paging() {}

  /** One page, and the token of the next ("" when this is the last). */
  public record Page<T>(List<T> items, String nextPageToken) {}

  /** A position in a store's list: the key it is sorted by (immutable in every record). */
  public record Position(Instant createdAt, String id) implements Comparable<Position> {
    public static Position of(StoredRecord r) {
      return new Position(r.createdAt(), r.id());
    }

    /** The store's list order: newest first, then by id. */
    @Override
    public int compareTo(Position o) {
      int c = o.createdAt.compareTo(createdAt);
      return c != 0 ? c : id.compareTo(o.id);
    }
  }

  /**
   * One page of the records {@code filter} keeps, converted.
   *
   * @param query what the list is and asks (e.g. "reservations user=alice finished=true"); a
   *     token is accepted only with the query it was returned for
   * @param pageSize 0 = {@link #DEFAULT_PAGE_SIZE}; 1 to {@link #MAX_PAGE_SIZE}; otherwise
   *     INVALID_ARGUMENT naming {@code page_size}
   * @param pageToken "" = the first page; otherwise a {@link Page#nextPageToken} of this query
   */
  public static <R extends StoredRecord, T> Page<T> page(RecordStore<R> store, String query,
      int pageSize, String pageToken, Predicate<? super R> filter,
      Function<? super R, T> convert) {
    int size = pageSize(pageSize);
    Position after = pageToken.isEmpty() ? null : decode(query, pageToken);
    // One more than the page, to know whether another page follows.
    List<R> found = store.page(after, size + 1, filter);
    boolean more = found.size() > size;
    List<R> page = more ? found.subList(0, size) : found;
    return new Page<>(page.stream().<T>map(convert).toList(),
        more ? encode(query, Position.of(page.get(size - 1))) : "");
  }

  /** The page size asked for, checked; 0 = the default. */
  public static int pageSize(int asked) {
    if (asked < 0 || asked > MAX_PAGE_SIZE) {
      throw Errors.invalid("page_size", asked, "must be between 1 and " + MAX_PAGE_SIZE
          + " (0 = " + DEFAULT_PAGE_SIZE + ")");
    }
    return asked == 0 ? DEFAULT_PAGE_SIZE : asked;
  }

  static String encode(String query, Position p) {
    String body = p.createdAt().getEpochSecond() + "." + p.createdAt().getNano() + "." + p.id();
    String text = VERSION + "." + checksum(query, body) + "." + body;
    return Base64.getUrlEncoder().withoutPadding()
        .encodeToString(text.getBytes(StandardCharsets.UTF_8));
  }

  static Position decode(String query, String token) {
    String text;
    try {
      text = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw badToken(token);
    }
    // VERSION.checksum.seconds.nanos.id
    String[] f = text.split("\\.", 5);
    if (f.length != 5 || !f[0].equals(VERSION)
        || !f[1].equals(checksum(query, f[2] + "." + f[3] + "." + f[4]))) {
      throw badToken(token);
    }
    try {
      return new Position(Instant.ofEpochSecond(Long.parseLong(f[2]), Long.parseLong(f[3])),
          f[4]);
    } catch (RuntimeException e) {
      throw badToken(token);
    }
  }

  private static String checksum(String query, String body) {
    CRC32 crc = new CRC32();
    crc.update((query + "\n" + body).getBytes(StandardCharsets.UTF_8));
    return Long.toHexString(crc.getValue());
  }

  private static Errors.RequestException badToken(String token) {
    String quoted = token.length() > QUOTED ? token.substring(0, QUOTED) + "..." : token;
    return Errors.invalid("page_token", quoted, "is not a next_page_token this list returned"
        + " for the same user and filters (start again with an empty page_token)");
  }
}
