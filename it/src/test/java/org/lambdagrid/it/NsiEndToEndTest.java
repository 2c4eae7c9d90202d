package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.lambdagrid.it.Testbed.grcAsUser;

import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.grc.reservation.nsi.NsiNetworkProvider;
import org.lambdagrid.nsi.OpenNsa;

/**
 * {@code testbed up --nsi} against the real OpenNSA of scripts/opennsa-local: {@code grc reserve
 * --bandwidth} reserves compute on two sites and an NSI circuit between them, which OpenNSA's own
 * database shows committed and provisioned, then released and terminated after {@code grc
 * cancel}; a job asking more than OpenNSA's ports carry fails with OpenNSA's reason in
 * {@code grc watch}. Needs root and opennsa-local up; skipped with the reason otherwise.
 */
@Tag("root")
class NsiEndToEndTest {
  private static boolean up;
  private static OpenNsa nsa;

  @BeforeAll
  static void upTheTestbed() throws Exception {
    Testbed.assumeCanRun(List.of(), "run scripts/setup-host");
    nsa = OpenNsa.get();
    up = true;
    Testbed.up("--nsi");
  }

  @AfterAll
  static void downTheTestbed() throws Exception {
    if (up) {
      Testbed.down();
    }
  }

  @Test
  void aReservationsCircuitLivesAndEndsInOpenNsa() throws Exception {
    String rid = grcAsUser(Duration.ofMinutes(1), "reserve", "--site", "alpha=1", "--site",
        "bravo=1", "--bandwidth", "200M", "--duration", "10m").orFail("grc reserve").out().trim();
    assertThat(rid).matches("r-[0-9a-f]{8}");
    String gri = NsiNetworkProvider.gri(rid, SitePair.of("alpha", "bravo"));
    // committed (ReserveStart), then provisioned at the window's start (now) with its data plane up
    await().atMost(Duration.ofSeconds(30)).until(() -> nsa.stateByGri(gri),
        s -> "ReserveStart/Provisioned/Created/true".equals(s));

    grcAsUser(Duration.ofMinutes(1), "cancel", rid).orFail("grc cancel " + rid);
    await().atMost(Duration.ofSeconds(30)).until(() -> nsa.stateByGri(gri),
        s -> s != null && s.endsWith("/Released/Terminated/false"));
  }

  @Test
  void moreThanOpenNsaCarriesIsRefusedWithItsReason() throws Exception {
    Sh.Result run = grcAsUser(Duration.ofMinutes(2), "submit", "--site", "alpha=1", "--site",
        "bravo=1", "--bandwidth", "800M", "--duration", "5m", "--", "true");
    Matcher id = Pattern.compile("(j-[0-9a-f]{8})").matcher(run.out() + run.err());
    assertThat(id.find()).as(run.out() + run.err()).isTrue();
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(
        grcAsUser(Duration.ofSeconds(30), "watch", id.group(1)).out())
        .contains("network:nsi: site pair alpha-bravo: NSI provider " + nsa.providerNsa()
            + " refused reserve")
        .contains("Port alpha cannot provide 800 Mbps (its capacity is 500 Mbps) [00705]"));
  }
}
