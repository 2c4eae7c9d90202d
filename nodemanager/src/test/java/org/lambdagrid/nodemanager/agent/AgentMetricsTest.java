package org.lambdagrid.nodemanager.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.fake.FakeConfig;
import org.lambdagrid.nodemanager.driver.fake.FakeGuestDriver;

/** The agent's guest counters, through a driver wrapped as each pilot's is. */
class AgentMetricsTest {
  @TempDir
  Path state;

  private static String text(AgentMetrics m) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, m.daemon().registry().scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  private static GuestSpec spec(String host) {
    return new GuestSpec("j", host, "10.0.0.11", 24, List.of(), "alice");
  }

  @Test
  void guestsBuiltFailedAndUndoneArePilotsExitsCounted() throws Exception {
    AgentMetrics m = new AgentMetrics(() -> 3);
    GuestDriver ok = m.wrap(new FakeGuestDriver(FakeConfig.none(), state.resolve("a")));
    GuestDriver failing = m.wrap(new FakeGuestDriver(
        new FakeConfig("setup", null, null, null, "lg-x", null), state.resolve("b")));

    GuestHandle g = ok.build(spec("s-0"));
    ok.start(g);
    ok.stop(g);
    ok.destroy(g);
    assertThatThrownBy(() -> failing.build(spec("s-1"))).isInstanceOf(GuestException.class);
    for (GuestHandle left : failing.recover()) {
      failing.destroy(left);
    }
    m.pilotEnded(0);
    m.pilotEnded(4);

    assertThat(text(m)).contains("lambdagrid_agent_pilots 3.0")
        .contains("lambdagrid_agent_guests_built_total 1.0")
        .contains("lambdagrid_agent_guests_failed_total{step=\"build\"} 1.0")
        .contains("lambdagrid_agent_guests_failed_total{step=\"start\"} 0.0")
        .contains("lambdagrid_agent_guests_undone_total{result=\"clean\"} 1.0")
        .contains("lambdagrid_agent_guests_undone_total{result=\"left\"} 1.0")
        .contains("lambdagrid_agent_pilot_exits_total{code=\"4\"} 1.0");
  }
}
