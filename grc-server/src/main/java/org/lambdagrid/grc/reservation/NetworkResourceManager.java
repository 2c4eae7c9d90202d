package org.lambdagrid.grc.reservation;

import java.util.OptionalLong;

/**
 * A resource manager for inter-site bandwidth. The GRC ships {@link CalendarNetworkResourceManager}
 * over its own link calendars; an optical-path or NSI circuit provider plugs in here, taking
 * {@link Ask.Bandwidth} asks (site pairs and bit/s) in {@link #prepare}.
 */
public interface NetworkResourceManager extends ResourceManager {
  /**
   * The most bit/s this provider could ever carry between two sites when idle, or empty when it
   * cannot join them; the GRC uses it to refuse impossible requests before any prepare.
   */
  OptionalLong maxBandwidth(String siteA, String siteB);
}
