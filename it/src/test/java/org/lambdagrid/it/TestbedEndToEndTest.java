package org.lambdagrid.it;

import static org.lambdagrid.it.Testbed.GRC;
import static org.lambdagrid.it.Testbed.JSON;
import static org.lambdagrid.it.Testbed.REPO;
import static org.lambdagrid.it.Testbed.TESTBED_LINKS;
import static org.lambdagrid.it.Testbed.TESTBED_MOUNTS;
import static org.lambdagrid.it.Testbed.USER;
import static org.lambdagrid.it.Testbed.grcAsUser;
import static org.lambdagrid.it.Testbed.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
 * The quick start, for real: scripts/testbed brings up a 2-site x 2-node grid on this machine
 * (GRC, CRMs and NodeManagers as processes, namespaces guests, sshd, Open MPI) and the real
 * {@code grc} command runs an MPI program across it as a non-root user, over mutual TLS with the
 * user certificate {@code testbed up --user} installs in the user's ~/.lambdagrid; and a job in a
 * reservation with bandwidth has its guests on the reservation's own shaped bridges; guests given
 * CPUs and memory (cgroups) see only their CPUs and a job over its memory says so. Needs root,
 * sshd, mpicc; skipped with the reason otherwise.
 */
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TestbedEndToEndTest {
  private static boolean up;
  private static Path work;

  @BeforeAll
  static void upTheTestbed() throws Exception {
    Testbed.assumeCanRun(List.of(), "run scripts/setup-host");
    work = MpiUser.prepare(USER, "lambdagrid-e2e", REPO);
    up = true;
    Testbed.up();
  }


  @AfterAll
  static void downTheTestbed() throws Exception {
    if (up) {
      Testbed.down();
    }
  }


  @Test
  @Order(1)
  void mpiJobRunsAcrossTwoSitesAsTheUser_andLeavesNoGuestBehind() throws Exception {
    int grcHttp = Testbed.httpPort("HTTP_GRC");
    int agentHttp = Testbed.httpPort("HTTP_AGENT");
    String succeeded = "lambdagrid_grc_jobs_finished_total{state=\"SUCCEEDED\"}";
    String setUp = "lambdagrid_grc_job_state_seconds_count{state=\"SETTING_UP\"}";
    String committed = "lambdagrid_grc_two_phase_commits_total{result=\"COMMITTED\"}";
    String pilots = "lambdagrid_crm_pilots_started_total";
    String built = "lambdagrid_agent_guests_built_total";
    String undone = "lambdagrid_agent_guests_undone_total{result=\"clean\"}";
    double[] before = {Testbed.metric(grcHttp, succeeded), Testbed.metric(grcHttp, setUp),
        Testbed.metric(grcHttp, committed), Testbed.metric(grcHttp + 1, pilots),
        Testbed.metric(agentHttp, built), Testbed.metric(agentHttp, undone)};

    Sh.Result r = grcAsUser(Duration.ofMinutes(3), "submit", "--site", "alpha=2", "--site",
        "bravo=2", "--wait", "--workdir", work.toString(), "--", "sh", "-c",
        "exec mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 4 ./mpi_hello");
    assertThat(r.exit()).as("grc submit --wait\n" + r.out() + r.err()).isZero();
    Matcher id = Pattern.compile("submitted (j-[0-9a-f]{8})").matcher(r.err());
    assertThat(id.find()).as(r.err()).isTrue();
    String jobId = id.group(1);

    Testbed.assertMpiHelloRanOnEveryGuest(jobId, r);

    // Every phase was seen, in order.
    List<String> states = new ArrayList<>();
    for (String line : grcAsUser(Duration.ofSeconds(30), "watch", jobId).orFail("grc watch")
        .out().lines().toList()) {
      Matcher m = Pattern.compile("^\\s*\\d+ \\S+ job (\\w+)").matcher(line);
      if (m.find()) {
        states.add(m.group(1));
      }
    }
    assertThat(states).containsExactly("PENDING", "SETTING_UP", "EXCHANGING", "STARTING",
        "RUNNING", "SUCCEEDED");

    // The guests are gone once the job is; only the testbed's own links remain.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());

    // Every daemon's /metrics (real HTTP) moved with the job: the GRC's job, its states and its
    // reservation's 2PC; alpha's CRM's 2 pilots; the agent's 4 guests, built and undone cleanly.
    assertThat(Testbed.metric(grcHttp, succeeded)).as(succeeded).isEqualTo(before[0] + 1);
    assertThat(Testbed.metric(grcHttp, setUp)).as(setUp).isEqualTo(before[1] + 1);
    assertThat(Testbed.metric(grcHttp, committed)).as(committed).isEqualTo(before[2] + 1);
    assertThat(Testbed.metric(grcHttp + 1, pilots)).as("alpha " + pilots)
        .isEqualTo(before[3] + 2);
    assertThat(Testbed.metric(agentHttp, built)).as(built).isEqualTo(before[4] + 4);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Testbed.metric(agentHttp, undone)).as(undone).isEqualTo(before[5] + 4));
  }

  @Test
  @Order(2)
  void killingOneLaunchersFailsTheJobNamingTheNode_andTearsEverythingDown() throws Exception {
    String jobId = grcAsUser(Duration.ofMinutes(1), "submit", "--site", "alpha=2", "--site",
        "bravo=2", "--workdir", work.toString(), "--", "sleep", "600")
        .orFail("grc submit").out().trim();
    await().atMost(Duration.ofMinutes(2)).until(() ->
        job(jobId).get("state").asText().equals("JOB_RUNNING"));

    String launcher = Sh.run(Duration.ofSeconds(10), "pgrep", "-f",
        "lambdagrid-launcher --crm 127.0.0.1:7302 --job " + jobId + " --node 1")
        .orFail("pgrep launcher").out().trim();
    Sh.run(Duration.ofSeconds(10), "kill", "-KILL", launcher).orFail("kill");

    await().atMost(Duration.ofSeconds(60)).until(() ->
        job(jobId).get("state").asText().equals("JOB_FAILED"));
    assertThat(job(jobId).get("message").asText()).contains("bravo-1");
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
    Testbed.assertNoProcessOf(jobId);
    JsonNode sites = JSON.readTree(grcAsUser(Duration.ofSeconds(30), "sites", "-o", "json")
        .orFail("grc sites").out());
    sites.get("sites").forEach(s -> assertThat(s.path("nodesInUse").asInt()).isZero());
  }

  @Test
  @Order(3)
  void guestsOfAReservationSitOnItsOwnShapedBridges_andNothingIsLeftWhenItEnds()
      throws Exception {
    String rid = grcAsUser(Duration.ofMinutes(1), "reserve", "--site", "alpha=2", "--site",
        "bravo=2", "--bandwidth", "200M", "--duration", "10m").orFail("grc reserve").out().trim();
    assertThat(rid).matches("r-[0-9a-f]{8}");
    JsonNode r = JSON.readTree(grcAsUser(Duration.ofSeconds(30), "reservations", rid, "-o",
        "json").orFail("grc reservations").out());
    String alphaBridge = r.path("siteBridges").path("alpha").asText();
    String bravoBridge = r.path("siteBridges").path("bravo").asText();
    assertThat(alphaBridge).as(r.toString()).startsWith("lgn");
    assertThat(bravoBridge).as(r.toString()).startsWith("lgn").isNotEqualTo(alphaBridge);
    // The segment is shaped to the reserved rate on every end of its inter-site links.
    List<String> linkEnds = new ArrayList<>();
    for (String line : Sh.run(Duration.ofSeconds(10), "ip", "-o", "link", "show")
        .orFail("ip link").out().lines().toList()) {
      String name = line.split(": ")[1].split("@")[0];
      if (name.matches("lgn[0-9a-f]{6}l[0-9]+[ab]")) {
        linkEnds.add(name);
      }
    }
    assertThat(linkEnds).as("alpha<->core and bravo<->core, both ends").hasSize(4);
    for (String end : linkEnds) {
      assertThat(Sh.run(Duration.ofSeconds(10), "tc", "class", "show", "dev", end)
          .orFail("tc class show dev " + end).out()).as(end).contains("rate 200Mbit");
    }

    String jobId = grcAsUser(Duration.ofMinutes(1), "submit", "--reservation", rid,
        "--workdir", work.toString(), "--", "sleep", "600").orFail("grc submit").out().trim();
    await().atMost(Duration.ofMinutes(2)).until(() ->
        job(jobId).get("state").asText().equals("JOB_RUNNING"));
    // Each guest's host-side veth (lgv*) is enslaved to its site's reservation bridge, none to
    // the shared site bridges.
    for (String bridge : List.of(alphaBridge, bravoBridge)) {
      String ports = Sh.run(Duration.ofSeconds(10), "ip", "-o", "link", "show", "master", bridge)
          .orFail("ip link show master " + bridge).out();
      assertThat(ports.lines().filter(l -> l.split(": ")[1].startsWith("lgv")).count())
          .as("guest veths on " + bridge + ":\n" + ports).isEqualTo(2);
    }
    for (String shared : List.of("lgbr-alpha", "lgbr-bravo")) {
      String ports = Sh.run(Duration.ofSeconds(10), "ip", "-o", "link", "show", "master", shared)
          .orFail("ip link show master " + shared).out();
      assertThat(ports).as(shared).doesNotContain("lgv");
    }
    String bridgeLinks = Sh.run(Duration.ofSeconds(10), "bridge", "link").orFail("bridge link")
        .out();
    assertThat(bridgeLinks).contains("master " + alphaBridge).contains("master " + bravoBridge);

    // Cancelling the reservation stops the job with a clear message, and removes every bridge,
    // link and tc rule of the segment.
    grcAsUser(Duration.ofMinutes(1), "cancel", rid).orFail("grc cancel " + rid);
    await().atMost(Duration.ofSeconds(60)).until(() ->
        job(jobId).get("state").asText().equals("JOB_CANCELLED"));
    assertThat(job(jobId).get("message").asText()).contains("reservation " + rid
        + " was cancelled");
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
    for (String end : linkEnds) {
      assertThat(Sh.run(Duration.ofSeconds(10), "ip", "link", "show", end).exit())
          .as(end + " (and its qdisc and class) removed").isNotZero();
    }
  }

  @Test
  @Order(4)
  void aRunningJobSurvivesItsCrmsRestarting_andTheRestartedCrmsReadoptTheSameGuests()
      throws Exception {
    Path go = work.resolve("readopt-go");
    Sh.run(Duration.ofSeconds(10), "rm", "-f", go.toString()).orFail("rm");
    // The command waits for the file, so the MPI run itself happens after the restart.
    String jobId = grcAsUser(Duration.ofMinutes(1), "submit", "--site", "alpha=2", "--site",
        "bravo=2", "--workdir", work.toString(), "--", "sh", "-c",
        "while [ ! -e readopt-go ]; do sleep 0.2; done;"
            + " exec mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 4 ./mpi_hello")
        .orFail("grc submit").out().trim();
    await().atMost(Duration.ofMinutes(2)).until(() ->
        job(jobId).get("state").asText().equals("JOB_RUNNING"));
    List<String> guests = guestNamespaces();
    assertThat(guests).hasSize(4);

    // A clean stop and start of bravo's CRM (SIGTERM), then kill -9 of alpha's (the site of the
    // first node, where the command runs): each comes back on its state directory.
    restartCrm(jobId, "bravo");
    restartCrm(jobId, "alpha", "--kill");
    assertThat(job(jobId).get("state").asText()).isEqualTo("JOB_RUNNING");
    assertThat(guestNamespaces()).as("the same guests, not rebuilt").isEqualTo(guests);

    Sh.run(Duration.ofSeconds(10), "runuser", "-u", USER, "--", "touch", go.toString())
        .orFail("touch " + go);
    await().atMost(Duration.ofMinutes(2)).until(() ->
        job(jobId).get("state").asText().equals("JOB_SUCCEEDED"));
    Testbed.assertMpiHelloRanOnEveryGuest(jobId,
        grcAsUser(Duration.ofSeconds(30), "logs", jobId).orFail("grc logs"));
    String events = grcAsUser(Duration.ofSeconds(30), "watch", jobId).orFail("grc watch").out();
    events.lines().filter(l -> l.contains("CRM") || l.contains("re-adopted"))
        .forEach(System.out::println);
    for (String site : List.of("alpha", "bravo")) {
      assertThat(events).contains("lost contact with the CRM of site '" + site + "'")
          .contains("the CRM of site '" + site + "' is back")
          .contains("pilot of " + site + "-0 re-adopted").contains("pilot of " + site
              + "-1 re-adopted");
    }

    // Everything of the job goes when it ends, the orphaned launchers of the old CRM included.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> Testbed.assertNoProcessOf(jobId));
  }

  @Test
  @Order(5)
  void aReservationBuildsItsGuestsAtItsStart_itsFirstJobAdoptsThem_andNothingIsLeft()
      throws Exception {
    Sh.Result made = grcAsUser(Duration.ofMinutes(3), "reserve", "--site", "alpha=2", "--site",
        "bravo=2", "--duration", "10m", "--wait");
    assertThat(made.exit()).as("grc reserve --wait\n" + made.out() + made.err()).isZero();
    String rid = made.out().trim();
    assertThat(made.err()).contains("guests READY: 4 guests ready, built in");
    // Built before any job: four guests of their own share, every sshd started.
    JsonNode r = JSON.readTree(grcAsUser(Duration.ofSeconds(30), "reservations", rid, "-o",
        "json").orFail("grc reservations").out());
    assertThat(r.path("guests").path("state").asText()).as(r.toString())
        .isEqualTo("GUESTS_READY");
    String share = r.path("guests").path("shareId").asText();
    assertThat(share).matches("w-[0-9a-f]{8}");
    List<String> built = guestNamespaces();
    assertThat(built).hasSize(4);

    Sh.Result run = grcAsUser(Duration.ofMinutes(3), "submit", "--reservation", rid, "--wait",
        "--workdir", work.toString(), "--", "sh", "-c",
        "exec mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 4 ./mpi_hello");
    assertThat(run.exit()).as("grc submit --wait\n" + run.out() + run.err()).isZero();
    assertThat(run.err()).contains("SETTING_UP: adopting the 4 guests ready, built in");
    Matcher id = Pattern.compile("submitted (j-[0-9a-f]{8})").matcher(run.err());
    assertThat(id.find()).as(run.err()).isTrue();
    Testbed.assertMpiHelloRanOnEveryGuest(id.group(1), run);
    // The job ran in those very guests, and they went with it.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
    JsonNode after = JSON.readTree(grcAsUser(Duration.ofSeconds(30), "reservations", rid, "-o",
        "json").orFail("grc reservations").out());
    assertThat(after.path("guests").path("state").asText()).isEqualTo("GUESTS_RELEASED");
    assertThat(after.path("guests").path("message").asText())
        .isEqualTo("torn down with job " + id.group(1));

    // A second job in the same reservation builds its own guests.
    Sh.Result second = grcAsUser(Duration.ofMinutes(3), "submit", "--reservation", rid,
        "--wait", "--workdir", work.toString(), "--", "hostname");
    assertThat(second.exit()).as(second.out() + second.err()).isZero();
    assertThat(second.err()).doesNotContain("adopting").contains("SETTING_UP: setting up 4"
        + " nodes");
    grcAsUser(Duration.ofMinutes(1), "cancel", rid).orFail("grc cancel " + rid);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
  }

  @Test
  @Order(6)
  void shapedGuestsSeeOnlyTheirCpus_aMemoryHogFailsSayingSo_andBadShapesAreRefused()
      throws Exception {
    // Two one-CPU guests on this host get different CPUs: Open MPI's default binding (no
    // --bind-to none) puts each rank on its own guest's CPU.
    Sh.Result r = grcAsUser(Duration.ofMinutes(3), "submit", "--site", "alpha=2", "--cpus", "1",
        "--memory", "256M", "--wait", "--workdir", work.toString(), "--", "sh", "-c",
        "nproc; exec mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 2 sh -c"
            + " 'echo rank $OMPI_COMM_WORLD_RANK $(nproc) $(grep Cpus_allowed_list"
            + " /proc/self/status | cut -f2)'");
    assertThat(r.exit()).as("grc submit --wait\n" + r.out() + r.err()).isZero();
    assertThat(r.out().lines().findFirst()).as(r.out()).hasValue("1");
    List<String> ranks = r.out().lines().filter(l -> l.startsWith("rank ")).sorted().toList();
    assertThat(ranks).as(r.out()).hasSize(2).allMatch(l -> l.matches("rank [01] 1 \\d+"));
    assertThat(ranks.get(0).split(" ")[3]).as("each rank on its guest's own CPU")
        .isNotEqualTo(ranks.get(1).split(" ")[3]);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());

    Sh.Result hog = grcAsUser(Duration.ofMinutes(3), "submit", "--site", "alpha=1", "--memory",
        "64M", "--wait", "--workdir", work.toString(), "--", "sh", "-c",
        "head -c 1G /dev/zero | tail >/dev/null");
    assertThat(hog.exit()).as(hog.out() + hog.err()).isEqualTo(137);
    String why = "node alpha-0: the job exceeded its memory limit (64 MiB): killed by the"
        + " kernel's OOM killer";
    assertThat(hog.err()).as(hog.err()).containsPattern("grc: job j-[0-9a-f]{8} failed: command"
        + " exited with code 137: " + Pattern.quote(why));
    Matcher id = Pattern.compile("submitted (j-[0-9a-f]{8})").matcher(hog.err());
    assertThat(id.find()).as(hog.err()).isTrue();
    String watch = grcAsUser(Duration.ofSeconds(30), "watch", id.group(1)).orFail("grc watch")
        .out();
    assertThat(watch).as(watch).contains("alpha-0 DONE").contains(why).contains("job FAILED");
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());

    Sh.Result tooMany = grcAsUser(Duration.ofMinutes(3), "submit", "--site", "alpha=1", "--cpus",
        "64", "--wait", "--workdir", work.toString(), "--", "true");
    assertThat(tooMany.exit()).as(tooMany.out() + tooMany.err()).isEqualTo(1);
    assertThat(tooMany.err()).contains("failed in phase SETUP")
        .containsPattern("cpus: '64' is more CPUs than node alpha-0 has"
            + " \\(\\d+: CPUs [0-9,-]+\\)");
    for (String[] bad : List.of(new String[] {"--cpus", "0",
        "grc: --cpus: '0' must be at least 1"}, new String[] {"--memory", "1x",
        "grc: --memory: '1x' is not a size"})) {
      Sh.Result refused = grcAsUser(Duration.ofSeconds(30), "submit", "--site", "alpha=1",
          bad[0], bad[1], "--", "true");
      assertThat(refused.exit()).isEqualTo(2);
      assertThat(refused.err()).startsWith(bad[2]).doesNotContain("Exception");
    }
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
  }

  /** {@code testbed restart-crm SITE [--kill]}; waits until the new CRM re-adopted both pilots. */
  private static void restartCrm(String jobId, String site, String... kill) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(REPO.resolve("scripts/testbed").toString(),
        "restart-crm", site));
    cmd.addAll(List.of(kill));
    Sh.run(Duration.ofMinutes(1), cmd.toArray(String[]::new)).orFail(String.join(" ", cmd));
    Path log = Testbed.STATE.resolve("logs/crm-" + site + ".log");
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThat(java.nio.file.Files.readString(log))
            .contains("job " + jobId + ": pilot of " + site + "-0 re-adopted")
            .contains("job " + jobId + ": pilot of " + site + "-1 re-adopted"));
    assertThat(job(jobId).get("state").asText()).isEqualTo("JOB_RUNNING");
  }

  private static List<String> guestNamespaces() throws Exception {
    return Sh.run(Duration.ofSeconds(10), "ip", "netns", "list").orFail("ip netns").out()
        .lines().map(l -> l.split(" ")[0]).filter(n -> n.startsWith("lg-")).sorted().toList();
  }
}
