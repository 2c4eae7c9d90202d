package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Errors.RequestException;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.crm.testing.TestPilotStarter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SiteSharesTest {
  private final SiteShares shares = new SiteShares(
      new SiteSettings("a", 3, List.of(Ipv4Cidr.parse("10.10.0.0/16")), 1, Duration.ofSeconds(5),
          Duration.ofSeconds(1)),
      new TestPilotStarter(null), () -> new Endpoint("127.0.0.1", 7100), Clock.systemUTC());

  @AfterEach
  void close() {
    shares.close();
  }

  private static ShareSpec spec(String job, int nodes, String range) {
    return new ShareSpec(job, nodes, Ipv4Cidr.parse(range), null, null, "alice", "r-" + job);
  }

  private static ShareSpec spec(String job, int nodes, String range, int fromHour, int toHour) {
    Instant t0 = Instant.parse("2030-01-01T00:00:00Z");
    return new ShareSpec(job, nodes, Ipv4Cidr.parse(range), t0.plusSeconds(3600L * fromHour),
        t0.plusSeconds(3600L * toHour), "alice", "r-" + job);
  }

  private static void assertRefused(Runnable call, Status.Code code, String message) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(RequestException.class, e -> {
      assertThat(e.code()).isEqualTo(code);
      assertThat(e.getMessage()).contains(message);
    });
  }

  @Test
  void reserveHoldsNodesUpToCapacityAndRefusesMoreNamingSiteAndJob() {
    shares.reserve(spec("j-1", 2, "10.10.0.0/29"));
    assertThat(shares.nodesInUse()).isEqualTo(2);
    assertRefused(() -> shares.reserve(spec("j-2", 2, "10.10.0.8/29")),
        Status.Code.FAILED_PRECONDITION, "site 'a' has 1 free node; job j-2 asked for 2");
    shares.reserve(spec("j-3", 1, "10.10.0.8/29"));
    assertThat(shares.nodesInUse()).isEqualTo(3);
  }

  @Test
  void reserveIsIdempotentForTheSameSpecAndRefusesADifferentOne() {
    shares.reserve(spec("j-1", 2, "10.10.0.0/29"));
    shares.reserve(spec("j-1", 2, "10.10.0.0/29"));
    assertThat(shares.nodesInUse()).isEqualTo(2);
    assertRefused(() -> shares.reserve(spec("j-1", 1, "10.10.0.0/29")),
        Status.Code.ALREADY_EXISTS, "job j-1 already holds a share on site 'a'");
  }

  @Test
  void releaseIsIdempotentAndFreesTheHold() {
    shares.reserve(spec("j-1", 3, "10.10.0.0/29"));
    shares.release("j-1", "done");
    shares.release("j-1", "done");
    shares.release("j-unknown", "never existed");
    assertThat(shares.nodesInUse()).isZero();
    shares.reserve(spec("j-2", 3, "10.10.0.0/29"));
  }

  @Test
  void sharesInDisjointWindowsDoNotCountAgainstEachOther() {
    shares.reserve(spec("j-1", 3, "10.10.0.0/29", 0, 1));
    shares.reserve(spec("j-2", 3, "10.10.0.0/29", 1, 2));
    assertRefused(() -> shares.reserve(spec("j-3", 1, "10.10.1.0/29", 0, 2)),
        Status.Code.FAILED_PRECONDITION, "site 'a' has 0 free nodes; job j-3 asked for 1");
  }

  @Test
  void overlappingRangesOfLiveSharesAreRefused() {
    shares.reserve(spec("j-1", 1, "10.10.0.0/29"));
    assertRefused(() -> shares.reserve(spec("j-2", 1, "10.10.0.0/30")),
        Status.Code.FAILED_PRECONDITION, "overlaps range 10.10.0.0/29 that job j-1 holds");
  }

  @Test
  void badRangesAndCountsAreInvalidArguments() {
    assertRefused(() -> shares.reserve(spec("j-1", 1, "192.168.0.0/29")),
        Status.Code.INVALID_ARGUMENT,
        "range: '192.168.0.0/29' is not inside any range site 'a' publishes (10.10.0.0/16)");
    assertRefused(() -> shares.reserve(spec("j-1", 3, "10.10.0.0/30")),
        Status.Code.INVALID_ARGUMENT, "range: '10.10.0.0/30' has 2 usable addresses but"
            + " node_count is 3");
    assertRefused(() -> shares.reserve(spec("j-1", 0, "10.10.0.0/30")),
        Status.Code.INVALID_ARGUMENT, "node_count: '0' must be at least 1");
    assertRefused(() -> shares.reserve(spec("j-1", 1, "10.10.0.0/30", 2, 1)),
        Status.Code.INVALID_ARGUMENT, "end:");
  }

  @Test
  void phasesOfAnUnknownJobAreNotFoundAndOutOfOrderPhasesAreRefused() {
    assertRefused(() -> shares.collectKeys("j-9", null), Status.Code.NOT_FOUND,
        "job 'j-9' holds no share on site 'a'");
    shares.reserve(spec("j-1", 1, "10.10.0.0/29"));
    assertRefused(() -> shares.startGuests("j-1", null), Status.Code.FAILED_PRECONDITION,
        "call SetupNodes first");
  }
}
