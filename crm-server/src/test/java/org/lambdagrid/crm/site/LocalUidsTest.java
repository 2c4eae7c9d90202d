package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Errors;

/**
 * accounts.min_uid's look-up against a fake {@code getent}: only "not found" (exit 2) means
 * "unknown here"; a timeout, another exit status or an entry it cannot read is UNAVAILABLE,
 * never "allowed", and is not reused.
 */
class LocalUidsTest {
  @TempDir Path dir;

  /** A getent whose answer for each account is the script {@code DIR/ACCOUNT} (else exit 2). */
  private LocalUids uids() throws Exception {
    Path getent = dir.resolve("getent");
    Files.writeString(getent, "#!/bin/sh\n[ -f '" + dir + "/'\"$2\" ] || exit 2\n. '" + dir
        + "/'\"$2\"\n");
    Files.setPosixFilePermissions(getent, PosixFilePermissions.fromString("rwx------"));
    return new LocalUids(getent, 500);
  }

  private void answer(String account, String script) throws Exception {
    Files.writeString(dir.resolve(account), script);
  }

  private static void unavailable(LocalUids u, String account, String why) {
    assertThatThrownBy(() -> u.uid(account))
        .isInstanceOfSatisfying(Errors.RequestException.class,
            e -> assertThat(e.code()).isEqualTo(Status.Code.UNAVAILABLE))
        .hasMessageContaining("accounts.min_uid: cannot look up the uid of local account '"
            + account + "'").hasMessageContaining(why);
  }

  @Test
  void onlyNotFoundIsUnknownAndEveryOtherFailureIsUnavailable() throws Exception {
    LocalUids u = uids();
    answer("alice", "echo 'alice:x:1001:1001::/home/alice:/bin/sh'\n");
    assertThat(u.uid("alice")).isEqualTo(1001);
    assertThat(u.uid("nosuch")).isNull(); // exit 2: the host does not know it
    answer("erring", "exit 1\n");
    unavailable(u, "erring", "exited with status 1");
    answer("garbled", "echo 'garbled:x:notanumber'\n");
    unavailable(u, "garbled", "answered an entry that is not account 'garbled' with a uid");
    answer("slow", "sleep 5\n");
    unavailable(u, "slow", "did not answer within 500 ms");
  }

  @Test
  void aFailedLookUpIsNotReused() throws Exception {
    LocalUids u = uids();
    answer("bob", "exit 3\n");
    unavailable(u, "bob", "exited with status 3");
    answer("bob", "echo 'bob:x:1002:1002::/home/bob:/bin/sh'\n");
    assertThat(u.uid("bob")).isEqualTo(1002); // asked again at once
  }

  @Test
  void withoutGetentNothingIsChecked() {
    assertThat(new LocalUids(null, 500).uid("daemon")).isNull();
  }
}
