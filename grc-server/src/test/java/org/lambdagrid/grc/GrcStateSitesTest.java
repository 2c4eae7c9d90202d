package org.lambdagrid.grc;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.grc.site.Site;

class GrcStateSitesTest {
  @Test
  void aRoutedSitesOverlayEndSurvivesARestartAndAPlainSiteHasNone() {
    Site routed = new Site("alpha", new Endpoint("crm-alpha", 7100), 4, List.of(Ipv4Cidr.parse("10.1.0.0/24")), 1,
        Instant.ofEpochMilli(1000), new Site.Overlay("172.31.255.2", "lg-site-alpha", 1550));
    Site plain = new Site("bravo", new Endpoint("crm-bravo", 7100), 2, List.of(Ipv4Cidr.parse("10.2.0.0/24")), 1,
        Instant.ofEpochMilli(2000));
    try (GrcState s = GrcState.inMemory("grc-state-sites-test")) {
      s.saveSite(routed);
      s.saveSite(plain);
      assertThat(s.loadSites()).containsExactly(routed, plain);
      // A re-registration without the section makes the site layer 2 again.
      Site again = new Site("alpha", routed.crmEndpoint(), 4, routed.ranges(), 1, Instant.ofEpochMilli(3000));
      s.saveSite(again);
      assertThat(s.loadSites().get(0).overlay()).isNull();
    }
  }
}
