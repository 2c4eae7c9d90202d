package org.lambdagrid.common.reservation;

/** An unordered pair of sites, stored in name order so that equal pairs are equal. */
public record SitePair(String a, String b) implements Comparable<SitePair> {
  public SitePair {
    if (a.compareTo(b) > 0) {
      throw new IllegalArgumentException("use SitePair.of: '" + a + "' > '" + b + "'");
    }
  }

  public static SitePair of(String x, String y) {
    return x.compareTo(y) <= 0 ? new SitePair(x, y) : new SitePair(y, x);
  }

  @Override
  public int compareTo(SitePair o) {
    int c = a.compareTo(o.a);
    return c != 0 ? c : b.compareTo(o.b);
  }

  @Override
  public String toString() {
    return a + "-" + b;
  }
}
