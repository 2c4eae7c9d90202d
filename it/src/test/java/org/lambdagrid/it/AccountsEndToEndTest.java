package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.lambdagrid.it.Testbed.JSON;
import static org.lambdagrid.it.Testbed.REPO;
import static org.lambdagrid.it.Testbed.TESTBED_LINKS;
import static org.lambdagrid.it.Testbed.TESTBED_MOUNTS;
import static org.lambdagrid.it.Testbed.USER;
import static org.lambdagrid.it.Testbed.grcAsUser;
import static org.lambdagrid.it.Testbed.job;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * User names differ between sites: on the testbed, site bravo runs grid user {@link Testbed#USER}
 * as its local account {@link #BRAVO_USER} ({@code testbed up --account bravo:lgtest=lgtestb},
 * accounts.map in bravo's crm.yaml), alpha as the same name. One MPI job across both sites runs
 * each rank as its site's account with that account's home, MPI's ssh launch logs in with the
 * right name per host (each guest's ssh config), and {@code grc hosts} shows the names. A mapped
 * account missing on the node fails the job naming the account and the crm.yaml entry, and leaves
 * nothing behind. Needs root, sshd, mpicc; skipped with the reason otherwise.
 */
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AccountsEndToEndTest {
  /** Grid user lgtest's local account on bravo; made here and removed again at the end. */
  static final String BRAVO_USER = "lgtestb";
  /** Where the program lives: a directory every site's account can read (a shared path). */
  static final Path WORK = Path.of("/var/tmp/lgtest-accounts");

  private static boolean up;
  private static boolean madeUser;

  @BeforeAll
  static void upTheTestbed() throws Exception {
    Testbed.assumeCanRun(List.of("useradd", "userdel"), "run scripts/setup-host");
    Path home = MpiUser.prepare(USER, "lambdagrid-e2e", REPO);
    if (Sh.run(Duration.ofSeconds(10), "id", BRAVO_USER).exit() != 0) {
      Sh.run(Duration.ofSeconds(30), "useradd", "-m", "-s", "/bin/bash", BRAVO_USER)
          .orFail("useradd " + BRAVO_USER);
    }
    madeUser = true;
    // '*', not '!': sshd with UsePAM no refuses a locked account.
    Sh.run(Duration.ofSeconds(10), "usermod", "-p", "*", BRAVO_USER).orFail("usermod");
    Sh.run(Duration.ofSeconds(10), "rm", "-rf", WORK.toString()).orFail("rm");
    Sh.run(Duration.ofSeconds(10), "install", "-d", "-o", USER, "-m", "755", WORK.toString())
        .orFail("install -d");
    Sh.run(Duration.ofSeconds(10), "install", "-o", USER, "-m", "755",
        home.resolve("mpi_hello").toString(), WORK.resolve("mpi_hello").toString())
        .orFail("install mpi_hello");
    up = true;
    Testbed.up("--account", "bravo:" + USER + "=" + BRAVO_USER);
  }

  @AfterAll
  static void downTheTestbed() throws Exception {
    try {
      if (up) {
        Testbed.down();
      }
    } finally {
      Sh.run(Duration.ofSeconds(10), "rm", "-rf", WORK.toString());
      if (madeUser) {
        Sh.run(Duration.ofSeconds(30), "userdel", "-r", BRAVO_USER);
      }
    }
  }

  @Test
  @Order(1)
  void mpiAcrossSitesRunsEachRankAsItsSitesLocalAccount_andGrcHostsShowsTheNames()
      throws Exception {
    Sh.Result r = grcAsUser(Duration.ofMinutes(3), "submit", "--site", "alpha=2", "--site",
        "bravo=2", "--wait", "--workdir", WORK.toString(), "--", "sh", "-c",
        "mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 4 ./mpi_hello"
            + " && exec mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 4"
            + " sh -c 'echo \"who $(hostname) $(id -un) $HOME\"'");
    assertThat(r.exit()).as("grc submit --wait\n" + r.out() + r.err()).isZero();
    Matcher id = Pattern.compile("submitted (j-[0-9a-f]{8})").matcher(r.err());
    assertThat(id.find()).as(r.err()).isTrue();
    String jobId = id.group(1);

    Map<String, String> account = Map.of("alpha-0", USER, "alpha-1", USER,
        "bravo-0", BRAVO_USER, "bravo-1", BRAVO_USER);
    Map<String, String> uid = Map.of(USER, id(USER, "-u"), BRAVO_USER, id(BRAVO_USER, "-u"));
    Map<String, String> home = Map.of(USER, homeOf(USER), BRAVO_USER, homeOf(BRAVO_USER));
    assertThat(uid.get(USER)).isNotEqualTo(uid.get(BRAVO_USER));

    // grc hosts: every node with the local account its site runs lgtest as.
    JsonNode hosts = JSON.readTree(grcAsUser(Duration.ofSeconds(30), "hosts", jobId, "-o",
        "json").orFail("grc hosts").out());
    Map<String, String> addressOf = new HashMap<>();
    Map<String, String> shown = new HashMap<>();
    hosts.get("nodes").forEach(n -> {
      addressOf.put(n.get("hostname").asText(), n.get("address").asText());
      shown.put(n.get("hostname").asText(), n.get("localUser").asText());
    });
    assertThat(shown).isEqualTo(account);
    String table = grcAsUser(Duration.ofSeconds(30), "hosts", jobId).orFail("grc hosts").out();
    assertThat(table.lines().findFirst().orElseThrow()).endsWith("USER");
    assertThat(table.lines().filter(l -> l.startsWith("bravo-")).toList())
        .hasSize(2).allSatisfy(l -> assertThat(l).endsWith(" " + BRAVO_USER));
    assertThat(table.lines().filter(l -> l.startsWith("alpha-")).toList())
        .hasSize(2).allSatisfy(l -> assertThat(l).endsWith(" " + USER));

    // MPI: 4 ranks on the 4 guests at their addresses, each with its site's account's uid.
    Pattern rank = Pattern.compile("rank (\\d) of 4 on (\\S+) \\((\\S+)\\) uid (\\d+)");
    Map<String, String> seen = new HashMap<>();
    for (String line : r.out().lines().toList()) {
      Matcher m = rank.matcher(line);
      if (m.matches()) {
        assertThat(m.group(3)).as(line).isEqualTo(addressOf.get(m.group(2)));
        assertThat(m.group(4)).as(line).isEqualTo(uid.get(account.get(m.group(2))));
        seen.put(m.group(1), m.group(2));
      }
    }
    assertThat(seen).as(r.out()).containsOnlyKeys("0", "1", "2", "3");
    assertThat(seen.values()).containsExactlyInAnyOrder("alpha-0", "alpha-1", "bravo-0",
        "bravo-1");
    assertThat(r.out()).contains("allreduce: sum of ranks = 6, expected 6: OK");

    // Each rank's login name and home are its site's account's.
    Map<String, String> who = new HashMap<>();
    for (String line : r.out().lines().filter(l -> l.startsWith("who ")).toList()) {
      String[] f = line.split(" ");
      assertThat(f).as(line).hasSize(4);
      assertThat(f[2]).as(line).isEqualTo(account.get(f[1]));
      assertThat(f[3]).as(line).isEqualTo(home.get(f[2]));
      who.put(f[1], f[2]);
    }
    assertThat(who).as(r.out()).isEqualTo(account);

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
  }

  @Test
  @Order(2)
  void aMappedAccountMissingOnTheNodeFailsTheJobNamingItsCrmYamlEntry_andLeavesNothing()
      throws Exception {
    Sh.run(Duration.ofSeconds(30), "userdel", "-r", BRAVO_USER).orFail("userdel");
    madeUser = false;
    // The CRM reuses a user lookup for 10 s; after that it looks again and finds none.
    Thread.sleep(11_000);
    Sh.Result r = grcAsUser(Duration.ofMinutes(3), "submit", "--site", "alpha=1", "--site",
        "bravo=1", "--wait", "--workdir", WORK.toString(), "--", "true");
    assertThat(r.exit()).as(r.out() + r.err()).isEqualTo(1);
    assertThat(r.err()).contains("user '" + BRAVO_USER + "' does not exist on this host (local"
        + " account '" + BRAVO_USER + "' is grid user '" + USER + "' on site 'bravo' by"
        + " accounts.map[" + USER + "] in crm.yaml)");
    Matcher id = Pattern.compile("submitted (j-[0-9a-f]{8})").matcher(r.err());
    assertThat(id.find()).as(r.err()).isTrue();
    assertThat(job(id.group(1)).get("state").asText()).isEqualTo("JOB_FAILED");
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        Testbed.assertNoProcessOf(id.group(1)));
  }

  private static String id(String user, String flag) throws Exception {
    return Sh.run(Duration.ofSeconds(10), "id", flag, user).orFail("id").out().trim();
  }

  private static String homeOf(String user) throws Exception {
    return Sh.run(Duration.ofSeconds(10), "getent", "passwd", user).orFail("getent").out()
        .split(":")[5];
  }
}
