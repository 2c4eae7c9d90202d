package org.lambdagrid.grc.reservation;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.grc.reservation.testbed.Segment;
import org.lambdagrid.grc.reservation.testbed.TestbedNetworkProvider;
import org.lambdagrid.proto.v1.ReservationOverlay;

/** VNIs of routed reservations: taken, freed, reused, and planned again after a restart. */
class OverlayPlansTest {
  /** Three VNIs, so clashes are easy to make. */
  static final int MIN = 100;
  static final int SIZE = 3;
  static final TestbedNetworkProvider.Overlay CONFIG = TestbedNetworkProvider.Overlay.of(MIN, MIN + SIZE - 1,
      Map.of("alpha", new Segment.Endpoint("lg-site-alpha", "172.31.255.2", 1550),
          "bravo", new Segment.Endpoint("lg-site-bravo", "172.31.255.6", 1550)));
  static final Map<SitePair, Long> BPS = Map.of(SitePair.of("alpha", "bravo"), 100_000_000L);

  /** The {@code n}th reservation id (from 0) whose hash starts the VNI search at {@code MIN + slot}. */
  static String idAt(int slot, int n) {
    for (int i = 0, found = 0; ; i++) {
      String id = "r-" + slot + "-" + i;
      if (Math.floorMod(id.hashCode(), SIZE) == slot && found++ == n) {
        return id;
      }
    }
  }

  static int vni(OverlayPlans plans, String id) {
    Map<String, ReservationOverlay> ends = plans.plan(id, BPS);
    assertThat(plans.refusal(id)).as("refusal of " + id).isEmpty();
    assertThat(ends.keySet()).containsExactly("alpha", "bravo");
    assertThat(ends.get("alpha").getVni()).isEqualTo(ends.get("bravo").getVni());
    return ends.get("alpha").getVni();
  }

  @Test
  void aReservationGetsTheVniItsIdHashesToAndAClashTakesTheNextFreeOne() {
    OverlayPlans plans = new OverlayPlans(CONFIG);
    String a = idAt(1, 0);
    String b = idAt(1, 1);
    String c = idAt(2, 0);
    assertThat(vni(plans, a)).isEqualTo(MIN + 1);
    assertThat(vni(plans, b)).isEqualTo(MIN + 2); // its own is a's
    assertThat(vni(plans, c)).isEqualTo(MIN); // its own is b's: wraps around
    assertThat(vni(plans, b)).as("planned again: kept").isEqualTo(MIN + 2);
    assertThat(plans.bridges(a)).isNotEqualTo(plans.bridges(b));
  }

  @Test
  void aForgottenReservationsVniAndNamesAreFreeForTheNext() {
    OverlayPlans plans = new OverlayPlans(CONFIG);
    String a = idAt(0, 0);
    assertThat(vni(plans, a)).isEqualTo(MIN);
    Map<String, String> bridgesOfA = plans.bridges(a);
    plans.forget(a);
    plans.forget(a); // again, and one never planned: nothing else is freed
    plans.forget("r-never-planned");
    assertThat(plans.bridges(a)).isEmpty();
    String b = idAt(0, 1);
    assertThat(vni(plans, b)).as("a's VNI, free again").isEqualTo(MIN);
    assertThat(vni(plans, a)).as("a planned anew: MIN is b's now").isEqualTo(MIN + 1);
    assertThat(plans.bridges(a)).as("a's names were freed too").isEqualTo(bridgesOfA);
    String c = idAt(0, 2);
    assertThat(vni(plans, c)).isEqualTo(MIN + 2);
  }

  @Test
  void aFullRangeRefusesTheNextReservationUntilOneIsForgotten() {
    OverlayPlans plans = new OverlayPlans(CONFIG);
    Set<Integer> taken = new TreeSet<>();
    for (int slot = 0; slot < SIZE; slot++) {
      taken.add(vni(plans, idAt(slot, 0)));
    }
    assertThat(taken).containsExactly(MIN, MIN + 1, MIN + 2);
    String late = idAt(1, 1);
    assertThat(plans.plan(late, BPS)).isEmpty();
    assertThat(plans.refusal(late)).hasValueSatisfying(e -> {
      assertThat(e.code()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(e.getMessage()).contains("overlay.vni_range 100-102").contains(late);
    });
    plans.forget(late); // as the resource manager does after a refused prepare
    plans.forget(idAt(2, 0));
    assertThat(vni(plans, late)).as("the one freed").isEqualTo(MIN + 2);
  }

  @Test
  void afterARestartRestoredReservationsPlannedInTheSameOrderGetTheSameVnis() {
    OverlayPlans before = new OverlayPlans(CONFIG);
    String a = idAt(0, 0);
    String b = idAt(0, 1); // moved by the clash with a
    String c = idAt(2, 0);
    int va = vni(before, a);
    int vb = vni(before, b);
    int vc = vni(before, c);
    assertThat(Set.of(va, vb, vc)).hasSize(3);

    OverlayPlans after = new OverlayPlans(CONFIG); // nothing durable: rebuilt by restore()
    assertThat(vni(after, a)).isEqualTo(va);
    assertThat(vni(after, b)).isEqualTo(vb);
    assertThat(vni(after, c)).isEqualTo(vc);
    assertThat(after.bridges(b)).isEqualTo(before.bridges(b));
    // The rebuilt used set still refuses a clash: a fourth reservation finds the range full.
    String d = idAt(1, 0);
    assertThat(after.plan(d, BPS)).isEmpty();
    assertThat(after.refusal(d)).isPresent();
  }

  @Test
  void afterARestartAReservationWhoseClashIsGoneGetsItsOwnVni() {
    OverlayPlans before = new OverlayPlans(CONFIG);
    String a = idAt(0, 0);
    String b = idAt(0, 1);
    vni(before, a);
    assertThat(vni(before, b)).isEqualTo(MIN + 1);
    before.forget(a); // a's hold ended before the restart; only b is restored

    OverlayPlans after = new OverlayPlans(CONFIG);
    assertThat(vni(after, b)).isEqualTo(MIN); // its sites refuse it if they still have MIN + 1
  }
}
