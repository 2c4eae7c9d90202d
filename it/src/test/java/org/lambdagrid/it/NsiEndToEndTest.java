package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.lambdagrid.it.Testbed.grcAsUser;

import java.time.Duration;
import java.util.List;
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
 * cancel}; a reservation or job asking more than OpenNSA's ports carry is refused with
 * OpenNSA's reason. Needs root and opennsa-local up; skipped with the reason otherwise.
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
    // The GRC's own links carry 1 Gbit/s, OpenNSA's ports 500 Mbit/s: OpenNSA is what refuses.
    // A job's reservation is made before the job exists, so the refusal is the answer of
    // grc submit itself (there is no job to watch); grc reserve answers the same.
    List<String> liveBefore = nsa.liveConnections();
    for (String cmd : List.of("reserve", "submit")) {
      List<String> args = new java.util.ArrayList<>(List.of(cmd, "--site", "alpha=1", "--site",
          "bravo=1", "--bandwidth", "800M", "--duration", "5m"));
      if (cmd.equals("submit")) {
        args.addAll(List.of("--", "true"));
      }
      Sh.Result r = grcAsUser(Duration.ofMinutes(2), args.toArray(String[]::new));
      assertThat(r.exit()).as(r.out() + r.err()).isNotZero();
      assertThat(r.err()).as(cmd)
          .contains("network:nsi: site pair alpha-bravo: NSI provider " + nsa.providerNsa()
              + " refused reserve")
          .contains("Port alpha cannot provide 800 Mbps (its capacity is 500 Mbps) [00705]")
          .doesNotContain("cannot reach the GRC")
          .doesNotContain("Exception");
    }
    // nothing is left at OpenNSA: the refused requests' connections are all terminated
    assertThat(nsa.liveConnections()).isEqualTo(liveBefore);
  }
}
