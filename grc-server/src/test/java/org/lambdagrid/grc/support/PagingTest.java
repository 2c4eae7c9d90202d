package org.lambdagrid.grc.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.Predicate;
import org.lambdagrid.common.Errors;
import org.junit.jupiter.api.Test;

class PagingTest {
  private static final Instant T0 = Instant.parse("2026-12-01T00:00:00Z");

  record Rec(String id, Instant createdAt, String user, String clientToken)
      implements StoredRecord {}

  private final InMemoryRecords<Rec> store = new InMemoryRecords<>("thing");
  private final Random random = new Random(7);

  private Rec add(Instant createdAt, String user) {
    String id;
    do {
      id = String.format("r-%08x", random.nextInt() & 0x7fffffff);
    } while (store.contains(id));
    Rec r = new Rec(id, createdAt, user, "");
    store.add(r);
    return r;
  }

  private Paging.Page<String> page(String query, int size, String token, Predicate<Rec> filter) {
    return Paging.page(store, query, size, token, filter, Rec::id);
  }

  /** Every page from the first, following the tokens; {@code between} runs before each next. */
  private List<String> all(String query, int size, Predicate<Rec> filter, Runnable between) {
    List<String> out = new ArrayList<>();
    String token = "";
    do {
      Paging.Page<String> p = page(query, size, token, filter);
      assertThat(p.items().size()).isLessThanOrEqualTo(size);
      out.addAll(p.items());
      token = p.nextPageToken();
      between.run();
    } while (!token.isEmpty());
    return out;
  }

  @Test
  void pagesFollowTheListOrderAndTheLastPageHasNoToken() {
    for (int i = 0; i < 21; i++) {
      add(T0.plusSeconds(i % 5), "alice");   // equal createdAt: ordered by id
    }
    List<String> expected = store.list().stream().map(Rec::id).toList();
    assertThat(all("q", 7, r -> true, () -> { })).containsExactlyElementsOf(expected);
    // 21 = 3 full pages: the third says it is the last, no empty fourth page.
    Paging.Page<String> first = page("q", 7, "", r -> true);
    Paging.Page<String> second = page("q", 7, first.nextPageToken(), r -> true);
    Paging.Page<String> third = page("q", 7, second.nextPageToken(), r -> true);
    assertThat(third.items()).hasSize(7);
    assertThat(third.nextPageToken()).isEmpty();
    assertThat(page("q", 0, "", r -> true).items()).as("default 500").hasSize(21);
  }

  @Test
  void everyRecordThatExistsThroughoutIsOnExactlyOnePageWhateverIsAddedBetweenPages() {
    for (int i = 0; i < 60; i++) {
      add(T0.plusSeconds(random.nextInt(20)), "alice");
    }
    Set<String> before = new HashSet<>(store.list().stream().map(Rec::id).toList());
    int[] step = {0};
    List<String> listed = all("q", 7, r -> true, () -> {
      // newer than all (as every new record is), as old as some, older than all
      add(T0.plusSeconds(100 + step[0]), "alice");
      add(T0.plusSeconds(random.nextInt(20)), "alice");
      add(T0.minusSeconds(1 + step[0]++), "alice");
    });
    assertThat(listed).doesNotHaveDuplicates().containsAll(before);
    assertThat(step[0]).isGreaterThanOrEqualTo(9);
    // And in list order: each record's position after the previous one's.
    List<Paging.Position> positions = listed.stream()
        .map(id -> Paging.Position.of(store.get(id).orElseThrow())).toList();
    assertThat(positions).isSorted();
  }

  @Test
  void theFilterHoldsOnEveryPage() {
    for (int i = 0; i < 40; i++) {
      add(T0.plusSeconds(i), i % 3 == 0 ? "alice" : "bob");
    }
    List<String> alices = store.list().stream().filter(r -> r.user().equals("alice"))
        .map(Rec::id).toList();
    assertThat(alices).hasSize(14);
    assertThat(all("user=alice", 4, r -> r.user().equals("alice"), () -> { }))
        .containsExactlyElementsOf(alices);
  }

  @Test
  void aPageSizeOutsideOneToAThousandIsRefusedNamingItAndTheValue() {
    add(T0, "alice");
    assertThat(page("q", 1000, "", r -> true).items()).hasSize(1);
    assertThat(page("q", 1, "", r -> true).items()).hasSize(1);
    for (int bad : new int[] {1001, -1, Integer.MIN_VALUE}) {
      assertInvalid("page_size: '" + bad + "' must be between 1 and 1000 (0 = 500)",
          () -> page("q", bad, "", r -> true));
    }
  }

  @Test
  void aTokenOfAnotherQueryOrAlteredOrMalformedIsRefusedNamingPageToken() {
    for (int i = 0; i < 5; i++) {
      add(T0.plusSeconds(i), "alice");
    }
    String token = page("user=alice", 2, "", r -> true).nextPageToken();
    assertThat(token).isNotEmpty();
    assertThat(page("user=alice", 2, token, r -> true).items()).hasSize(2);
    String text = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
    String altered = Base64.getUrlEncoder().withoutPadding().encodeToString(
        text.replaceFirst("r-", "r-0").getBytes(StandardCharsets.UTF_8));
    for (String bad : List.of("x", "%%%", "bm90IGEgdG9rZW4", altered,
        token.substring(0, token.length() - 2))) {
      assertInvalid("page_token: '" + bad + "' is not a next_page_token this list returned",
          () -> page("user=alice", 2, bad, r -> true));
    }
    assertInvalid("page_token: '" + token + "'", () -> page("user=bob", 2, token, r -> true));
    String huge = "A".repeat(5000);
    assertInvalid("page_token: '" + "A".repeat(80) + "...'",
        () -> page("user=alice", 2, huge, r -> true));
  }

  private static void assertInvalid(String message, Runnable call) {
    assertThatExceptionOfType(Errors.RequestException.class).isThrownBy(call::run)
        .satisfies(e -> {
          assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(e.getMessage()).startsWith(message);
        });
  }
}
