package org.lambdagrid.grc.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PagerTest {
  /** A page as a list RPC returns it. */
  record Page(List<String> items, String next) {}

  @Test
  void followsEveryNextTokenInOrderAndStopsAtTheEmptyOne() {
    Map<String, Page> pages = Map.of(
        "", new Page(List.of("a", "b"), "t1"),
        "t1", new Page(List.of("c"), "t2"),
        "t2", new Page(List.of("d", "e"), ""));
    List<String> asked = new ArrayList<>();
    List<String> all = Pager.all(token -> {
      asked.add(token);
      return pages.get(token);
    }, Page::items, Page::next);
    assertThat(all).containsExactly("a", "b", "c", "d", "e");
    assertThat(asked).containsExactly("", "t1", "t2");
  }

  @Test
  void oneEmptyPageIsAnEmptyList() {
    assertThat(Pager.all(token -> new Page(List.of(), ""), Page::items, Page::next)).isEmpty();
  }

  @Test
  void aFailingPageFailsTheWholeListing() {
    assertThatThrownBy(() -> Pager.all(token -> {
      if (token.equals("t1")) {
        throw new IllegalStateException("page t1 failed");
      }
      return new Page(List.of("a"), "t1");
    }, Page::items, Page::next)).hasMessage("page t1 failed");
  }
}
