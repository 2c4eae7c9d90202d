package org.lambdagrid.crm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.crm.site.ShareSpec;
import org.lambdagrid.crm.site.SiteShares;
import org.lambdagrid.crm.testing.TestPilotStarter;

/**
 * A CRM that dies (no orderly close) and starts again on its state database: reserved shares
 * are held again (so nothing is handed out twice), started ones and expired ones are dropped.
 */
class CrmRestartTest {
  @TempDir Path dir;
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

  private CrmConfig config() {
    return ConfigLoader.parse("crm.yaml", "site: a\nlisten: 127.0.0.1:0\ngrc: 127.0.0.1:1\n"
        + "node_capacity: 4\nranges: [10.10.0.0/24]\nstate_dir: " + dir + "\n", CrmConfig.class);
  }

  private SiteShares site(JdbcShareLedger ledger, Instant now) {
    return new SiteShares(config().siteSettings(), new TestPilotStarter(() -> null),
        () -> null, Clock.fixed(now, ZoneOffset.UTC), ledger);
  }

  private static ShareSpec spec(String job, int nodes, String cidr, Instant end) {
    return new ShareSpec(job, nodes, Ipv4Cidr.parse(cidr), T0, end, "alice");
  }

  @Test
  void reservedSharesSurviveStartedAndExpiredOnesDoNot() {
    JdbcShareLedger first = JdbcShareLedger.open(config());
    SiteShares before = site(first, T0);
    before.reserve(spec("j-kept", 2, "10.10.0.0/29", T0.plusSeconds(3600)));
    before.reserve(spec("j-started", 1, "10.10.0.8/30", T0.plusSeconds(3600)));
    before.reserve(spec("j-expired", 1, "10.10.0.12/30", T0.plusSeconds(60)));
    first.started("j-started"); // what SetupNodes records before launching pilots
    first.close(); // kill -9: no release, no orderly close

    JdbcShareLedger second = JdbcShareLedger.open(config());
    try {
      SiteShares after = site(second, T0.plusSeconds(120));
      assertThat(after.recover()).containsExactly("j-kept");
      assertThat(after.jobIds()).containsExactly("j-kept");
      assertThat(after.nodesInUse()).isEqualTo(2);
      assertThatThrownBy(() -> after.reserve(spec("j-new", 1, "10.10.0.4/30",
          T0.plusSeconds(3600)))).isInstanceOf(Errors.RequestException.class)
          .hasMessageContaining("overlaps range 10.10.0.0/29 that job j-kept holds");
      after.reserve(spec("j-new", 2, "10.10.0.8/30", T0.plusSeconds(3600)));
      assertThatThrownBy(() -> after.reserve(spec("j-big", 1, "10.10.0.16/30",
          T0.plusSeconds(3600)))).hasMessageContaining("has 0 free nodes");
      after.release("j-kept", "done");
      assertThat(second.load()).extracting(r -> r.spec().jobId()).containsExactly("j-new");
    } finally {
      second.close();
    }
  }

  @Test
  void theDefaultDatabaseIsAFileInTheStateDir() {
    // The cross-process lock is checked by it/CrmCrashTest; here only the URL.
    try (JdbcShareLedger l = JdbcShareLedger.open(config())) {
      assertThat(l.url()).startsWith("jdbc:h2:file:" + dir.resolve("crm"));
      assertThat(l.load()).isEqualTo(List.of());
    }
  }
}
