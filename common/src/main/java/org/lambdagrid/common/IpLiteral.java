package org.lambdagrid.common;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * IP address literals, read as text and never looked up. ({@link InetAddress#getByName} resolves
 * whatever it cannot parse, so a malformed literal such as {@code 999.1.1.1} would go to DNS.)
 * IPv4 is a dotted quad of decimal octets 0..255 without leading zeros (which tools read as
 * octal or decimal); IPv6 is RFC 4291 text ({@code ::} once, an optional trailing dotted quad),
 * without brackets or a zone.
 */
public final class IpLiteral {
  private IpLiteral() {}

  /**
   * Whether {@code text} is meant as an address rather than a DNS name: only digits and dots
   * (no host name is all digits), or any ':' (no host name has one).
   */
  public static boolean looksLikeOne(String text) {
    return text != null && !text.isEmpty() && (text.matches("[0-9.]+") || text.contains(":"));
  }

  /** Whether {@code text} is an IPv4 or IPv6 literal, as {@link #parse} takes. */
  public static boolean isOne(String text) {
    return tryParse(text) != null;
  }

  /**
   * The address {@code text} spells: an Inet4Address, or an Inet6Address (an IPv4-mapped one
   * comes back as its Inet4Address, as {@code InetAddress} does).
   *
   * @throws IllegalArgumentException quoting {@code text}, if it is not a literal
   */
  public static InetAddress parse(String text) {
    InetAddress a = tryParse(text);
    if (a == null) {
      throw new IllegalArgumentException("'" + text + "' is not an "
          + (text != null && text.contains(":") ? "IPv6 address"
              : "IPv4 address (four numbers 0..255, no leading zeros)"));
    }
    return a;
  }

  /** As {@link #parse}, but null for anything that is not a literal. */
  public static InetAddress tryParse(String text) {
    byte[] b = text == null ? null : text.contains(":") ? v6(text) : v4(text);
    if (b == null) {
      return null;
    }
    try {
      return InetAddress.getByAddress(b); // from bytes: no lookup
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e); // only for a length other than 4 or 16
    }
  }

  /** The same dotted quad {@link Ipv4Cidr#isAddress} takes (canonical: no leading zeros). */
  private static byte[] v4(String text) {
    if (!Ipv4Cidr.isAddress(text)) {
      return null;
    }
    long a = Ipv4Cidr.parseAddress(text);
    return new byte[] {(byte) (a >> 24), (byte) (a >> 16), (byte) (a >> 8), (byte) a};
  }

  private static byte[] v6(String text) {
    if (!text.matches("[0-9A-Fa-f:.]+")) {
      return null;
    }
    int gap = text.indexOf("::");
    if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) {
      return null;
    }
    byte[] head = groups(gap < 0 ? text : text.substring(0, gap), gap < 0);
    byte[] tail = gap < 0 ? new byte[0] : groups(text.substring(gap + 2), true);
    if (head == null || tail == null
        || (gap < 0 ? head.length != 16 : head.length + tail.length > 14)) {
      return null;
    }
    byte[] b = new byte[16];
    System.arraycopy(head, 0, b, 0, head.length);
    System.arraycopy(tail, 0, b, 16 - tail.length, tail.length);
    return b;
  }

  /** The bytes of ':'-separated hex groups; the last may be a dotted quad if {@code last}. */
  private static byte[] groups(String part, boolean last) {
    if (part.isEmpty()) {
      return new byte[0];
    }
    String[] g = part.split(":", -1);
    byte[] quad = null;
    if (last && g[g.length - 1].contains(".")) {
      quad = v4(g[g.length - 1]);
      if (quad == null) {
        return null;
      }
    }
    int n = quad == null ? g.length : g.length - 1;
    if (n > 8) {
      return null;
    }
    byte[] b = new byte[2 * n + (quad == null ? 0 : 4)];
    for (int i = 0; i < n; i++) {
      if (!g[i].matches("[0-9A-Fa-f]{1,4}")) {
        return null;
      }
      int v = Integer.parseInt(g[i], 16);
      b[2 * i] = (byte) (v >> 8);
      b[2 * i + 1] = (byte) v;
    }
    if (quad != null) {
      System.arraycopy(quad, 0, b, 2 * n, 4);
    }
    return b;
  }
}
