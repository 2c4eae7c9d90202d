package org.lambdagrid.grc.reservation.nsi;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.reservation.Ask;
import org.lambdagrid.common.reservation.SitePair;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.grc.GrcState;
import org.lambdagrid.nsi.NsiRequester;
import org.lambdagrid.nsi.OpenNsa;

/**
 * A GRC "killed" with NSI connections in every state, against the real OpenNSA of
 * scripts/opennsa-local, its records in the GRC's state database (H2): after the restart OpenNSA
 * holds only the committed connection of the reservation that survived.
 */
class NsiRecoveryOpenNsaTest {
  private OpenNsa nsa;
  private GrcState state;
  private NsiRequester before;
  private NsiRequester after;

  @BeforeEach
  void setUp() {
    nsa = OpenNsa.get();
    state = GrcState.inMemory("nsi-recovery-" + System.nanoTime());
  }

  @AfterEach
  void tearDown() {
    for (NsiRequester r : new NsiRequester[] {before, after}) {
      if (r != null) {
        r.close();
      }
    }
    if (state != null) { // null when setUp skipped the test (no OpenNSA)
      state.close();
    }
  }

  private NsiNetworkProvider provider(NsiRequester r) {
    return new NsiNetworkProvider("network:nsi", new NsiNetworkProviderTest.Inner(), r,
        new JdbcNsiStore(state.database()), Map.of("alpha", nsa.stp("alpha"), "bravo",
        nsa.stp("bravo"), "charlie", nsa.stp("charlie"), "delta", nsa.stp("delta")),
        Clock.systemUTC(), Duration.ofMinutes(2));
  }

  private static Ask.Bandwidth ask(String a, String b) {
    return new Ask.Bandwidth(Map.of(SitePair.of(a, b), 10_000_000L));
  }

  @Test
  void aRestartKeepsTheCommittedCircuitAndTerminatesTheRest() throws Exception {
    Window w = Window.of(Instant.now().plus(Duration.ofMinutes(30)), Duration.ofMinutes(30));
    before = nsa.start(Duration.ofSeconds(20), null);
    NsiNetworkProvider p = provider(before);
    String tag = Long.toHexString(System.nanoTime());
    String kept = "kept-" + tag;
    String held = "held-" + tag;
    String gone = "gone-" + tag;
    String lost = "lost-" + tag;
    assertThat(p.prepare(kept, w, ask("alpha", "bravo")).join().isPrepared()).isTrue();
    p.commit(kept).join();
    assertThat(p.prepare(held, w, ask("charlie", "delta")).join().isPrepared()).isTrue();
    assertThat(p.prepare(gone, w, ask("alpha", "charlie")).join().isPrepared()).isTrue();
    p.commit(gone).join();
    // killed after sending a reserve, before its id was recorded: only the global id is
    SitePair bd = SitePair.of("bravo", "delta");
    String lostGri = NsiNetworkProvider.gri(lost, bd);
    new JdbcNsiStore(state.database()).put(new NsiRecord(lost, bd, lostGri, null,
        NsiRecord.State.RESERVING, w.startMillis(), w.endMillis()));
    before.reserve(new NsiRequester.Circuit(nsa.stp("bravo"), nsa.stp("delta"), 10, w.start(),
        w.end(), lostGri, "lost"), null);
    p.close(); // the worker stops; nothing is undone
    before.close();
    before = null;
    String griKept = NsiNetworkProvider.gri(kept, SitePair.of("alpha", "bravo"));
    assertThat(nsa.stateByGri(griKept)).isEqualTo("ReserveStart/Released/Created/false");
    assertThat(nsa.stateByGri(NsiNetworkProvider.gri(held, SitePair.of("charlie", "delta"))))
        .isEqualTo("ReserveHeld/Released/Created/false");
    assertThat(nsa.stateByGri(lostGri)).isEqualTo("ReserveHeld/Released/Created/false");

    after = nsa.start(Duration.ofSeconds(20), null);
    NsiNetworkProvider q = provider(after);
    q.restore(kept, w, ask("alpha", "bravo"));
    assertThat(q.recover()).containsExactlyInAnyOrder(held + " charlie-delta",
        gone + " alpha-charlie", lost + " bravo-delta");
    assertThat(nsa.stateByGri(griKept)).isEqualTo("ReserveStart/Released/Created/false");
    for (String gri : List.of(NsiNetworkProvider.gri(held, SitePair.of("charlie", "delta")),
        NsiNetworkProvider.gri(gone, SitePair.of("alpha", "charlie")), lostGri)) {
      assertThat(nsa.stateByGri(gri)).as(gri).endsWith("/Terminated/false");
    }
    assertThat(new JdbcNsiStore(state.database()).all()).extracting(NsiRecord::reservationId)
        .containsExactly(kept);
    q.release(kept).join();
    assertThat(nsa.stateByGri(griKept)).endsWith("/Terminated/false");
    q.close();
  }
}
