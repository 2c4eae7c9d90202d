package org.lambdagrid.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class QuantitiesTest {

  @Test
  void durations() {
    assertThat(Quantities.parseDuration("90s")).isEqualTo(Duration.ofSeconds(90));
    assertThat(Quantities.parseDuration("1h30m")).isEqualTo(Duration.ofMinutes(90));
    assertThat(Quantities.parseDuration("250ms")).isEqualTo(Duration.ofMillis(250));
    assertThat(Quantities.parseDuration("2d")).isEqualTo(Duration.ofDays(2));
    assertThat(Quantities.formatDuration(Duration.ofDays(7))).isEqualTo("7d");
    assertThat(Quantities.formatDuration(Duration.ofHours(26).plusSeconds(5))).isEqualTo("1d2h5s");
    assertThat(Quantities.formatDuration(Duration.ofMinutes(90))).isEqualTo("1h30m");
    assertThatThrownBy(() -> Quantities.parseDuration("10 minutes")).hasMessageContaining("'10 minutes'");
    assertThatThrownBy(() -> Quantities.parseDuration("")).hasMessageContaining("not a duration");
    assertThatThrownBy(() -> Quantities.parseDuration("5x")).hasMessageContaining("not a duration");
  }

  @Test
  void durationsAreSpelledAsInGrcYaml() {
    assertThat(Quantities.formatDuration(Duration.ofSeconds(60))).isEqualTo("1m");
    assertThat(Quantities.formatDuration(Duration.ofSeconds(90))).isEqualTo("1m30s");
    assertThat(Quantities.formatDuration(Duration.ofSeconds(7205))).isEqualTo("2h5s");
    assertThat(Quantities.formatDuration(Duration.ofMillis(1500))).isEqualTo("1500ms");
    assertThat(Quantities.formatDuration(Duration.ZERO)).isEqualTo("0s");
  }

  @Test
  void rates() {
    assertThat(Quantities.parseRate("200M")).isEqualTo(200_000_000L);
    assertThat(Quantities.parseRate("1.5G")).isEqualTo(1_500_000_000L);
    assertThat(Quantities.parseRate("100mbit")).isEqualTo(100_000_000L);
    assertThat(Quantities.parseRate("500000")).isEqualTo(500_000L);
    assertThatThrownBy(() -> Quantities.parseRate("fast")).hasMessageContaining("'fast'");
    assertThat(Quantities.formatRate(200_000_000L)).isEqualTo("200 Mbit/s");
  }

  @Test
  void sizesAreBinary() {
    assertThat(Quantities.parseSize("512M")).isEqualTo(512L << 20);
    assertThat(Quantities.parseSize("2G")).isEqualTo(2L << 30);
    assertThat(Quantities.parseSize("2g")).isEqualTo(2L << 30);
    assertThat(Quantities.parseSize("1.5G")).isEqualTo(3L << 29);
    assertThat(Quantities.parseSize("256MiB")).isEqualTo(256L << 20);
    assertThat(Quantities.parseSize("256MB")).isEqualTo(256L << 20);
    assertThat(Quantities.parseSize("64k")).isEqualTo(64L << 10);
    assertThat(Quantities.parseSize("1T")).isEqualTo(1L << 40);
    assertThat(Quantities.parseSize("1048576")).isEqualTo(1048576L);
    assertThat(Quantities.parseSize("100b")).isEqualTo(100L);
    assertThat(Quantities.parseSize(" 2 G ")).isEqualTo(2L << 30);
    assertThat(Quantities.parseSize("0")).isZero();
  }

  @Test
  void badSizesQuoteTheInput() {
    for (String bad : new String[] {"1x", "", "M", "-1G", "1.5.2G", "2 GiBs", "1P"}) {
      assertThatThrownBy(() -> Quantities.parseSize(bad)).as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("'" + bad + "' is not a size (examples: 512M, 2G, 1.5G, 268435456)");
    }
    assertThatThrownBy(() -> Quantities.parseSize(null)).hasMessageContaining("'null'");
    assertThatThrownBy(() -> Quantities.parseSize("9000000T"))
        .hasMessage("'9000000T' is too large a size");
  }

  @Test
  void sizesAreFormattedInTheLargestExactUnit() {
    assertThat(Quantities.formatSize(256L << 20)).isEqualTo("256 MiB");
    assertThat(Quantities.formatSize(2L << 30)).isEqualTo("2 GiB");
    assertThat(Quantities.formatSize(3L << 29)).isEqualTo("1536 MiB");
    assertThat(Quantities.formatSize(1536)).isEqualTo("1536 bytes");
    assertThat(Quantities.formatSize(3L << 10)).isEqualTo("3 KiB");
    assertThat(Quantities.formatSize(100)).isEqualTo("100 bytes");
    assertThat(Quantities.formatSize(1)).isEqualTo("1 byte");
    assertThat(Quantities.formatSize(1L << 40)).isEqualTo("1 TiB");
  }

  @Test
  void endpoints() {
    assertThat(Endpoint.parse("127.0.0.1:7300")).isEqualTo(new Endpoint("127.0.0.1", 7300));
    assertThatThrownBy(() -> Endpoint.parse("localhost")).hasMessageContaining("'localhost' is not host:port");
    assertThatThrownBy(() -> Endpoint.parse("h:99999")).hasMessageContaining("not in 0..65535");
  }
}
