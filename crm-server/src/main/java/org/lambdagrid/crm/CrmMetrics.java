package org.lambdagrid.crm;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.crm.pilot.PilotHandle;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.crm.pilot.PilotStartException;
import org.lambdagrid.crm.pilot.PilotStarter;
import org.lambdagrid.crm.site.SiteShares;

/**
 * A CRM's own metrics, on top of the JVM's and the gRPC calls'
 * ({@link org.lambdagrid.common.ops.DaemonMetrics}); every one carries no label for the site
 * (one CRM serves one site; the scrape target names it).
 *
 * <pre>
 * lambdagrid_crm_site_nodes                 the node capacity last registered with the GRC
 *                                           (node_capacity, or fewer when the batch system has
 *                                           fewer usable nodes); no sample before the first
 * lambdagrid_crm_site_nodes_reserved        nodes live holds take now
 * lambdagrid_crm_holds_total{state}         holds that entered PREPARED / COMMITTED / ABORTED /
 *                                           EXPIRED / RELEASED since the CRM started
 * lambdagrid_crm_shares                     job shares open now
 * lambdagrid_crm_nodes{state}               their nodes by state (LAUNCHING ... STOPPED, LOST)
 * lambdagrid_crm_pilots_started_total       pilots the starter started
 * lambdagrid_crm_pilot_start_failures_total pilots it could not start
 * lambdagrid_crm_overlay_records_lost       live holds of a routed site prepared with an overlay
 *                                           end whose record was missing at start (0 if not
 *                                           routed); a committed one needs `grc cancel`, a
 *                                           prepared one ends with its hold time
 * </pre>
 */
public final class CrmMetrics {
  private CrmMetrics() {}

  /**
   * Registers the CRM's gauges over {@code shares}; returns {@code starter} wrapped so that it
   * counts the pilots it starts.
   *
   * @param registered the node capacity last registered with the GRC, negative before the first
   *     registration
   * @param overlayRecordsLost see {@code SiteOverlay.recordsLostAtStart} (0 when not routed)
   */
  public static PilotStarter register(PrometheusRegistry registry, Clock clock,
      java.util.function.IntSupplier registered, java.util.function.Supplier<SiteShares> shares,
      java.util.function.IntSupplier overlayRecordsLost, PilotStarter starter) {
    GaugeWithCallback.builder().name("lambdagrid_crm_site_nodes")
        .help("The node capacity the site last registered with the GRC")
        .callback(cb -> {
          int n = registered.getAsInt();
          if (n >= 0) {
            cb.call(n);
          }
        }).register(registry);
    GaugeWithCallback.builder().name("lambdagrid_crm_site_nodes_reserved")
        .help("Nodes that prepared or committed reservations hold now")
        .callback(cb -> cb.call(shares.get().reservations().nodesHeldAt(clock.instant())))
        .register(registry);
    CounterWithCallback.builder().name("lambdagrid_crm_holds_total")
        .help("Reservation holds that entered each state since the CRM started")
        .labelNames("state")
        .callback(cb -> {
          var seen = shares.get().reservations().holdOutcomes();
          for (HoldTable.State st : new HoldTable.State[] {HoldTable.State.PREPARED,
              HoldTable.State.COMMITTED, HoldTable.State.ABORTED, HoldTable.State.EXPIRED,
              HoldTable.State.RELEASED}) {
            cb.call(seen.getOrDefault(st, 0L), st.name());
          }
        })
        .register(registry);
    GaugeWithCallback.builder().name("lambdagrid_crm_shares")
        .help("Job shares open now").callback(cb -> cb.call(shares.get().shareCount()))
        .register(registry);
    GaugeWithCallback.builder().name("lambdagrid_crm_nodes")
        .help("Nodes of the open shares, by state").labelNames("state")
        .callback(cb -> shares.get().nodesByState()
            .forEach((st, n) -> cb.call(n, ProtoNames.shortName(st))))
        .register(registry);
    GaugeWithCallback.builder().name("lambdagrid_crm_overlay_records_lost")
        .help("Live holds prepared with an overlay end whose record was missing when the CRM"
            + " started (a committed one needs grc cancel; a prepared one ends with its hold"
            + " time)")
        .callback(cb -> cb.call(overlayRecordsLost.getAsInt())).register(registry);
    Counter started = Counter.builder().name("lambdagrid_crm_pilots_started_total")
        .help("Pilots started (one per node per job)").register(registry);
    Counter failed = Counter.builder().name("lambdagrid_crm_pilot_start_failures_total")
        .help("Pilots that could not be started").register(registry);
    return new PilotStarter() {
      @Override
      public PilotHandle start(PilotLaunch launch) throws PilotStartException {
        try {
          PilotHandle h = starter.start(launch);
          started.inc();
          return h;
        } catch (PilotStartException | RuntimeException e) {
          failed.inc();
          throw e;
        }
      }

      @Override
      public void stop(PilotHandle handle) {
        starter.stop(handle);
      }

      @Override
      public boolean isAlive(PilotHandle handle) {
        return starter.isAlive(handle);
      }

      @Override
      public String launchProblem(PilotHandle handle) {
        return starter.launchProblem(handle);
      }
    };
  }
}
