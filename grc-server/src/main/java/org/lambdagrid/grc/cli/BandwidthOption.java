package org.lambdagrid.grc.cli;

import java.util.OptionalLong;
import org.lambdagrid.common.Quantities;
import picocli.CommandLine.Option;

/**
 * {@code --bandwidth RATE}: bandwidth between the sites (200M, 1.5G, ...; see
 * {@link Quantities#parseRate}). The command words its help in its resource bundle (key
 * {@code bandwidth}). A bad value is a {@link UserError} naming the option and the value.
 */
final class BandwidthOption {
  @Option(names = "--bandwidth", paramLabel = "RATE", descriptionKey = "bandwidth")
  String bandwidth;

  /** Whether the option was given. */
  boolean given() {
    return bandwidth != null;
  }

  /** Bits per second; empty when not given. */
  OptionalLong bps() {
    try {
      return bandwidth == null ? OptionalLong.empty()
          : OptionalLong.of(Quantities.parseRate(bandwidth));
    } catch (IllegalArgumentException e) {
      throw new UserError("--bandwidth: " + e.getMessage(), 2);
    }
  }
}
