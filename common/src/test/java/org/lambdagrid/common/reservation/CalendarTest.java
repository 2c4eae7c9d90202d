package org.lambdagrid.common.reservation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.NavigableMap;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CalendarTest {
  @Test
  void overlappingHoldsSumAndMaxUsageSeesTheWorstInstant() {
    Calendar c = new Calendar("site 'a'", 8);
    c.add("r1", 0, 100, 3);
    c.add("r2", 50, 150, 5);
    assertThat(c.usageAt(0)).isEqualTo(3);
    assertThat(c.usageAt(50)).isEqualTo(8);
    assertThat(c.usageAt(100)).isEqualTo(5);
    assertThat(c.usageAt(150)).isZero();
    assertThat(c.maxUsage(0, 50)).isEqualTo(3);
    assertThat(c.maxUsage(0, 51)).isEqualTo(8);
    assertThat(c.maxUsage(100, 200)).isEqualTo(5);
    assertThat(c.maxUsage(150, 200)).isZero();
    assertThat(c.fits(0, 50, 5)).isTrue();
    assertThat(c.fits(0, 51, 5)).isFalse();
  }

  @Test
  void addBeyondCapacityThrowsAndChangesNothing() {
    Calendar c = new Calendar("site 'a'", 8);
    c.add("r1", 0, 100, 6);
    NavigableMap<Long, Long> before = c.steps();
    assertThatThrownBy(() -> c.add("r2", 99, 200, 3))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("exceeds capacity 8");
    assertThat(c.steps()).isEqualTo(before);
    assertThatThrownBy(() -> c.add("r1", 200, 300, 1)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void removeRestoresExactlyTheStepsBeforeTheHold() {
    Calendar c = new Calendar("link", 100);
    c.add("a", 0, 100, 10);
    c.add("b", 100, 200, 10); // adjacent, same level: merged into one step
    assertThat(c.steps()).containsExactly(java.util.Map.entry(0L, 10L), java.util.Map.entry(200L, 0L));
    NavigableMap<Long, Long> before = c.steps();
    c.add("c", 50, 150, 30);
    assertThat(c.remove("c")).isTrue();
    assertThat(c.steps()).isEqualTo(before);
    assertThat(c.remove("c")).isFalse();
    c.remove("a");
    c.remove("b");
    assertThat(c.steps()).isEmpty();
  }

  @Test
  void searchHelpersFindTheFirstExcessAndTheNextRoom() {
    Calendar c = new Calendar("site 'a'", 8);
    c.add("r1", 100, 200, 6);
    c.add("r2", 150, 300, 2);
    assertThat(c.firstOver(0, 1000, 5)).isEqualTo(100);
    assertThat(c.firstOver(0, 100, 5)).isEqualTo(Calendar.NONE);
    assertThat(c.nextAtOrBelow(100, 5)).isEqualTo(200);
    assertThat(c.nextDecreaseAfter(100)).isEqualTo(200);
    assertThat(c.nextDecreaseAfter(300)).isEqualTo(Calendar.NONE);
  }

  @Test
  void tenThousandRandomHoldsAgreeWithABruteForceArrayAndRemoveToEmpty() {
    Random rnd = new Random(42);
    int horizon = 20_000;
    long[] naive = new long[horizon];
    Calendar c = new Calendar("big", Long.MAX_VALUE / 2);
    List<long[]> holds = new ArrayList<>();
    for (int i = 0; i < 10_000; i++) {
      int from = rnd.nextInt(horizon - 1);
      int to = from + 1 + rnd.nextInt(Math.min(500, horizon - from - 1) + 1);
      to = Math.min(to, horizon);
      int amount = 1 + rnd.nextInt(10);
      c.add("h" + i, from, to, amount);
      holds.add(new long[] {from, to, amount});
      for (int t = from; t < to; t++) {
        naive[t] += amount;
      }
    }
    for (int q = 0; q < 2_000; q++) {
      int from = rnd.nextInt(horizon - 1);
      int to = from + 1 + rnd.nextInt(horizon - from - 1);
      long max = 0;
      for (int t = from; t < to; t++) {
        max = Math.max(max, naive[t]);
      }
      assertThat(c.maxUsage(from, to)).as("maxUsage(%d, %d)", from, to).isEqualTo(max);
    }
    for (int i = 0; i < holds.size(); i++) {
      assertThat(c.remove("h" + i)).isTrue();
    }
    assertThat(c.steps()).isEmpty();
    assertThat(c.holdCount()).isZero();
  }
}
