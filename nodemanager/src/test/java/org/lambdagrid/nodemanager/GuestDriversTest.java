package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;
import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDrivers;
import org.lambdagrid.nodemanager.driver.fake.FakeGuestDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GuestDriversTest {
  @TempDir Path dir;

  @Test
  void namesIncludeTheProductDriverAndTheTestFake() {
    assertThat(GuestDrivers.names()).containsExactly("fake", "namespaces");
  }

  @Test
  void unknownName_listsTheKnownOnes() {
    assertThatThrownBy(() -> GuestDrivers.create("vserver", new DriverContext(Map.of(), dir)))
        .isInstanceOf(GuestDrivers.UnknownDriverException.class)
        .hasMessage("unknown guest driver 'vserver' (known drivers: fake, namespaces)");
  }

  @Test
  void fakeIsCreatedWithItsSection() {
    var d = GuestDrivers.create("fake", new DriverContext(Map.of("exit_code", 3), dir));
    assertThat(d).isInstanceOf(FakeGuestDriver.class);
    assertThat(((FakeGuestDriver) d).config().exitCode()).isEqualTo(3);
  }

  @Test
  void fakeRejectsABadSection_namingTheField() {
    assertThatThrownBy(() -> GuestDrivers.create("fake",
        new DriverContext(Map.of("fail_at", "lunch"), dir)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("fail_at: 'lunch' is not one of");
  }

  @Test
  void namespacesIsFoundByName_andItsConfigErrorsNameTheField() {
    assertThat(GuestDrivers.names()).contains("namespaces", "fake");
    assertThatThrownBy(() -> GuestDrivers.create("namespaces", new DriverContext(Map.of(), dir)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("attachment:");
  }
}
