package org.lambdagrid.grc.site;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Errors;

class SiteRegistryTest {
  private final AddressAllocator allocator = new AddressAllocator();
  private final SiteRegistry registry = new SiteRegistry(Clock.systemUTC(), allocator);

  private static org.assertj.core.api.ThrowableAssertAlternative<Errors.RequestException>
      refused(Status.Code code, org.assertj.core.api.ThrowableAssert.ThrowingCallable call) {
    return org.assertj.core.api.Assertions.assertThatExceptionOfType(Errors.RequestException.class)
        .isThrownBy(call).matches(e -> e.code() == code, "code " + code);
  }

  @Test
  void registersWithDefaultsAndSortedRanges() {
    Site s = registry.register("tokyo", "crm.tokyo:7400", 8,
        List.of("10.20.0.0/16", "10.10.0.0/16"), 0);
    assertThat(s.slotsPerNode()).isEqualTo(1);
    assertThat(s.ranges()).extracting(Object::toString)
        .containsExactly("10.10.0.0/16", "10.20.0.0/16");
    assertThat(registry.list()).extracting(Site::name).containsExactly("tokyo");
  }

  @Test
  void invalidCidrNamesTheIndexAndValue() {
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("a", "h:1", 1,
        List.of("10.0.0.0/24", "10.0.0.0/33"), 1))
        .withMessageStartingWith("ranges[1]: '10.0.0.0/33' is not a CIDR block");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("a", "h:1", 1,
        List.of("10.0.0.1/24"), 1))
        .withMessageContaining("ranges[0]: '10.0.0.1/24'").withMessageContaining("host bits");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("a", "h:1", 1, List.of(), 1))
        .withMessageStartingWith("ranges:");
  }

  @Test
  void overlappingOwnRangesAreAlreadyExists() {
    refused(Status.Code.ALREADY_EXISTS, () -> registry.register("a", "h:1", 1,
        List.of("10.0.0.0/16", "10.0.5.0/24"), 1))
        .withMessage("site 'a': ranges[1] '10.0.5.0/24' overlaps ranges[0] '10.0.0.0/16'");
    assertThat(registry.list()).isEmpty();
  }

  @Test
  void badNameEndpointCapacityAreInvalid() {
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("Tokyo", "h:1", 1,
        List.of("10.0.0.0/24"), 1)).withMessageStartingWith("name: 'Tokyo'");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("a-very-long-site-name", "h:1",
        1, List.of("10.0.0.0/24"), 1)).withMessageStartingWith("name: 'a-very-long-site-name'");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("a", "nohost", 1,
        List.of("10.0.0.0/24"), 1)).withMessageStartingWith("crm_endpoint: 'nohost'");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("a", "h:99999", 1,
        List.of("10.0.0.0/24"), 1)).withMessageStartingWith("crm_endpoint: 'h:99999'");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("a", "h:1", 0,
        List.of("10.0.0.0/24"), 1)).withMessageStartingWith("node_capacity: '0'");
  }

  @Test
  void differentSitesMayPublishTheSameRange() {
    registry.register("a", "h:1", 1, List.of("10.10.0.0/16"), 1);
    registry.register("b", "h:2", 1, List.of("10.10.0.0/16"), 1);
    assertThat(registry.list()).hasSize(2);
  }

  @Test
  void reRegistrationMayNotDropHeldCapacityOrLeasedRanges() {
    // Reservations hold at most 3 of a's nodes from now on, none of b's.
    SiteRegistry registry = new SiteRegistry(Clock.systemUTC(), allocator,
        site -> site.equals("a") ? 3 : 0, site -> { });
    Site a = registry.register("a", "h:1", 4, List.of("10.0.0.0/24", "10.1.0.0/24"), 1);
    allocator.allocate("j-1", Map.of(a, 3));
    refused(Status.Code.FAILED_PRECONDITION, () -> registry.register("a", "h:1", 2,
        List.of("10.0.0.0/24"), 1)).withMessage("site 'a': node_capacity 2 is less than the 3"
            + " nodes its reservations hold");
    assertThat(registry.register("a", "h:1", 3, List.of("10.0.0.0/24", "10.1.0.0/24"), 1)
        .nodeCapacity()).isEqualTo(3);
    refused(Status.Code.FAILED_PRECONDITION, () -> registry.register("a", "h:1", 4,
        List.of("10.1.0.0/24"), 1)).withMessageContaining("drop 10.0.0.0/29");
    // Dropping the unused range is fine.
    assertThat(registry.register("a", "h:9", 4, List.of("10.0.0.0/24"), 2).crmEndpoint().port())
        .isEqualTo(9);
  }

  @Test
  void aRoutedSitesOverlayEndIsKeptWithDefaultsAndBadOnesAreRefusedNamingFieldAndValue() {
    Site a = registry.register("alpha", "h:1", 1, List.of("10.1.0.0/24"), 1,
        new Site.Overlay("172.31.255.2", null, 0));
    assertThat(a.overlay()).isEqualTo(new Site.Overlay("172.31.255.2", "", 1500));
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("bravo", "h:2", 1, List.of("10.2.0.0/24"), 1,
        new Site.Overlay("172.31.256.6", "", 1550)))
        .withMessageStartingWith("overlay.endpoint: '172.31.256.6'");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("bravo", "h:2", 1, List.of("10.2.0.0/24"), 1,
        new Site.Overlay("224.0.0.5", "", 1550)))
        .withMessageStartingWith("overlay.endpoint: '224.0.0.5'").withMessageContaining("unicast");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("bravo", "h:2", 1, List.of("10.2.0.0/24"), 1,
        new Site.Overlay("172.31.255.6", "../x", 1550)))
        .withMessageStartingWith("overlay.netns: '../x'");
    refused(Status.Code.INVALID_ARGUMENT, () -> registry.register("bravo", "h:2", 1, List.of("10.2.0.0/24"), 1,
        new Site.Overlay("172.31.255.6", "", 1200)))
        .withMessageStartingWith("overlay.underlay_mtu: '1200'");
    // Another site's endpoint: a clash, naming both sites.
    refused(Status.Code.ALREADY_EXISTS, () -> registry.register("bravo", "h:2", 1, List.of("10.2.0.0/24"), 1,
        new Site.Overlay("172.31.255.2", "", 1550)))
        .withMessageContaining("overlay.endpoint '172.31.255.2'").withMessageContaining("site 'alpha'");
    // Nothing of the refused registrations was kept.
    assertThat(registry.list()).extracting(Site::name).containsExactly("alpha");
    // The same endpoint in another namespace (the testbed's sites) is fine; alpha re-registering its own too.
    assertThat(registry.register("bravo", "h:2", 1, List.of("10.2.0.0/24"), 1,
        new Site.Overlay("172.31.255.2", "lg-site-bravo", 1550)).overlay().netns()).isEqualTo("lg-site-bravo");
    assertThat(registry.register("alpha", "h:1", 1, List.of("10.1.0.0/24"), 1,
        new Site.Overlay("172.31.255.2", "", 9000)).overlay().underlayMtu()).isEqualTo(9000);
  }
}
