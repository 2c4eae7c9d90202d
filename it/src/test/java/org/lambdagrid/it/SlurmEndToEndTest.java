package org.lambdagrid.it;

import static org.lambdagrid.it.Testbed.GRC;
import static org.lambdagrid.it.Testbed.JSON;
import static org.lambdagrid.it.Testbed.REPO;
import static org.lambdagrid.it.Testbed.STATE;
import static org.lambdagrid.it.Testbed.TESTBED_LINKS;
import static org.lambdagrid.it.Testbed.TESTBED_MOUNTS;
import static org.lambdagrid.it.Testbed.USER;
import static org.lambdagrid.it.Testbed.grcAsUser;
import static org.lambdagrid.it.Testbed.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import io.grpc.Status;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.lambdagrid.common.Errors;
import org.lambdagrid.crm.pilot.BatchReservations;
import org.lambdagrid.crm.pilot.SlurmReservations;

/**
 * Pilots through a real batch system: {@code scripts/testbed up --slurm bravo} makes site bravo's
 * CRM submit its pilots with sbatch to the one-machine Slurm cluster ({@code scripts/slurm-local
 * up}, which {@code scripts/test} starts as root), while site alpha starts them locally. The quick
 * start's MPI job runs across both sites as the non-root user (pilots through sudo here, one
 * NodeManager JVM each; the other end-to-end test uses the node agent); squeue shows bravo's pilots as that
 * user while it runs and nothing afterwards; scancel of one pilot fails the next job naming the
 * node and leaves nothing behind. Bravo's CRM reserves every window in Slurm too ({@code
 * scontrol create reservation lg-bravo-r-...}, the site's one Slurm node for up to 2 pilots): a
 * local job that holds the node into a window makes bravo vote no, naming Slurm's reason; a
 * local job submitted before a reserved window does not get the node during it, while the
 * pilots run inside the Slurm reservation; the CRM's Slurm side refuses a reservation name
 * Slurm has already (and leaves it alone) and more nodes than the partition has; and after
 * every test no {@code lg-} Slurm reservation is left (scripts/leakcheck cannot see those). Needs root, sshd, mpicc and a Slurm
 * that answers; skipped with the reason otherwise.
 */
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SlurmEndToEndTest {
  private static boolean up;
  private static Path work;

  @BeforeAll
  static void upTheTestbedWithBravoOnSlurm() throws Exception {
    Testbed.assumeCanRun(List.of("sbatch", "squeue", "scancel"),
        "run scripts/setup-host and scripts/slurm-local up");
    assumeTrue(Sh.run(Duration.ofSeconds(15), "sinfo", "-h").exit() == 0,
        "needs a Slurm cluster that answers (run scripts/slurm-local up)");
    work = MpiUser.prepare(USER, "lambdagrid-slurm-e2e", REPO);
    up = true;
    Testbed.up("--slurm", "bravo", "--pilots", "sudo");
  }


  @AfterAll
  static void downTheTestbed() throws Exception {
    if (up) {
      Testbed.down();
      assertThat(pilotsInSlurm("lg-")).as("pilots left in Slurm after testbed down").isEmpty();
      assertThat(reservationsInSlurm("lg-")).as("Slurm reservations left after testbed down")
          .isEmpty();
    }
  }

  /** What leakcheck cannot see: after each test, the CRM has deleted its Slurm reservations. */
  @AfterEach
  void noSlurmReservationIsLeft() throws Exception {
    if (up) {
      await().atMost(Duration.ofSeconds(45)).untilAsserted(() ->
          assertThat(reservationsInSlurm("lg-")).as("Slurm reservations left by the test")
              .isEmpty());
    }
  }

  /** {@code scontrol -o show reservation} lines of reservations whose name starts so. */
  private static List<String> reservationsInSlurm(String namePrefix) throws Exception {
    Sh.Result r = Sh.run(Duration.ofSeconds(15), "scontrol", "-o", "show", "reservation");
    if (r.exit() != 0 || r.out().startsWith("No reservations")) {
      assertThat(r.out() + r.err()).as("scontrol show reservation").contains("No reservations");
      return List.of();
    }
    return r.out().lines().filter(l -> l.startsWith("ReservationName=" + namePrefix))
        .map(String::strip).toList();
  }

  /** {@code sbatch} as the test user of a job that sleeps: its Slurm job id. */
  private static String localJob(String name, int minutes) throws Exception {
    return Sh.run(Duration.ofSeconds(15), "runuser", "-u", USER, "--", "sbatch", "--parsable",
        "--job-name=" + name, "--time=" + minutes, "--chdir=/tmp", "--output=/dev/null",
        "--wrap", "sleep " + minutes * 60).orFail("sbatch " + name).out().strip()
        .split(";")[0];
  }

  /** The Slurm state of a job ({@code squeue -h -j ID -o %T}), or "" when it is gone. */
  private static String slurmState(String jobId) throws Exception {
    return Sh.run(Duration.ofSeconds(15), "squeue", "-h", "-j", jobId, "-o", "%T").out().strip();
  }


  /** squeue lines {@code ID|USER|STATE|NAME} of jobs whose name starts with the prefix. */
  private static List<String> pilotsInSlurm(String namePrefix) throws Exception {
    List<String> out = new ArrayList<>();
    for (String line : Sh.run(Duration.ofSeconds(15), "squeue", "-h", "-o", "%i|%u|%T|%j")
        .orFail("squeue").out().lines().toList()) {
      if (line.split("\\|", 4).length == 4 && line.split("\\|", 4)[3].startsWith(namePrefix)) {
        out.add(line.strip());
      }
    }
    return out;
  }

  @Test
  @Order(1)
  void mpiJobRunsAcrossALocalSiteAndASlurmSite_pilotsShowInSqueueAsTheUserOnlyWhileItRuns()
      throws Exception {
    CompletableFuture<Sh.Result> submitted = CompletableFuture.supplyAsync(() -> {
      try {
        return grcAsUser(Duration.ofMinutes(3), "submit", "--site", "alpha=2", "--site",
            "bravo=2", "--wait", "--workdir", work.toString(), "--", "sh", "-c",
            "mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 4 ./mpi_hello && sleep 2");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });

    // While it runs: bravo's two pilots are Slurm jobs of the user; alpha's are not in Slurm.
    List<String> seen = new ArrayList<>();
    await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200)).until(() -> {
      List<String> running = pilotsInSlurm("lg-j-").stream()
          .filter(l -> l.contains("|RUNNING|")).toList();
      if (running.size() >= 2) {
        seen.addAll(running);
        return true;
      }
      return submitted.isDone();
    });
    Sh.Result r = submitted.get(3, TimeUnit.MINUTES);
    assertThat(r.exit()).as("grc submit --wait\n" + r.out() + r.err()).isZero();
    Matcher id = Pattern.compile("submitted (j-[0-9a-f]{8})").matcher(r.err());
    assertThat(id.find()).as(r.err()).isTrue();
    String jobId = id.group(1);
    assertThat(seen).as("squeue while the job ran").hasSize(2).allSatisfy(line -> {
      String[] f = line.split("\\|");
      assertThat(f[1]).as("the pilot's Slurm user").isEqualTo(USER);
      assertThat(f[3]).matches("lg-" + jobId + "-bravo-[01]");
    });

    Testbed.assertMpiHelloRanOnEveryGuest(jobId, r);

    // Afterwards: no pilot of the job in Slurm, no guest left.
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThat(pilotsInSlurm("lg-" + jobId)).isEmpty());
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
    assertThat(Files.readString(STATE.resolve("crm-bravo/pilots/" + jobId + "-1.log")))
        .as("bravo-1's pilot log, written by Slurm").contains("lambdagrid pilot of job " + jobId);
  }

  @Test
  @Order(2)
  void scancelOfOnePilotFailsTheJobNamingTheNode_andLeavesNothingBehind() throws Exception {
    String jobId = grcAsUser(Duration.ofMinutes(1), "submit", "--site", "alpha=2", "--site",
        "bravo=2", "--workdir", work.toString(), "--", "sleep", "600")
        .orFail("grc submit").out().trim();
    await().atMost(Duration.ofMinutes(2)).until(() ->
        job(jobId).get("state").asText().equals("JOB_RUNNING"));

    List<String> pilot = pilotsInSlurm("lg-" + jobId + "-bravo-1");
    assertThat(pilot).as("bravo-1's pilot in squeue").hasSize(1);
    String slurmId = pilot.get(0).split("\\|")[0];
    Sh.run(Duration.ofSeconds(15), "scancel", slurmId).orFail("scancel " + slurmId);

    await().atMost(Duration.ofSeconds(60)).until(() ->
        job(jobId).get("state").asText().equals("JOB_FAILED"));
    assertThat(job(jobId).get("message").asText()).contains("bravo-1");
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThat(pilotsInSlurm("lg-" + jobId)).isEmpty());
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> Testbed.assertNoProcessOf(jobId));
    JsonNode sites = JSON.readTree(grcAsUser(Duration.ofSeconds(30), "sites", "-o", "json")
        .orFail("grc sites").out());
    sites.get("sites").forEach(s -> assertThat(s.path("nodesInUse").asInt()).isZero());
  }

  @Test
  @Order(3)
  void pilotsStuckPendingFailTheJobWithSlurmsReasonAfterTheGrace() throws Exception {
    String partition = Sh.run(Duration.ofSeconds(15), "sinfo", "-h", "-o", "%R")
        .orFail("sinfo").out().lines().findFirst().orElseThrow().strip();
    Sh.run(Duration.ofSeconds(15), "scontrol", "update", "PartitionName=" + partition,
        "State=DOWN").orFail("scontrol update State=DOWN");
    String jobId;
    try {
      jobId = grcAsUser(Duration.ofMinutes(1), "submit", "--site", "alpha=1", "--site",
          "bravo=1", "--workdir", work.toString(), "--", "true").orFail("grc submit").out().trim();
      // testbed --slurm sets pending_grace: 20s; the GRC's setup phase allows 120s.
      await().atMost(Duration.ofSeconds(90)).until(() ->
          job(jobId).get("state").asText().equals("JOB_FAILED"));
    } finally {
      Sh.run(Duration.ofSeconds(15), "scontrol", "update", "PartitionName=" + partition,
          "State=UP").orFail("scontrol update State=UP");
    }
    assertThat(job(jobId).get("message").asText()).matches(".*node bravo-0 failed phase LAUNCH:"
        + " pilot of bravo-0 still pending in Slurm \\(job \\d+, reason: PartitionDown\\)"
        + " after 2\\ds.*");
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThat(pilotsInSlurm("lg-" + jobId)).isEmpty());
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
  }

  @Test
  @Order(4)
  void aLocalJobHoldingTheNodeIntoTheWindowMakesTheSlurmSiteVoteNoNamingWhy() throws Exception {
    String local = localJob("local-competitor", 10);
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> slurmState(local).equals("RUNNING"));
      Sh.Result r = grcAsUser(Duration.ofMinutes(1), "reserve", "--site", "bravo=1", "--start",
          "+30s", "--duration", "2m", "--no-prebuild");
      assertThat(r.exit()).as("grc reserve while a local job holds bravo's Slurm node\n"
          + r.out() + r.err()).isNotZero();
      assertThat(r.err()).contains("site:bravo refused (FAILED_PRECONDITION)")
          .contains("Slurm cannot reserve 1 node").contains("Requested nodes are busy");
      assertThat(reservationsInSlurm("lg-")).isEmpty();
    } finally {
      Sh.run(Duration.ofSeconds(15), "scancel", local);
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> slurmState(local).isEmpty()
        || slurmState(local).equals("CANCELLED"));
  }

  @Test
  @Order(5)
  void aReservedWindowKeepsALocalJobSubmittedBeforeItOffTheNode_andThePilotsRunInIt()
      throws Exception {
    String rid = grcAsUser(Duration.ofMinutes(1), "reserve", "--site", "bravo=2", "--start",
        "+40s", "--duration", "3m", "--no-prebuild").orFail("grc reserve").out().strip();
    String name = "lg-bravo-" + rid;
    List<String> resv = reservationsInSlurm(name);
    assertThat(resv).as("bravo's Slurm reservation of " + rid).singleElement()
        .satisfies(l -> assertThat(l).contains("Users=" + USER).contains("NodeCnt=1")
            .contains("State=INACTIVE"));

    // Submitted before the window; its time limit reaches into it, so the node is not its.
    String local = localJob("local-competitor", 10);
    try {
      String job = grcAsUser(Duration.ofMinutes(1), "submit", "--reservation", rid,
          "--workdir", work.toString(), "--", "sleep", "600").orFail("grc submit").out().strip();
      await().atMost(Duration.ofSeconds(150)).pollInterval(Duration.ofSeconds(1)).until(() ->
          job(job).get("state").asText().equals("JOB_RUNNING"));
      // In the window: bravo's pilots run in the Slurm reservation, the local job waits.
      List<String> pilots = new ArrayList<>();
      for (String line : Sh.run(Duration.ofSeconds(15), "squeue", "-h", "-o", "%j|%T|%v")
          .orFail("squeue").out().lines().toList()) {
        if (line.startsWith("lg-" + job + "-bravo-")) {
          pilots.add(line.strip());
        }
      }
      assertThat(pilots).as("bravo's pilots").hasSize(2)
          .allSatisfy(l -> assertThat(l).endsWith("|RUNNING|" + name));
      assertThat(reservationsInSlurm(name)).singleElement()
          .satisfies(l -> assertThat(l).contains("State=ACTIVE"));
      assertThat(slurmState(local)).as("the local job during the window").isEqualTo("PENDING");
      Thread.sleep(5000);
      assertThat(slurmState(local)).as("the local job during the window").isEqualTo("PENDING");

      // Cancelling the reservation stops the job and deletes the Slurm reservation; then the
      // local job gets the node.
      grcAsUser(Duration.ofMinutes(1), "cancel", rid).orFail("grc cancel " + rid);
      await().atMost(Duration.ofSeconds(60)).until(() ->
          job(job).get("state").asText().equals("JOB_CANCELLED"));
      await().atMost(Duration.ofSeconds(45)).untilAsserted(() ->
          assertThat(reservationsInSlurm(name)).isEmpty());
      await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1)).until(() ->
          slurmState(local).equals("RUNNING"));
    } finally {
      Sh.run(Duration.ofSeconds(15), "scancel", local);
    }
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThat(pilotsInSlurm("lg-j-")).isEmpty());
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
        assertThat(Sh.leftovers(TESTBED_LINKS, TESTBED_MOUNTS)).isEmpty());
  }

  /**
   * The CRM's Slurm side on its own, against the same Slurm: a name Slurm has already (made
   * here by hand) is refused naming it and left alone; more nodes than the partition has are
   * refused with nothing left; a reservation is made, read back and deleted twice. Windows a
   * day ahead; names lg-lgroot-*, removed at the end. The delete of a recorded name deletes only
   * what Slurm shows with the window and users that were asked for.
   */
  @Test
  @Order(6)
  void slurmReservationsRefuseANameSlurmHasAndMoreNodesThanItHas_leavingNothing()
      throws Exception {
    SlurmReservations slurm = new SlurmReservations(new SlurmReservations.Options("lgroot",
        null, null, 1, true, null));
    Instant day = Instant.now().plus(Duration.ofDays(1));
    DateTimeFormatter utc = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss")
        .withZone(ZoneOffset.UTC);
    String byHand = "lg-lgroot-r-00000002";
    io.grpc.Deadline answerBy = io.grpc.Deadline.after(2, java.util.concurrent.TimeUnit.MINUTES);
    try {
      Sh.run(Duration.ofSeconds(15), "env", "TZ=UTC", "scontrol", "create", "reservation",
          "ReservationName=" + byHand, "StartTime=" + utc.format(day.plus(Duration.ofHours(2))),
          "Duration=10", "NodeCnt=1", "Users=root").orFail("scontrol create reservation");
      // What the CRM looks up first (then it refuses and leaves it alone) ...
      assertThat(slurm.exists(byHand, answerBy)).isTrue();
      assertThat(slurm.exists("lg-lgroot-r-00000009", answerBy)).isFalse();
      // ... and what a create says when the name was taken after that look.
      assertThatThrownBy(() -> slurm.create(new BatchReservations.Spec("r-00000002", day,
          day.plus(Duration.ofMinutes(30)), 1, USER), answerBy))
          .isInstanceOfSatisfying(Errors.RequestException.class, e -> {
            assertThat(e.code()).isEqualTo(Status.Code.ALREADY_EXISTS);
            assertThat(e.getMessage()).startsWith("ReservationName: '" + byHand + "': Slurm"
                + " already has a reservation of that name");
          });
      // Had the CRM recorded the name for its own create (one that did not answer), it would
      // not delete this one: it is not what that create asked for.
      BatchReservations.Asked ours = slurm.asked(new BatchReservations.Spec("r-00000002", day,
          day.plus(Duration.ofMinutes(30)), 1, USER));
      assertThat(slurm.deleteIfAsked(byHand, ours, answerBy)).isEqualTo(
          new BatchReservations.Mismatch("StartTime", utc.format(day),
              utc.format(day.plus(Duration.ofHours(2)))));
      assertThat(reservationsInSlurm("lg-lgroot-")).singleElement()
          .satisfies(l -> assertThat(l).contains("Users=root")); // untouched

      int usable = slurm.capacity();
      assertThat(usable).as("usable nodes from sinfo").isPositive();
      assertThatThrownBy(() -> slurm.create(new BatchReservations.Spec("r-00000003", day,
          day.plus(Duration.ofMinutes(30)), usable + 1, USER), answerBy))
          .isInstanceOfSatisfying(Errors.RequestException.class, e -> {
            assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
            // Slurm 22.05 makes a smaller one; the CRM reads it back and deletes it.
            assertThat(e.getMessage()).startsWith("Slurm cannot reserve " + (usable + 1)
                + " nodes of the default partition").endsWith(": Slurm has only " + usable
                + " usable node" + (usable == 1 ? "" : "s") + " for it in the window");
          });
      assertThat(reservationsInSlurm("lg-lgroot-r-00000003")).isEmpty();

      BatchReservations.Spec four = new BatchReservations.Spec("r-00000004",
          day.plus(Duration.ofHours(4)), day.plus(Duration.ofHours(5)), 1, USER);
      slurm.create(four, answerBy);
      assertThat(reservationsInSlurm("lg-lgroot-r-00000004")).singleElement()
          .satisfies(l -> assertThat(l).contains("Users=" + USER).contains("NodeCnt=1"));
      // Slurm shows what the create asked for (times to the second, in the CRM's form): the
      // delete of a recorded name compares them first.
      BatchReservations.Asked longer = slurm.asked(new BatchReservations.Spec("r-00000004",
          four.start(), four.end().plus(Duration.ofMinutes(1)), 1, USER));
      assertThat(slurm.deleteIfAsked("lg-lgroot-r-00000004", longer, answerBy))
          .extracting(BatchReservations.Mismatch::field).isEqualTo("EndTime");
      assertThat(reservationsInSlurm("lg-lgroot-r-00000004")).hasSize(1);
      assertThat(slurm.deleteIfAsked("lg-lgroot-r-00000004", slurm.asked(four), answerBy))
          .isNull();
      assertThat(reservationsInSlurm("lg-lgroot-r-00000004")).isEmpty();
      slurm.delete("lg-lgroot-r-00000004", answerBy); // gone: fine
      assertThat(reservationsInSlurm("lg-lgroot-r-00000004")).isEmpty();
    } finally {
      Sh.run(Duration.ofSeconds(15), "scontrol", "delete", "ReservationName=" + byHand);
    }
  }
}
