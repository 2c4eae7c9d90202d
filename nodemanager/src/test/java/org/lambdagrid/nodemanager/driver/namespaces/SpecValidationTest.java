package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/** SETUP's checks before anything is built; needs no root. */
class SpecValidationTest {

  @Test
  void specValidationRejectsBadAddressesBeforeAnythingIsBuilt() {
    assertThatThrownBy(() -> SpecValidation.validate(new GuestSpec("j", "site 0", "10.0.0.1",
        24, List.of("10.1.0.0/33"), "u")))
        .isInstanceOf(GuestException.class)
        .hasMessageContaining("hostname 'site 0'")
        .hasMessageContaining("route '10.1.0.0/33' is not an IPv4 CIDR block");
    assertThatThrownBy(() -> SpecValidation.validate(new GuestSpec("j", "site-0", "10.0.0",
        0, List.of(), "u")))
        .hasMessageContaining("address '10.0.0'").hasMessageContaining("prefix length 0");
    assertThatThrownBy(() -> SpecValidation.validate(new GuestSpec("j", "site-0", "10.0.0.1",
        24, List.of(), "u", "br0; rm -rf /")))
        .hasMessageContaining("bridge 'br0; rm -rf /' is not an interface name");
    assertThatThrownBy(() -> SpecValidation.validate(new GuestSpec("j", "site-0", "10.0.0.1",
        24, List.of(), "u", "lgn0123456789abcdef")))
        .hasMessageContaining("is not an interface name");
  }

  @Test
  void aValidSpecPasses() throws Exception {
    SpecValidation.validate(new GuestSpec("j", "site-0.example", "10.0.0.1", 24,
        List.of("10.1.0.0/16"), "u", "br0"));
  }

  @Test
  void theBridgeIsTheConfiguredOneUnlessTheSpecNamesOne() throws Exception {
    GuestSpec onDefault = new GuestSpec("j", "site-0", "10.0.0.1", 24, List.of(), "u");
    assertThat(SpecValidation.bridgeFor(NamespacesDriverConfig.bridge("lgbr0"), onDefault))
        .isEqualTo("lgbr0");
    assertThat(SpecValidation.bridgeFor(NamespacesDriverConfig.macvlan("eth1"), onDefault))
        .isNull();
    assertThatThrownBy(() -> SpecValidation.bridgeFor(NamespacesDriverConfig.bridge("lgbr0"),
        new GuestSpec("j", "site-0", "10.0.0.1", 24, List.of(), "u", "lgnosuchbr9")))
        .hasMessageContaining("bridge 'lgnosuchbr9' (the reservation's, from SETUP) does not"
            + " exist");
  }

  @Test
  void aMacvlanNodeRefusesTheReservationsBridge() {
    assertThatThrownBy(() -> SpecValidation.bridgeFor(NamespacesDriverConfig.macvlan("eth1"),
        new GuestSpec("j", "site-0", "10.0.0.1", 24, List.of(), "u", "br0")))
        .isInstanceOf(GuestException.class)
        .hasMessageContaining("cannot attach to the reservation's bridge 'br0'");
  }

  @Test
  void usersThatCannotRunJobsAreRefused() {
    assertThatThrownBy(() -> GuestUser.lookup("Not A Name"))
        .hasMessageContaining("is not a valid login name");
    assertThatThrownBy(() -> GuestUser.lookup("root"))
        .hasMessageContaining("has uid 0; jobs never run as root");
  }
}
