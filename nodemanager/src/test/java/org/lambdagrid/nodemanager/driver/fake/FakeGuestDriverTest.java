package org.lambdagrid.nodemanager.driver.fake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.Base64;
import java.util.List;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FakeGuestDriverTest {
  @TempDir Path dir;

  @Test
  void publicKeyLine_roundTripsToTheRawKeyBytes() {
    KeyPair kp = OpenSshKeys.generate();
    String line = OpenSshKeys.publicKeyLine(kp.getPublic(), "alice@tokyo-0");
    assertThat(line).matches("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} alice@tokyo-0");
    assertThat(OpenSshKeys.parseEd25519(line)).isEqualTo(OpenSshKeys.raw(kp.getPublic()));
    byte[] blob = Base64.getDecoder().decode(line.split(" ")[1]);
    assertThat(blob).hasSize(4 + 11 + 4 + 32);
  }

  @Test
  void parse_rejectsOtherKeyTypes() {
    assertThatThrownBy(() -> OpenSshKeys.parseEd25519("ssh-rsa AAAAB3Nza x"))
        .hasMessageContaining("not an ssh-ed25519 line");
  }

  @Test
  void guestsAreRecordedOnDisk_recoveredOnlyOnceTheirOwnerIsGone_andDestroyedCompletely() throws Exception {
    FakeGuestDriver first = new FakeGuestDriver(FakeConfig.none(), dir);
    GuestSpec spec = new GuestSpec("j-1", "osaka-1", "10.10.0.2", 24, List.of("10.20.0.0/24"),
        "bob");
    GuestHandle h = first.build(spec);
    assertThat(Files.readString(h.stateDir().resolve("id_ed25519.pub"))).startsWith("ssh-ed25519 ");

    FakeGuestDriver restarted = new FakeGuestDriver(FakeConfig.none(), dir);
    assertThat(restarted.recover()).as("a live owner's guest").isEmpty();
    first.crash();
    List<GuestHandle> found = restarted.recover();
    assertThat(found).extracting(GuestHandle::spec).containsExactly(spec);
    assertThat(restarted.destroy(found.get(0))).isEmpty();
    assertThat(restarted.recover()).isEmpty();
    assertThat(restarted.destroy(found.get(0))).isEmpty(); // idempotent
  }
}
