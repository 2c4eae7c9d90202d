package org.lambdagrid.grc;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Instant;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.grc.job.JobCoordinator;
import org.lambdagrid.grc.job.JobRecord;
import org.lambdagrid.grc.job.JobStates;
import org.lambdagrid.grc.reservation.CoAllocator;
import org.lambdagrid.grc.reservation.ReservationService;
import org.lambdagrid.grc.reservation.Topology;
import org.lambdagrid.grc.site.Site;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.ReservationState;

/**
 * The GRC's own metrics, on top of the JVM's and the gRPC calls'
 * ({@link org.lambdagrid.common.ops.DaemonMetrics}). State names are the protocol's short names
 * (PENDING, SETTING_UP, ..., as {@code grc watch} shows them). Gauges are read from the live
 * state at each scrape; counters count since this GRC process started.
 *
 * <pre>
 * lambdagrid_grc_jobs{state}                      live jobs by state
 * lambdagrid_grc_jobs_finished_total{state}       SUCCEEDED / FAILED / CANCELLED
 * lambdagrid_grc_job_state_seconds{state}         time a job spent in each state (histogram)
 * lambdagrid_grc_reservations{state}              RESERVED / ACTIVE, and HELD (in their 2PC)
 * lambdagrid_grc_two_phase_commits_total{result}  COMMITTED / REFUSED / FAILED / ABANDONED
 * lambdagrid_grc_sites                            registered sites
 * lambdagrid_grc_site_nodes{site}                 a site's node capacity
 * lambdagrid_grc_site_nodes_reserved{site}        its nodes that reservations hold now
 * lambdagrid_grc_link_capacity_bps{link}          an inter-site link's capacity
 * lambdagrid_grc_link_reserved_bps{link}          its bandwidth that reservations hold now
 * </pre>
 */
public final class GrcMetrics {
  private GrcMetrics() {}

  /** Registers the GRC's metrics in {@code registry} and starts observing new jobs. */
  public static void register(PrometheusRegistry registry, Clock clock, SiteRegistry sites,
      CoAllocator allocator, ReservationService reservations, JobCoordinator jobs) {
    GaugeWithCallback.builder().name("lambdagrid_grc_jobs")
        .help("Jobs not yet ended, by state").labelNames("state")
        .callback(cb -> jobs.liveJobsByState()
            .forEach((s, n) -> cb.call(n, ProtoNames.shortName(s))))
        .register(registry);
    Counter finished = Counter.builder().name("lambdagrid_grc_jobs_finished_total")
        .help("Jobs ended since the GRC started, by final state").labelNames("state")
        .register(registry);
    Histogram inState = Histogram.builder().name("lambdagrid_grc_job_state_seconds")
        .help("Time a job spent in a state before leaving it (PENDING waits for the window)")
        .labelNames("state").classicOnly()
        .classicUpperBounds(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)
        .register(registry);
    for (JobState s : new JobState[] {JobState.JOB_SUCCEEDED, JobState.JOB_FAILED,
        JobState.JOB_CANCELLED}) {
      finished.labelValues(ProtoNames.shortName(s)); // present at 0 before the first job
    }
    jobs.observe(new JobRecord.Observer() {
      @Override
      public void changed(JobState from, JobState to, java.time.Duration inFrom) {
        inState.labelValues(ProtoNames.shortName(from)).observe(inFrom.toNanos() / 1e9);
        if (JobStates.MACHINE.isTerminal(to)) {
          finished.labelValues(ProtoNames.shortName(to)).inc();
        }
      }
    });

    GaugeWithCallback.builder().name("lambdagrid_grc_reservations")
        .help("Reservations not yet ended, by state; HELD: in their two-phase commit")
        .labelNames("state")
        .callback(cb -> {
          cb.call(reservations.inTwoPhaseCommit(), "HELD");
          var live = reservations.liveByState();
          for (ReservationState s : new ReservationState[] {
              ReservationState.RESERVATION_RESERVED, ReservationState.RESERVATION_ACTIVE}) {
            cb.call(live.getOrDefault(s, 0), ProtoNames.shortName(s));
          }
        })
        .register(registry);
    CounterWithCallback.builder().name("lambdagrid_grc_two_phase_commits_total")
        .help("Reservations' two-phase commits since the GRC started, by how they ended")
        .labelNames("result")
        .callback(cb -> reservations.twoPhaseResults().forEach((r, n) -> cb.call(n, r.name())))
        .register(registry);

    GaugeWithCallback.builder().name("lambdagrid_grc_sites")
        .help("Sites registered").callback(cb -> cb.call(sites.list().size()))
        .register(registry);
    GaugeWithCallback.builder().name("lambdagrid_grc_site_nodes")
        .help("A site's node capacity, as its CRM registered it").labelNames("site")
        .callback(cb -> sites.list().forEach(s -> cb.call(s.nodeCapacity(), s.name())))
        .register(registry);
    GaugeWithCallback.builder().name("lambdagrid_grc_site_nodes_reserved")
        .help("A site's nodes that reservations hold now").labelNames("site")
        .callback(cb -> {
          for (Site s : sites.list()) {
            cb.call(reservations.nodesInUse(s.name()), s.name());
          }
        })
        .register(registry);
    GaugeWithCallback.builder().name("lambdagrid_grc_link_capacity_bps")
        .help("An inter-site link's capacity, bit/s").labelNames("link")
        .callback(cb -> allocator.topology().links()
            .forEach(l -> cb.call(l.capacityBps(), l.id())))
        .register(registry);
    GaugeWithCallback.builder().name("lambdagrid_grc_link_reserved_bps")
        .help("An inter-site link's bandwidth that reservations hold now, bit/s")
        .labelNames("link")
        .callback(cb -> {
          Instant now = clock.instant();
          for (Topology.Link l : allocator.topology().links()) {
            cb.call(allocator.bandwidthInUse(l.id(), now), l.id());
          }
        })
        .register(registry);
  }
}
