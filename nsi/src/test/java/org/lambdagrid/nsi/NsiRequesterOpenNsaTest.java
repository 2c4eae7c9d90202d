package org.lambdagrid.nsi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The requester against the real OpenNSA of scripts/opennsa-local (dud backend). */
class NsiRequesterOpenNsaTest {
  private OpenNsa nsa;
  private NsiRequester requester;
  private final List<String> events = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp() {
    nsa = OpenNsa.get();
    requester = nsa.start(Duration.ofSeconds(20), new NsiEvents() {
      @Override
      public void dataPlaneStateChange(String connectionId, boolean active) {
        events.add(connectionId + " dataPlane " + active);
      }

      @Override
      public void errorEvent(String connectionId, String event, String text) {
        events.add(connectionId + " error " + event + " " + text);
      }
    });
  }

  /** Connections a failed test may have left: terminated in tearDown. */
  private final List<String> made = new CopyOnWriteArrayList<>();

  @AfterEach
  void tearDown() {
    if (requester != null) {
      for (String id : made) {
        try {
          requester.terminate(id);
        } catch (NsiException e) {
          // already terminated
        }
      }
      requester.close();
    }
  }

  private NsiRequester.Circuit circuit(String a, String b, long mbps, String gri) {
    return new NsiRequester.Circuit(nsa.stp(a), nsa.stp(b), mbps, null,
        Instant.now().plus(Duration.ofMinutes(10)), gri, "lambdagrid test");
  }

  @Test
  void reserveCommitProvisionReleaseTerminateAsOpenNsaRecordsThem() throws Exception {
    String gri = "urn:uuid:" + UUID.randomUUID();
    AtomicReference<String> early = new AtomicReference<>();
    String id = requester.reserve(circuit("alpha", "bravo", 100, gri), early::set);
    made.add(id);
    assertThat(early.get()).isEqualTo(id);
    assertThat(nsa.backendState(id)).isEqualTo("ReserveHeld/Released/Created/false");

    requester.commit(id);
    assertThat(nsa.backendState(id)).isEqualTo("ReserveStart/Released/Created/false");
    assertThat(requester.query(List.of(), List.of(gri)))
        .extracting(NsiConnection::connectionId, NsiConnection::reservationState)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(id, "ReserveStart"));

    requester.provision(id);
    await().atMost(Duration.ofSeconds(20))
        .until(() -> nsa.backendState(id), s -> s.equals("ReserveStart/Provisioned/Created/true"));
    await().atMost(Duration.ofSeconds(10)).until(() -> events.contains(id + " dataPlane true"));

    requester.release(id);
    await().atMost(Duration.ofSeconds(20))
        .until(() -> nsa.backendState(id), s -> s.equals("ReserveStart/Released/Created/false"));
    await().atMost(Duration.ofSeconds(10)).until(() -> events.contains(id + " dataPlane false"));

    requester.terminate(id);
    assertThat(nsa.backendState(id)).endsWith("/Terminated/false");
    assertThat(requester.query(List.of(id), List.of()).get(0).terminated()).isTrue();
  }

  @Test
  void abortDropsTheHeldReservationAndFreesItsVlan() throws Exception {
    String id = requester.reserve(circuit("charlie", "delta", 100, "urn:uuid:" + UUID.randomUUID()),
        made::add);
    requester.abort(id);
    assertThat(nsa.backendState(id)).startsWith("ReserveStart/");
    requester.terminate(id);
    assertThat(nsa.backendState(id)).endsWith("/Terminated/false");
  }

  @Test
  void overCapacityIsRefusedWithOpenNsasReason() {
    assertThatThrownBy(() -> requester.reserve(
        circuit("alpha", "bravo", 5000, "urn:uuid:" + UUID.randomUUID()), null))
        .isInstanceOf(NsiException.class)
        .hasMessageContaining(nsa.providerNsa())
        .hasMessageContaining("Port alpha cannot provide 5000 Mbps (its capacity is 500 Mbps)")
        .hasMessageContaining("00705");
  }

  @Test
  void anUnknownStpIsRefusedNamingIt() {
    assertThatThrownBy(() -> requester.reserve(
        circuit("alpha", "zulu", 10, "urn:uuid:" + UUID.randomUUID()), null))
        .isInstanceOf(NsiException.class)
        .hasMessageContaining(nsa.providerNsa() + " refused reserve")
        .hasMessageContaining("No STP named urn:ogf:network:lambdagrid.test:2026:topology:zulu");
  }

  @Test
  void providerIdentityReplacesTheUrlHostWhenDialingAndOnCallbacks() throws Exception {
    // provider_url's host is 127.0.0.1; OpenNSA's certificate also names localhost
    requester.close();
    requester = nsa.start(Duration.ofSeconds(20), null, List.of("localhost"));
    String id = requester.reserve(circuit("echo", "foxtrot", 10, "urn:uuid:" + UUID.randomUUID()),
        made::add); // dialed, and the reserveConfirmed callback accepted
    requester.abort(id);
    requester.terminate(id);
    assertThat(nsa.backendState(id)).endsWith("/Terminated/false");

    try (NsiRequester other = nsa.start(Duration.ofSeconds(10), null,
        List.of("nsa.example.net"))) {
      assertThatThrownBy(() -> other.query(List.of(id), List.of()))
          .isInstanceOf(NsiException.class)
          .hasStackTraceContaining("names none of [nsa.example.net] (nsi.provider_identity)");
    }
  }
}
