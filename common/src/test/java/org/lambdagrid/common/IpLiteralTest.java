package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.Inet4Address;
import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class IpLiteralTest {

  @Test
  void parsesIpv4AndIpv6LiteralsToTheAddressTheySpell() throws Exception {
    assertThat(IpLiteral.parse("192.0.2.7").getAddress()).containsExactly(192, 0, 2, 7);
    assertThat(IpLiteral.parse("0.0.0.0").getAddress()).containsExactly(0, 0, 0, 0);
    assertThat(IpLiteral.parse("2001:db8::7")).isEqualTo(
        InetAddress.getByAddress(new byte[] {0x20, 0x01, 0x0d, (byte) 0xb8, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 7}));
    assertThat(IpLiteral.parse("2001:DB8:0:0:0:0:0:7")).isEqualTo(IpLiteral.parse("2001:db8::7"));
    assertThat(IpLiteral.parse("::")).isEqualTo(IpLiteral.parse("0:0:0:0:0:0:0:0"));
    assertThat(IpLiteral.parse("::1")).isEqualTo(IpLiteral.parse("0:0:0:0:0:0:0:1"));
    assertThat(IpLiteral.parse("1::")).isEqualTo(IpLiteral.parse("1:0:0:0:0:0:0:0"));
    assertThat(IpLiteral.parse("64:ff9b::192.0.2.7"))
        .isEqualTo(IpLiteral.parse("64:ff9b:0:0:0:0:c000:207"));
    assertThat(IpLiteral.parse("::ffff:192.0.2.7")).as("IPv4-mapped, as InetAddress does")
        .isInstanceOf(Inet4Address.class).isEqualTo(IpLiteral.parse("192.0.2.7"));
    assertThat(IpLiteral.parse("1:2:3:4:5:6:7::")).isEqualTo(IpLiteral.parse("1:2:3:4:5:6:7:0"));
    assertThat(IpLiteral.parse("::1:2:3:4:5:6:7")).isEqualTo(IpLiteral.parse("0:1:2:3:4:5:6:7"));
    assertThat(IpLiteral.parse("::1.2.3.4")).isEqualTo(IpLiteral.parse("::102:304"));
    assertThat(IpLiteral.parse("1:2:3:4:5::1.2.3.4"))
        .isEqualTo(IpLiteral.parse("1:2:3:4:5:0:102:304"));
    assertThat(IpLiteral.tryParse("2001:db8::7")).isEqualTo(IpLiteral.parse("2001:db8::7"));
  }

  @Test
  void refusesMalformedLiteralsQuotingThemInsteadOfLookingThemUp() {
    for (String bad : new String[] {"999.1.1.1", "192.0.2.256", "010.0.0.1", "1.2.3", "1.2.3.4.5",
        "1..2.3", "1234.1.1.1"}) {
      assertThat(IpLiteral.looksLikeOne(bad)).as(bad).isTrue();
      assertThat(IpLiteral.isOne(bad)).as(bad).isFalse();
      assertThatThrownBy(() -> IpLiteral.parse(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("'" + bad + "' is not an IPv4 address (four numbers 0..255, no leading"
              + " zeros)");
    }
    for (String bad : new String[] {"1:2:3:4:5:6:7:8:9", "1::2::3", ":::", ":1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:", "12345::1", "g::1", "fe80::1%eth0", "::1.2.3", "1.2.3.4::",
        "1:2:3:4:5:6:7::8", "[2001:db8::7]", "1:2:3:4:5:6::1.2.3.4", "::ffff:010.0.0.1"}) {
      assertThat(IpLiteral.looksLikeOne(bad)).as(bad).isTrue();
      assertThat(IpLiteral.isOne(bad)).as(bad).isFalse();
      assertThat(IpLiteral.tryParse(bad)).as(bad).isNull();
      assertThatThrownBy(() -> IpLiteral.parse(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("'" + bad + "' is not an IPv6 address");
    }
  }

  @Test
  void namesAreNotMeantAsLiterals() {
    for (String name : new String[] {"nsa.example.net", "localhost", "1.2.3.example", "a1", "",
        "+1.2.3.4", " 1.2.3.4", "1.2.3.4\n"}) {
      assertThat(IpLiteral.looksLikeOne(name)).as(name).isFalse();
      assertThat(IpLiteral.isOne(name)).as(name).isFalse();
    }
    assertThat(IpLiteral.looksLikeOne(null)).isFalse();
    assertThat(IpLiteral.isOne(null)).isFalse();
  }
}
