package org.lambdagrid.common.security;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Instant;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ConfigException;

/** The tokens file: who may own it, its mode, and every line well formed. */
class BearerTokensTest {
  @TempDir Path dir;

  private Path file(String text, String mode) throws Exception {
    Path f = dir.resolve("tokens");
    Files.writeString(f, text);
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(mode));
    return f;
  }

  private static String line(String token, String role, String name) {
    return "sha256:" + BearerTokens.hash(token) + " " + role + " " + name + "\n";
  }

  @Test
  void aFileGroupOrOthersMayReadOrWriteIsRefusedNamingFileAndMode() throws Exception {
    for (String mode : new String[] {"rw-r--r--", "rw--w----", "rw-----w-", "rw-r-----"}) {
      Path f = file(line(BearerTokens.PREFIX + "x", "user", "alice"), mode);
      assertThatThrownBy(() -> new BearerTokens(f)).isInstanceOf(ConfigException.class)
          .hasMessageStartingWith("tokens file " + f + ": mode 0")
          .hasMessageContaining("(" + mode + ") lets group or others read or write it")
          .hasMessageContaining("chmod 600 " + f);
    }
    Path ok = file(line(BearerTokens.PREFIX + "x", "user", "alice"), "rw-------");
    assertThat(new BearerTokens(ok).lookup(BearerTokens.PREFIX + "x"))
        .contains(new PeerIdentity(Role.USER, "alice"));
    assertThatThrownBy(() -> new BearerTokens(file("", "rw-rw-rw-")))
        .hasMessageContaining(": mode 0666 (rw-rw-rw-)");
    // issue-token does not append to such a file either.
    Path open = file("", "rw-r--r--");
    assertThatThrownBy(() -> BearerTokens.issue(open, Role.OPERATOR, "admin"))
        .hasMessageContaining("mode 0644");
    assertThat(Files.readString(open)).isEmpty();
  }

  @Test
  void aFileOfAnotherUserIsRefused() throws Exception {
    Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
        "only root can give a file to another user");
    Path f = file(line(BearerTokens.PREFIX + "x", "operator", "admin"), "rw-------");
    UserPrincipal nobody = f.getFileSystem().getUserPrincipalLookupService()
        .lookupPrincipalByName("nobody");
    Files.setOwner(f, nobody);
    assertThatThrownBy(() -> new BearerTokens(f)).isInstanceOf(ConfigException.class)
        .hasMessage("tokens file " + f + ": belongs to 'nobody', not to root or the GRC's user"
            + " 'root' (its owner could add tokens); chown it");
  }

  @Test
  void aMalformedLineIsAnErrorNamingItsNumberAndNeverQuotingIt() throws Exception {
    String good = line(BearerTokens.PREFIX + "a", "user", "alice");
    String secret = BearerTokens.PREFIX + "s3cretS3cretS3cretS3cretS3cretS3cret";
    String[][] cases = {
        {"# comment\n\n" + good + "sha256:abc user bob\n", "line 4: expected 'sha256:"},
        {good + "sha256:" + "Z".repeat(64) + " user bob\n", "line 2: expected"},
        {good + "sha256:" + "a".repeat(64) + " admin bob\n",
            "line 2: the second field is neither user nor operator"},
        {good + "sha256:" + "a".repeat(64) + " user b/o/b\n", "line 2: the third field is not"},
        {good + good, "line 2: repeats the hash of an earlier line"},
        {good + secret + " user bob\n", "line 2: holds a token itself, not its hash"},
        {good + "sha256:" + "a".repeat(64) + " user\n", "line 2: expected"},
    };
    for (String[] c : cases) {
      Path f = file(c[0], "rw-------");
      assertThatThrownBy(() -> new BearerTokens(f)).isInstanceOf(ConfigException.class)
          .hasMessageStartingWith("tokens file " + f + ": ")
          .hasMessageContaining(c[1])
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain(secret, "s3cret", "b/o/b",
              "admin bob", "Z".repeat(64)));
    }
  }

  @Test
  void aRefusedReloadKeepsTheLastGoodTokensAndAGoodOneRevokes() throws Exception {
    String a = BearerTokens.PREFIX + "a";
    String b = BearerTokens.PREFIX + "b";
    Path f = file(line(a, "user", "alice") + line(b, "user", "bob"), "rw-------");
    BearerTokens tokens = new BearerTokens(f);
    assertThat(tokens.lookup(b)).isPresent();
    // A broken edit (or one someone else made while the mode was open) is not taken.
    Files.writeString(f, line(a, "user", "alice") + "garbage\n");
    Files.setLastModifiedTime(f, FileTime.from(Instant.now().plusSeconds(5)));
    assertThat(tokens.lookup(b)).as("last good load").isPresent();
    Files.writeString(f, line(a, "user", "alice") + line(b, "operator", "bob"));
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw-rw-"));
    Files.setLastModifiedTime(f, FileTime.from(Instant.now().plusSeconds(10)));
    assertThat(tokens.lookup(b)).as("an open file is not read")
        .contains(new PeerIdentity(Role.USER, "bob"));
    // Fixed: bob's line deleted, which revokes his token.
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
    Files.writeString(f, line(a, "user", "alice"));
    Files.setLastModifiedTime(f, FileTime.from(Instant.now().plusSeconds(15)));
    assertThat(tokens.lookup(b)).isEmpty();
    assertThat(tokens.lookup(a)).contains(new PeerIdentity(Role.USER, "alice"));
  }
}
