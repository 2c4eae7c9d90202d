package org.lambdagrid.common;

import java.util.ArrayList;
import java.util.List;

/**
 * An IPv4 block in CIDR notation. Immutable; the network address is normalised on parse
 * ({@code 10.1.2.3/16} is rejected, because a host address with a prefix is almost always a
 * typo for something else).
 */
public record Ipv4Cidr(long network, int prefixLength) implements Comparable<Ipv4Cidr> {

  public Ipv4Cidr {
    if (prefixLength < 0 || prefixLength > 32) {
      throw new IllegalArgumentException("prefix length " + prefixLength + " is not in 0..32");
    }
    if ((network & ~mask(prefixLength) & 0xffffffffL) != 0) {
      throw new IllegalArgumentException(
          "'" + formatAddress(network) + "/" + prefixLength + "' has host bits set");
    }
  }

  /** Parses "a.b.c.d/n". The message of the exception quotes the input and says what is wrong. */
  public static Ipv4Cidr parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("'' is not a CIDR block (expected a.b.c.d/n)");
    }
    int slash = text.indexOf('/');
    if (slash < 0) {
      throw new IllegalArgumentException("'" + text + "' is not a CIDR block (expected a.b.c.d/n)");
    }
    long address;
    int prefix;
    try {
      address = parseAddress(text.substring(0, slash));
      prefix = Integer.parseInt(text.substring(slash + 1));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("'" + text + "' is not a CIDR block (expected a.b.c.d/n)");
    }
    if (prefix < 0 || prefix > 32) {
      throw new IllegalArgumentException("'" + text + "' is not a CIDR block: prefix must be 0..32");
    }
    if ((address & ~mask(prefix) & 0xffffffffL) != 0) {
      throw new IllegalArgumentException("'" + text + "' is not a CIDR block: host bits are set"
          + " (did you mean " + formatAddress(address & mask(prefix)) + "/" + prefix + "?)");
    }
    return new Ipv4Cidr(address, prefix);
  }

  /** Whether text is a dotted-quad IPv4 address in its canonical form (no leading zeros). */
  public static boolean isAddress(String text) {
    try {
      return text != null && formatAddress(parseAddress(text)).equals(text);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** Parses a dotted-quad IPv4 address into an unsigned 32-bit value. */
  public static long parseAddress(String text) {
    String[] parts = text.split("\\.", -1);
    if (parts.length != 4) {
      throw new IllegalArgumentException("'" + text + "' is not an IPv4 address");
    }
    long value = 0;
    for (String part : parts) {
      if (part.isEmpty() || part.length() > 3 || !part.chars().allMatch(Character::isDigit)) {
        throw new IllegalArgumentException("'" + text + "' is not an IPv4 address");
      }
      int octet = Integer.parseInt(part);
      if (octet > 255) {
        throw new IllegalArgumentException("'" + text + "' is not an IPv4 address");
      }
      value = (value << 8) | octet;
    }
    return value;
  }

  public static String formatAddress(long address) {
    return ((address >> 24) & 255) + "." + ((address >> 16) & 255) + "." + ((address >> 8) & 255)
        + "." + (address & 255);
  }

  private static long mask(int prefix) {
    return prefix == 0 ? 0 : (0xffffffffL << (32 - prefix)) & 0xffffffffL;
  }

  /** Number of addresses in the block, network and broadcast included. */
  public long size() {
    return 1L << (32 - prefixLength);
  }

  public long lastAddress() {
    return network + size() - 1;
  }

  public boolean contains(Ipv4Cidr other) {
    return other.prefixLength >= prefixLength && other.network >= network
        && other.lastAddress() <= lastAddress();
  }

  public boolean containsAddress(long address) {
    return address >= network && address <= lastAddress();
  }

  public boolean overlaps(Ipv4Cidr other) {
    return network <= other.lastAddress() && other.network <= lastAddress();
  }

  /**
   * The n-th usable host address (0-based), skipping the network address and, for blocks of 4 or
   * more, the broadcast address.
   *
   * @throws IllegalArgumentException if the block has fewer than {@code n + 1} usable addresses
   */
  public long hostAddress(int n) {
    long usable = usableHosts();
    if (n < 0 || n >= usable) {
      throw new IllegalArgumentException(
          this + " has " + usable + " usable addresses; address #" + (n + 1) + " was asked for");
    }
    return prefixLength >= 31 ? network + n : network + 1 + n;
  }

  /** Host addresses available to nodes: all but network and broadcast (for /31 and /32: all). */
  public long usableHosts() {
    return prefixLength >= 31 ? size() : size() - 2;
  }

  /** Splits this block into aligned sub-blocks of the given prefix length, in address order. */
  public List<Ipv4Cidr> subdivide(int subPrefix) {
    if (subPrefix < prefixLength || subPrefix > 32) {
      throw new IllegalArgumentException("cannot split " + this + " into /" + subPrefix);
    }
    List<Ipv4Cidr> out = new ArrayList<>();
    long step = 1L << (32 - subPrefix);
    for (long a = network; a <= lastAddress(); a += step) {
      out.add(new Ipv4Cidr(a, subPrefix));
    }
    return out;
  }

  /** The smallest prefix length whose blocks hold {@code hosts} usable addresses. */
  public static int prefixForHosts(int hosts) {
    for (int p = 30; p >= 0; p--) {
      if ((1L << (32 - p)) - 2 >= hosts) {
        return p;
      }
    }
    throw new IllegalArgumentException("no IPv4 block holds " + hosts + " hosts");
  }

  @Override
  public int compareTo(Ipv4Cidr o) {
    int c = Long.compare(network, o.network);
    return c != 0 ? c : Integer.compare(prefixLength, o.prefixLength);
  }

  @Override
  public String toString() {
    return formatAddress(network) + "/" + prefixLength;
  }
}
