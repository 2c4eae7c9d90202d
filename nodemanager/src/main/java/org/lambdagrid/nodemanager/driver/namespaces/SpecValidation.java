package org.lambdagrid.nodemanager.driver.namespaces;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * The checks SETUP passes before anything is built: the spec's fields, the bridge it asks for,
 * and its user. Each failure is a {@link GuestException} saying what is wrong.
 */
final class SpecValidation {
  private SpecValidation() {}

  private static final String LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
  private static final Pattern HOSTNAME = Pattern.compile(LABEL + "(\\." + LABEL + ")*");

  /** The spec's own fields; pure. Names every bad field in one message. */
  static void validate(GuestSpec spec) throws GuestException {
    List<String> errors = new ArrayList<>();
    if (spec.hostname() == null || spec.hostname().length() > 63
        || !HOSTNAME.matcher(spec.hostname()).matches()) {
      errors.add("hostname '" + spec.hostname() + "' is not a valid host name (at most 63"
          + " characters)");
    }
    if (!Ipv4Cidr.isAddress(spec.address())) {
      errors.add("address '" + spec.address() + "' is not an IPv4 address");
    }
    if (spec.prefixLength() < 1 || spec.prefixLength() > 32) {
      errors.add("prefix length " + spec.prefixLength() + " is not in 1..32");
    }
    for (String route : spec.routes()) {
      String[] parts = route.split("/", -1);
      boolean ok = parts.length == 2 && Ipv4Cidr.isAddress(parts[0])
          && parts[1].matches("\\d{1,2}") && Integer.parseInt(parts[1]) <= 32;
      if (!ok) {
        errors.add("route '" + route + "' is not an IPv4 CIDR block");
      }
    }
    if (!spec.bridge().isEmpty() && !NamespacesDriverConfig.IFNAME.matcher(spec.bridge()).matches()) {
      errors.add("bridge '" + spec.bridge() + "' is not an interface name (1-15 of A-Z a-z 0-9"
          + " _ . -)");
    }
    if (!errors.isEmpty()) {
      throw new GuestException("invalid guest spec: " + String.join("; ", errors));
    }
  }

  /**
   * The bridge the guest's veth joins: the reservation's from SETUP, else namespaces.bridge;
   * null when this node attaches guests by macvlan, which cannot take a reservation's bridge. A
   * bridge given in SETUP must exist and be a bridge; the driver never creates one.
   */
  static String bridgeFor(NamespacesDriverConfig config, GuestSpec spec) throws GuestException {
    if (config.attachment() != NamespacesDriverConfig.Attachment.BRIDGE) {
      if (!spec.bridge().isEmpty()) {
        throw new GuestException("this node attaches guests by macvlan (namespaces.attachment);"
            + " it cannot attach to the reservation's bridge '" + spec.bridge() + "'");
      }
      return null;
    }
    if (spec.bridge().isEmpty()) {
      return config.bridge();
    }
    Path br = Path.of("/sys/class/net", spec.bridge());
    if (!Files.exists(br)) {
      throw new GuestException("bridge '" + spec.bridge() + "' (the reservation's, from SETUP)"
          + " does not exist on this host");
    }
    if (!Files.isDirectory(br.resolve("bridge"))) {
      throw new GuestException("interface '" + spec.bridge() + "' (the reservation's, from"
          + " SETUP) is not a bridge");
    }
    return spec.bridge();
  }

  /** The spec's user: exists, not root, password field not locked, home directory there. */
  static GuestUser userFor(GuestSpec spec) throws GuestException {
    GuestUser user = GuestUser.lookup(spec.user());
    GuestUser.checkNotLocked(spec.user());
    if (!Files.isDirectory(user.home())) {
      throw new GuestException("home directory " + user.home() + " of user '" + user.name()
          + "' does not exist; the guest shares it with the host");
    }
    return user;
  }
}
