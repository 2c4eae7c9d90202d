package org.lambdagrid.nodemanager.agent;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import java.util.List;
import java.util.function.IntSupplier;
import org.lambdagrid.common.ops.DaemonMetrics;
import org.lambdagrid.nodemanager.driver.ForwardingGuestDriver;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * The node agent's metrics, on top of the JVM's ({@link DaemonMetrics}); every pilot's guest
 * driver reports through {@link #wrap}. A pilot started alone (through sudo) has none.
 *
 * <pre>
 * lambdagrid_agent_pilots                          pilots running now
 * lambdagrid_agent_pilot_exits_total{code}         pilots ended, by exit code (0 = clean)
 * lambdagrid_agent_guests_built_total              SETUP built a guest
 * lambdagrid_agent_guests_failed_total{step}       build (SETUP) or start (RUN) failed
 * lambdagrid_agent_guests_undone_total{result}     guests destroyed: clean, or left (something
 *                                                  could not be removed; the log names it)
 * </pre>
 */
public final class AgentMetrics {
  private final DaemonMetrics daemon = new DaemonMetrics();
  private final Counter exits;
  private final Counter built;
  private final Counter failed;
  private final Counter undone;

  AgentMetrics(IntSupplier running) {
    var r = daemon.registry();
    GaugeWithCallback.builder().name("lambdagrid_agent_pilots").help("Pilots running now")
        .callback(cb -> cb.call(running.getAsInt())).register(r);
    exits = Counter.builder().name("lambdagrid_agent_pilot_exits_total")
        .help("Pilots ended, by exit code").labelNames("code").register(r);
    built = Counter.builder().name("lambdagrid_agent_guests_built_total")
        .help("Guests built (SETUP)").register(r);
    failed = Counter.builder().name("lambdagrid_agent_guests_failed_total")
        .help("Guests whose build (SETUP) or start (RUN) failed").labelNames("step").register(r);
    undone = Counter.builder().name("lambdagrid_agent_guests_undone_total")
        .help("Guests destroyed: clean, or with something left").labelNames("result")
        .register(r);
    failed.labelValues("build");
    failed.labelValues("start");
    undone.labelValues("clean");
    undone.labelValues("left");
  }

  public DaemonMetrics daemon() {
    return daemon;
  }

  void pilotEnded(int code) {
    exits.labelValues(Integer.toString(code)).inc();
  }

  /** {@code driver}, counting the guests it builds, fails to build or start, and destroys. */
  public GuestDriver wrap(GuestDriver driver) {
    return new ForwardingGuestDriver(driver) {
      @Override
      public GuestHandle build(GuestSpec spec) throws GuestException {
        try {
          GuestHandle h = super.build(spec);
          built.inc();
          return h;
        } catch (GuestException | RuntimeException e) {
          failed.labelValues("build").inc();
          throw e;
        }
      }

      @Override
      public void start(GuestHandle guest) throws GuestException {
        try {
          super.start(guest);
        } catch (GuestException | RuntimeException e) {
          failed.labelValues("start").inc();
          throw e;
        }
      }

      @Override
      public List<String> destroy(GuestHandle guest) {
        List<String> left = super.destroy(guest);
        undone.labelValues(left.isEmpty() ? "clean" : "left").inc();
        return left;
      }
    };
  }
}
