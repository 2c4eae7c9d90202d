package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Status;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Errors;

class SiteAccountsTest {
  private static void refused(SiteAccounts a, String gridUser, String message) {
    assertThatThrownBy(() -> a.localAccount(gridUser))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> {
          assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
          assertThat(e.getMessage()).isEqualTo(message);
        });
  }

  @Test
  void byDefaultEveryGridUserRunsAsTheAccountOfItsOwnName() {
    assertThat(SiteAccounts.SAME_NAME.localAccount("alice")).isEqualTo("alice");
    assertThat(SiteAccounts.SAME_NAME.origin("alice")).isNull();
    assertThat(SiteAccounts.SAME_NAME.isSameName()).isTrue();
  }

  @Test
  void theMapComesFirst_thenPrefixNameSuffix() {
    SiteAccounts a = new SiteAccounts(Map.of("alice", "a.smith", "bob", "rsmith"), "grid_", "x",
        false);
    assertThat(a.localAccount("alice")).isEqualTo("a.smith");
    assertThat(a.localAccount("bob")).isEqualTo("rsmith");
    assertThat(a.localAccount("carol")).isEqualTo("grid_carolx");
    assertThat(a.origin("alice")).isEqualTo("accounts.map[alice]");
    assertThat(a.origin("carol")).isEqualTo("accounts.prefix 'grid_' + name + accounts.suffix 'x'");
    assertThat(a.isSameName()).isFalse();
  }

  @Test
  void requireMapRefusesAGridUserTheMapDoesNotName_namingTheFieldAndTheUser() {
    SiteAccounts a = new SiteAccounts(Map.of("alice", "a.smith"), "", "", true);
    assertThat(a.localAccount("alice")).isEqualTo("a.smith");
    refused(a, "carol", "accounts.map: has no entry for grid user 'carol', and"
        + " accounts.require_map is true: this site runs only the grid users its map names (ask"
        + " the site's operator for an account)");
  }

  @Test
  void theRuleNeverGivesRootAnotherUsersAccountOrABadName() {
    refused(new SiteAccounts(Map.of(), "r", "", false), "oot", "accounts: grid user 'oot' would"
        + " be local account 'root' (accounts.prefix 'r' + name + accounts.suffix ''); jobs never"
        + " run as root");
    // The map gives alice the account 'bob': grid user bob may not have it by the default rule.
    SiteAccounts a = new SiteAccounts(Map.of("alice", "bob"), "", "", false);
    refused(a, "bob", "accounts: grid user 'bob' would be local account 'bob' (accounts.prefix ''"
        + " + name + accounts.suffix ''), which accounts.map[alice] gives grid user 'alice'; add"
        + " 'bob' to accounts.map or set accounts.require_map");
    String longName = "a".repeat(30);
    refused(new SiteAccounts(Map.of(), "grid-", "", false), longName, "accounts: grid user '"
        + longName + "' would be local account 'grid-" + longName + "' (accounts.prefix 'grid-'"
        + " + name + accounts.suffix ''), which is not a login name (at most 32 of a-z, 0-9, _ . -)");
  }

  @Test
  void aBadRuleIsRefusedWhenReadNamingTheField() {
    assertThatThrownBy(() -> new SiteAccounts(Map.of("alice", "A.Smith"), "", "", false))
        .hasMessageStartingWith("map[alice]: 'A.Smith' is not a login name");
    assertThatThrownBy(() -> new SiteAccounts(Map.of("Alice", "asmith"), "", "", false))
        .hasMessageStartingWith("map: 'Alice' is not a grid user name");
    assertThatThrownBy(() -> new SiteAccounts(Map.of("alice", "root"), "", "", false))
        .hasMessage("map[alice]: 'root' may not run jobs; jobs never run as root");
    assertThatThrownBy(() -> new SiteAccounts(Map.of("root", "admin"), "", "", false))
        .hasMessage("map: 'root' is not a grid user (jobs never run as root)");
    assertThatThrownBy(() -> new SiteAccounts(
        new java.util.TreeMap<>(Map.of("alice", "shared", "bob", "shared")), "", "", false))
        .hasMessage("map[bob]: 'shared' is already the account of grid user 'alice'"
            + " (map[alice]); each grid user needs an account of its own");
    assertThatThrownBy(() -> new SiteAccounts(Map.of(), "-x", "", false))
        .hasMessageStartingWith("prefix: '-x' cannot begin a login name");
    assertThatThrownBy(() -> new SiteAccounts(Map.of(), "", "/x", false))
        .hasMessageStartingWith("suffix: '/x' cannot end a login name");
  }
}
