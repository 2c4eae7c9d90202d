package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Errors.RequestException;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.reservation.HoldTable;
import org.lambdagrid.common.reservation.Window;
import org.lambdagrid.common.testing.TestClock;
import org.lambdagrid.crm.testing.TestPilotStarter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The CRM's side of the two-phase commit: holds, idempotency, expiry, and shares bound to them. */
class SiteReservationsTest {
  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");

  private final TestClock clock = new TestClock(T0);
  private final SiteShares shares = new SiteShares(
      new SiteSettings("a", 3, List.of(Ipv4Cidr.parse("10.10.0.0/16")), 1, Duration.ofSeconds(5),
          Duration.ofSeconds(1), Duration.ofSeconds(120)),
      new TestPilotStarter(null), () -> new Endpoint("127.0.0.1", 7100), clock);
  private final SiteReservations rs = shares.reservations();

  @AfterEach
  void close() {
    shares.close();
  }

  private static Window hours(int from, int to) {
    return new Window(T0.plusSeconds(3600L * from), T0.plusSeconds(3600L * to));
  }

  private static Ipv4Cidr cidr(String s) {
    return Ipv4Cidr.parse(s);
  }

  private static void assertRefused(Runnable call, Status.Code code, String message) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(RequestException.class, e -> {
      assertThat(e.code()).isEqualTo(code);
      assertThat(e.getMessage()).contains(message);
    });
  }

  @Test
  void duplicatedPrepareCommitAndAbortChangeNothing() {
    rs.prepare("r-1", hours(0, 1), 2, cidr("10.10.0.0/29"), "alice");
    rs.prepare("r-1", hours(0, 1), 2, cidr("10.10.0.0/29"), "alice");
    assertThat(rs.nodesHeldAt(T0)).isEqualTo(2);
    rs.commit("r-1");
    rs.commit("r-1");
    rs.prepare("r-1", hours(0, 1), 2, cidr("10.10.0.0/29"), "alice");
    assertThat(rs.state("r-1")).contains(HoldTable.State.COMMITTED);
    assertThat(rs.nodesHeldAt(T0)).isEqualTo(2);

    rs.abort("r-2"); // overtakes its prepare
    rs.abort("r-2");
    assertRefused(() -> rs.prepare("r-2", hours(0, 1), 1, cidr("10.10.1.0/29"), "alice"),
        Status.Code.ABORTED, "a late or repeated prepare cannot hold it again");
    assertThat(rs.nodesHeldAt(T0)).isEqualTo(2);
  }

  @Test
  void aRefusedPrepareHoldsNothingAndNamesTheShortfall() {
    rs.prepare("r-1", hours(0, 2), 2, cidr("10.10.0.0/29"), "alice");
    assertRefused(() -> rs.prepare("r-2", hours(1, 3), 2, cidr("10.10.0.8/29"), "bob"),
        Status.Code.FAILED_PRECONDITION, "site 'a' has 1 of 3 nodes free in");
    assertRefused(() -> rs.prepare("r-3", hours(1, 3), 1, cidr("10.10.0.0/30"), "bob"),
        Status.Code.FAILED_PRECONDITION, "overlaps range 10.10.0.0/29 that reservation r-1 holds");
    assertRefused(() -> rs.prepare("r-4", hours(0, 1), 4, cidr("10.10.0.0/29"), "bob"),
        Status.Code.INVALID_ARGUMENT, "node_count: '4' is more nodes than site 'a' has (3)");
    assertRefused(() -> rs.prepare("r-5", hours(0, 1), 1, cidr("192.168.0.0/29"), "bob"),
        Status.Code.INVALID_ARGUMENT, "range: '192.168.0.0/29' is not inside any range");
    assertThat(rs.state("r-2")).isEmpty();
    assertThat(rs.nodesHeldAt(T0.plusSeconds(5400))).isEqualTo(2);
    // The same range in a disjoint window is fine.
    rs.prepare("r-6", hours(2, 3), 3, cidr("10.10.0.0/29"), "bob");
  }

  @Test
  void aPreparedHoldExpiresAfterTheHoldTimeAndCannotBeCommittedThen() {
    rs.prepare("r-1", hours(1, 2), 3, cidr("10.10.0.0/29"), "alice");
    clock.set(T0.plusSeconds(121));
    assertThat(rs.state("r-1")).contains(HoldTable.State.EXPIRED);
    assertThat(rs.nodesHeldAt(T0.plusSeconds(3700))).isZero();
    assertRefused(() -> rs.commit("r-1"), Status.Code.FAILED_PRECONDITION, "expired");
  }

  @Test
  void aShareBindsOnlyToACommittedReservationAndOnlyOneJobAtATime() {
    assertRefused(() -> shares.openShare("j-1", "r-1", "alice"), Status.Code.NOT_FOUND,
        "site 'a' holds no reservation 'r-1'");
    rs.prepare("r-1", hours(0, 1), 2, cidr("10.10.0.0/29"), "alice");
    assertRefused(() -> shares.openShare("j-1", "r-1", "alice"), Status.Code.FAILED_PRECONDITION,
        "reservation r-1 is PREPARED on site 'a', not COMMITTED");
    rs.commit("r-1");
    shares.openShare("j-1", "r-1", "alice");
    shares.openShare("j-1", "r-1", "alice");
    assertThat(shares.nodesInUse()).isEqualTo(2);
    assertRefused(() -> shares.openShare("j-2", "r-1", "alice"), Status.Code.FAILED_PRECONDITION,
        "reservation r-1 on site 'a' is in use by job j-1");
  }

  @Test
  void releasingAReservationStopsItsShareAndFreesExactlyItsHold() {
    rs.prepare("r-1", hours(0, 1), 2, cidr("10.10.0.0/29"), "alice");
    rs.prepare("r-2", hours(0, 1), 1, cidr("10.10.0.8/29"), "bob");
    rs.commit("r-1");
    rs.commit("r-2");
    shares.openShare("j-1", "r-1", "alice");
    shares.releaseReservation("r-1", "cancelled");
    shares.releaseReservation("r-1", "cancelled");
    assertThat(shares.jobIds()).isEmpty();
    assertThat(rs.state("r-1")).contains(HoldTable.State.RELEASED);
    assertThat(rs.nodesHeldAt(T0)).isEqualTo(1);
    assertRefused(() -> shares.openShare("j-2", "r-1", "alice"), Status.Code.FAILED_PRECONDITION,
        "is RELEASED");
  }
}
