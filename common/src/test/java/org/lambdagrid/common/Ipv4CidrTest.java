package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class Ipv4CidrTest {

  @Test
  void parsesAndFormatsBlocks() {
    Ipv4Cidr c = Ipv4Cidr.parse("10.10.0.0/16");
    assertThat(c.toString()).isEqualTo("10.10.0.0/16");
    assertThat(c.size()).isEqualTo(65536);
    assertThat(c.usableHosts()).isEqualTo(65534);
    assertThat(Ipv4Cidr.formatAddress(c.lastAddress())).isEqualTo("10.10.255.255");
  }

  @Test
  void rejectsMalformedBlocksQuotingTheInput() {
    assertThatThrownBy(() -> Ipv4Cidr.parse("10.0.0.0/33")).hasMessageContaining("'10.0.0.0/33'");
    assertThatThrownBy(() -> Ipv4Cidr.parse("10.0.0.256/24")).hasMessageContaining("'10.0.0.256/24'");
    assertThatThrownBy(() -> Ipv4Cidr.parse("10.0.0/24")).hasMessageContaining("not a CIDR");
    assertThatThrownBy(() -> Ipv4Cidr.parse("10.0.0.0")).hasMessageContaining("a.b.c.d/n");
    assertThatThrownBy(() -> Ipv4Cidr.parse("10.1.2.3/16"))
        .hasMessageContaining("host bits").hasMessageContaining("10.1.0.0/16");
    assertThatThrownBy(() -> Ipv4Cidr.parse("")).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void overlapAndContainment() {
    Ipv4Cidr a = Ipv4Cidr.parse("10.10.0.0/16");
    Ipv4Cidr b = Ipv4Cidr.parse("10.10.4.0/24");
    Ipv4Cidr c = Ipv4Cidr.parse("10.11.0.0/16");
    assertThat(a.overlaps(b)).isTrue();
    assertThat(b.overlaps(a)).isTrue();
    assertThat(a.contains(b)).isTrue();
    assertThat(b.contains(a)).isFalse();
    assertThat(a.overlaps(c)).isFalse();
    assertThat(Ipv4Cidr.parse("10.10.0.0/30").overlaps(Ipv4Cidr.parse("10.10.0.4/30"))).isFalse();
  }

  @Test
  void hostAddressesSkipNetworkAndBroadcast() {
    Ipv4Cidr c = Ipv4Cidr.parse("10.10.0.4/30");
    assertThat(Ipv4Cidr.formatAddress(c.hostAddress(0))).isEqualTo("10.10.0.5");
    assertThat(Ipv4Cidr.formatAddress(c.hostAddress(1))).isEqualTo("10.10.0.6");
    assertThatThrownBy(() -> c.hostAddress(2)).hasMessageContaining("has 2 usable addresses");
  }

  @Test
  void subdividesInAddressOrderAndPicksPrefixes() {
    assertThat(Ipv4Cidr.parse("10.0.0.0/28").subdivide(30)).extracting(Object::toString)
        .containsExactly("10.0.0.0/30", "10.0.0.4/30", "10.0.0.8/30", "10.0.0.12/30");
    assertThat(Ipv4Cidr.prefixForHosts(1)).isEqualTo(30);
    assertThat(Ipv4Cidr.prefixForHosts(2)).isEqualTo(30);
    assertThat(Ipv4Cidr.prefixForHosts(3)).isEqualTo(29);
    assertThat(Ipv4Cidr.prefixForHosts(254)).isEqualTo(24);
    assertThat(Ipv4Cidr.prefixForHosts(255)).isEqualTo(23);
  }
}
