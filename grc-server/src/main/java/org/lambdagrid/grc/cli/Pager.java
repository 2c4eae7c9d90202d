package org.lambdagrid.grc.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Follows a list RPC's pages (ListReservations, ListJobs): asks for the first page with an empty
 * token, then for each {@code next_page_token} until one is empty, and returns every item in the
 * order the pages gave them. Each page is its own call, so a deadline the caller puts on
 * {@code fetch} is per page. An error of any page is thrown as it is (nothing partial returned).
 * Used by the {@code grc} commands and the scale bench.
 */
public final class Pager {
  private Pager() {}

  /**
   * Every item of every page.
   *
   * @param fetch the page for a token ("" = the first page)
   * @param items the items of a page
   * @param nextToken the token of the page after it ("" when it is the last)
   */
  public static <P, T> List<T> all(Function<String, P> fetch, Function<P, List<T>> items,
      Function<P, String> nextToken) {
    List<T> all = new ArrayList<>();
    String token = "";
    do {
      P page = fetch.apply(token);
      all.addAll(items.apply(page));
      token = nextToken.apply(page);
    } while (!token.isEmpty());
    return all;
  }
}
