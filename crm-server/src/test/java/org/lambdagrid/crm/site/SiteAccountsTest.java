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

  @Test
  void anAccountBelowMinUidIsASystemAccountAndIsRefusedNamingTheFieldAndValue() {
    Map<String, Integer> uids = Map.of("daemon", 1, "www-data", 33, "a.smith", 1001,
        "grid-carol", 999);
    SiteAccounts a = new SiteAccounts(Map.of("alice", "a.smith", "mallory", "daemon"), "", "",
        false, SiteAccounts.DEFAULT_MIN_UID, uids::get);
    assertThat(SiteAccounts.DEFAULT_MIN_UID).isEqualTo(1000);
    assertThat(a.localAccount("alice")).isEqualTo("a.smith");
    refused(a, "mallory", "accounts.min_uid: local account 'daemon' of grid user 'mallory'"
        + " (accounts.map[mallory]) has uid 1, below accounts.min_uid 1000: a system account"
        + " never runs jobs (map the user to a regular account, or lower accounts.min_uid)");
    refused(a, "www-data", "accounts.min_uid: local account 'www-data' of grid user 'www-data'"
        + " has uid 33, below accounts.min_uid 1000: a system account never runs jobs (map the"
        + " user to a regular account, or lower accounts.min_uid)");
    assertThat(a.localAccount("nobody-known")).isEqualTo("nobody-known"); // unknown here: node's
    SiteAccounts prefixed = new SiteAccounts(Map.of(), "grid-", "", false, 999, uids::get);
    assertThat(prefixed.localAccount("carol")).isEqualTo("grid-carol"); // 999 is not below 999
    assertThatThrownBy(() -> new SiteAccounts(Map.of(), "", "", false, 0, uids::get))
        .hasMessage("min_uid: '0' must be at least 1 (uid 0 is root, which never runs jobs)");
  }

  @Test
  void byDefaultTheCrmHostsSystemAccountsAreRefused() {
    // daemon is uid 1 on every Linux distribution; the default looks it up with getent.
    org.junit.jupiter.api.Assumptions.assumeTrue(
        org.lambdagrid.common.security.HostTools.find("getent",
            org.lambdagrid.common.security.HostTools.SYSTEM_DIRS) != null, "needs getent");
    assertThatThrownBy(() -> SiteAccounts.SAME_NAME.localAccount("daemon"))
        .hasMessageStartingWith("accounts.min_uid: local account 'daemon' of grid user 'daemon'"
            + " has uid 1, below accounts.min_uid 1000");
    assertThatThrownBy(() -> new SiteAccounts(Map.of("alice", "daemon"), "", "", false)
        .localAccount("alice")).hasMessageContaining("(accounts.map[alice]) has uid 1");
  }

  @Test
  void nobodyTheOverflowUidIsRefusedThoughAboveMinUid() {
    Map<String, Integer> uids = Map.of("nobody", 65534, "big", 70000);
    SiteAccounts a = new SiteAccounts(Map.of("alice", "nobody"), "", "", false,
        SiteAccounts.DEFAULT_MIN_UID, uids::get);
    refused(a, "alice", "accounts: local account 'nobody' of grid user 'alice'"
        + " (accounts.map[alice]) has uid 65534 (nobody, the overflow uid that unmapped users"
        + " show as): it never runs jobs (map the user to a regular account)");
    SiteAccounts same = new SiteAccounts(Map.of(), "", "", false, SiteAccounts.DEFAULT_MIN_UID,
        uids::get);
    refused(same, "nobody", "accounts: local account 'nobody' of grid user 'nobody' has uid 65534"
        + " (nobody, the overflow uid that unmapped users show as): it never runs jobs (map the"
        + " user to a regular account)");
    assertThat(same.localAccount("big")).isEqualTo("big"); // a large regular uid (e.g. LDAP's)
  }

  @Test
  void aLookUpThatFailsRefusesUnavailableAndIsNotTakenAsAllowed() {
    SiteAccounts a = new SiteAccounts(Map.of(), "", "", false, SiteAccounts.DEFAULT_MIN_UID,
        name -> {
          throw Errors.unavailable("accounts.min_uid: cannot look up the uid of local account '"
              + name + "'");
        });
    assertThatThrownBy(() -> a.localAccount("daemon"))
        .isInstanceOfSatisfying(Errors.RequestException.class,
            e -> assertThat(e.code()).isEqualTo(Status.Code.UNAVAILABLE))
        .hasMessageContaining("local account 'daemon'");
  }
}
