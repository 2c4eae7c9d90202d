package org.lambdagrid.grc.reservation.testbed;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * Names of the kernel objects of one reservation's segment. Every name is
 * {@code lgn<tag><kind><index>[<end>]}, at most 15 characters (the kernel's limit):
 *
 * <pre>
 *   lgn 3fa2c1 b 0       the bridge of the segment's node 0 (a site or a transit point)
 *   lgn 3fa2c1 l 0 a     link 0, the end enslaved to the bridge of the link's first node
 *   lgn 3fa2c1 l 0 b     link 0, the end enslaved to the bridge of the link's second node
 *   lgn 3fa2c1 x 0       the VXLAN device (overlay end) of a routed segment's site 0
 * </pre>
 *
 * The tag is six hex digits of SHA-256 of the reservation id (of {@code id + "#" + n} for the
 * n-th retry when a tag is already in use), so the objects of one reservation are found from its
 * id at a glance, and everything the testbed network ever made matches {@code ^lgn}. Teardown
 * never derives names again: it uses the names recorded in the segment's state file.
 */
public final class SegmentNames {
  /** Every interface the testbed network makes starts with this. */
  public static final String PREFIX = "lgn";
  /** At most this many nodes and links per segment (three decimal digits in a name). */
  public static final int MAX_INDEX = 999;
  static final int TAG_HEX = 6;
  private static final Pattern TAG = Pattern.compile("[0-9a-f]{" + TAG_HEX + "}");

  private SegmentNames() {}

  /** The tag for {@code reservationId}; {@code attempt} 0 first, higher ones after a collision. */
  public static String tag(String reservationId, int attempt) {
    if (attempt < 0) {
      throw new IllegalArgumentException("attempt " + attempt + " is negative");
    }
    String key = attempt == 0 ? reservationId : reservationId + "#" + attempt;
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d).substring(0, TAG_HEX);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("no SHA-256 in this JVM", e);
    }
  }

  /** The first tag of {@code reservationId} (attempt 0, 1, ...) that {@code used} does not hold. */
  public static String freshTag(String reservationId, java.util.Set<String> used) {
    for (int attempt = 0; ; attempt++) {
      String t = tag(reservationId, attempt);
      if (!used.contains(t)) {
        return t;
      }
    }
  }

  /**
   * The first VNI of {@code min..max} not in {@code used}, looking from {@code min + start}
   * (wrapping around); RESOURCE_EXHAUSTED naming {@code overlay.vni_range} when all are used.
   */
  public static int freeVni(String reservationId, int min, int max, int start, java.util.Set<Integer> used) {
    int size = max - min + 1;
    for (int i = 0; i < size; i++) {
      int v = min + Math.floorMod(start + i, size);
      if (!used.contains(v)) {
        return v;
      }
    }
    throw new org.lambdagrid.common.Errors.RequestException(io.grpc.Status.Code.RESOURCE_EXHAUSTED, "network: every"
        + " VNI of overlay.vni_range " + min + "-" + max + " is in use; reservation " + reservationId
        + " cannot get one");
  }

  /** The bridge of node {@code index} of the segment tagged {@code tag}. */
  public static String bridge(String tag, int index) {
    return name(tag, "b", index, "");
  }

  /** The VXLAN device of site {@code index} of the routed segment tagged {@code tag}. */
  public static String vxlan(String tag, int index) {
    return name(tag, "x", index, "");
  }

  /** End {@code 'a'} or {@code 'b'} of link {@code index}. */
  public static String linkEnd(String tag, int index, char end) {
    if (end != 'a' && end != 'b') {
      throw new IllegalArgumentException("link end '" + end + "' is neither 'a' nor 'b'");
    }
    return name(tag, "l", index, String.valueOf(end));
  }

  /** Whether {@code device} is a name this class could have made. */
  public static boolean isOurs(String device) {
    return device != null && device.startsWith(PREFIX) && device.length() <= 15;
  }

  private static String name(String tag, String kind, int index, String suffix) {
    if (!TAG.matcher(tag).matches()) {
      throw new IllegalArgumentException("tag '" + tag + "' is not " + TAG_HEX + " lower-case hex digits");
    }
    if (index < 0 || index > MAX_INDEX) {
      throw new IllegalArgumentException("index " + index + " is outside 0.." + MAX_INDEX);
    }
    String n = PREFIX + tag + kind + index + suffix;
    if (n.length() > 15) {
      throw new IllegalStateException("interface name '" + n + "' is longer than 15 characters");
    }
    return n;
  }
}
