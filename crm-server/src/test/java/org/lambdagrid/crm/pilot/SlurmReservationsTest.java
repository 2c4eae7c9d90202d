package org.lambdagrid.crm.pilot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Deadline;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Errors.RequestException;

/**
 * Slurm advance reservations against a fake {@code scontrol} and {@code sinfo} (shell scripts in
 * a private bin directory) that keep reservations as files, answer as Slurm 22.05 does
 * (messages, exit codes, a duplicate name, a reservation quietly given fewer nodes, a delete of
 * one that is gone or in use, a show that fails) and record their arguments; scontrol refuses
 * to run without {@code TZ=UTC} and {@code SLURM_TIME_FORMAT=standard}. No Slurm needed; the
 * real one is {@code it/SlurmEndToEndTest}.
 */
class SlurmReservationsTest {
  private static final Instant START = Instant.parse("2030-01-02T10:00:00.250Z");
  private static final Instant END = Instant.parse("2030-01-02T10:30:00Z");

  /** A caller's deadline far enough away not to matter. */
  private static final Deadline D = Deadline.after(60, TimeUnit.SECONDS);

  @TempDir Path dir;
  private Path bin;

  @BeforeEach
  void fakeSlurm() throws IOException {
    bin = Files.createDirectories(dir.resolve("bin"));
    Files.createDirectories(dir.resolve("resv"));
    tool("scontrol", """
        #!/bin/sh
        # The CRM's contract with scontrol: times in UTC, in Slurm's standard form.
        if [ "$TZ" != UTC ] || [ "$SLURM_TIME_FORMAT" != standard ]; then
          echo "fake scontrol: run me with TZ=UTC SLURM_TIME_FORMAT=standard" \\
            "(not TZ=$TZ SLURM_TIME_FORMAT=$SLURM_TIME_FORMAT)" >&2; exit 2
        fi
        echo "$*" >> "$D/scontrol.calls"
        [ "$1" = -o ] && shift
        case "$1" in
        create)
          [ -f "$D/create.sleep" ] && exec sleep 30
          if [ -f "$D/create.err" ]; then cat "$D/create.err" >&2; exit 1; fi
          name=; cnt=; st=; et=; us=; ac=
          for a in "$@"; do
            case "$a" in
            ReservationName=*) name=${a#*=} ;; NodeCnt=*) cnt=${a#*=} ;;
            StartTime=*) st=${a#*=} ;; EndTime=*) et=${a#*=} ;;
            Users=*) us=${a#*=} ;; Accounts=*) ac=${a#*=} ;;
            esac
          done
          if [ -f "$D/resv/$name" ]; then
            echo "Error creating the reservation: Duplicate reservation name" >&2; exit 1
          fi
          [ -f "$D/nodecnt" ] && cnt=$(cat "$D/nodecnt")
          echo "ReservationName=$name StartTime=$st EndTime=$et Duration=x Nodes=n1" \\
            "NodeCnt=$cnt PartitionName=dflt Flags= Users=$us Accounts=${ac:-(null)}" \\
            "State=INACTIVE" > "$D/resv/$name"
          echo "Reservation created: $name" ;;
        show)
          if [ -f "$D/show.err" ]; then cat "$D/show.err" >&2; exit 1; fi
          [ -f "$D/show.nothing" ] && exit 0
          if [ -f "$D/resv/$3" ]; then cat "$D/resv/$3"; else echo "Reservation $3 not found"; exit 1; fi ;;
        delete)
          name=${2#*=}
          if [ -f "$D/delete.err" ]; then cat "$D/delete.err" >&2; exit 1; fi
          if [ -f "$D/resv/$name" ]; then rm "$D/resv/$name"; exit 0; fi
          echo "delete_reservation $2: Requested reservation is invalid" >&2; exit 1 ;;
        esac
        """);
    tool("sinfo", """
        #!/bin/sh
        echo "$*" >> "$D/sinfo.calls"
        cat "$D/sinfo.out"
        """);
  }

  private void tool(String name, String script) throws IOException {
    Path p = bin.resolve(name);
    Files.writeString(p, script.replace("$D", dir.toString()));
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private SlurmReservations slurm(String partition, String account, int pilotsPerNode) {
    return new SlurmReservations(new SlurmReservations.Options("tokyo", partition, account,
        pilotsPerNode, true, List.of(bin)));
  }

  private static BatchReservations.Spec spec(String id, int nodes) {
    return new BatchReservations.Spec(id, START, END, nodes, "alice");
  }

  private List<String> calls() throws IOException {
    return Files.readAllLines(dir.resolve("scontrol.calls"));
  }

  @Test
  void createReservesTheWindowInUtcForTheUserAndChecksWhatSlurmMade() throws Exception {
    SlurmReservations s = slurm("grid", "physics", 2);
    s.create(spec("r-1a2b3c4d", 3), D);
    assertThat(calls()).containsExactly(
        "create reservation ReservationName=lg-tokyo-r-1a2b3c4d StartTime=2030-01-02T10:00:00"
            + " EndTime=2030-01-02T10:30:00 NodeCnt=2 Users=alice Accounts=physics"
            + " PartitionName=grid",
        "-o show reservation lg-tokyo-r-1a2b3c4d");
    assertThat(dir.resolve("resv/lg-tokyo-r-1a2b3c4d")).exists();
    assertThat(s.name("r-1a2b3c4d")).isEqualTo("lg-tokyo-r-1a2b3c4d");
  }

  @Test
  void withoutRunAsUserTheReservationIsForTheCrmsOwnUser() throws Exception {
    SlurmReservations s = new SlurmReservations(new SlurmReservations.Options("tokyo", null,
        null, 1, false, List.of(bin)));
    s.create(spec("r-1", 1), D);
    assertThat(calls().get(0)).isEqualTo("create reservation ReservationName=lg-tokyo-r-1"
        + " StartTime=2030-01-02T10:00:00 EndTime=2030-01-02T10:30:00 NodeCnt=1 Users="
        + System.getProperty("user.name"));
  }

  @Test
  void slurmsRefusalIsAFailedPreconditionNamingWhatAndWhy() throws Exception {
    Files.writeString(dir.resolve("create.err"),
        "Error creating the reservation: Requested nodes are busy\nNote, unless nodes are"
            + " directly requested a reservation must exist in a single partition.\n");
    assertThatThrownBy(() -> slurm("lgtest", null, 1).create(spec("r-1", 2), D))
        .isInstanceOfSatisfying(RequestException.class, e -> {
          assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
          assertThat(e.getMessage()).isEqualTo("Slurm cannot reserve 2 nodes of partition"
              + " lgtest from 2030-01-02T10:00:00Z to 2030-01-02T10:30:00Z for user 'alice'"
              + " (ReservationName=lg-tokyo-r-1): Error creating the reservation: Requested"
              + " nodes are busy");
        });
    Files.writeString(dir.resolve("create.err"),
        "Error creating the reservation: Invalid user id\n");
    assertThatThrownBy(() -> slurm(null, null, 1).create(spec("r-2", 1), D))
        .hasMessageEndingWith("Invalid user id (the user must exist on the Slurm cluster, and"
            + " the CRM's user must be root, SlurmUser or a Slurm operator)");
    assertThat(dir.resolve("resv")).isEmptyDirectory();
  }

  @Test
  void existsLooksTheNameUpAndChangesNothing() throws Exception {
    Files.writeString(dir.resolve("resv/lg-tokyo-r-1"), "ReservationName=lg-tokyo-r-1"
        + " NodeCnt=1 Users=root\n");
    SlurmReservations s = slurm(null, null, 1);
    assertThat(s.exists("lg-tokyo-r-1", D)).isTrue();
    assertThat(s.exists("lg-tokyo-r-2", D)).isFalse();
    assertThat(Files.readString(dir.resolve("resv/lg-tokyo-r-1"))).contains("Users=root");
    assertThat(calls()).containsExactly("-o show reservation lg-tokyo-r-1",
        "-o show reservation lg-tokyo-r-2"); // no create, no delete
  }

  @Test
  void aCreateThatDoesNotAnswerByTheCallersDeadlineIsUnavailableAndAnswersThen()
      throws Exception {
    Files.writeString(dir.resolve("create.sleep"), "");
    // The caller has 1.5 s left: scontrol gets that, not the 10 s a call may take at most.
    assertThatThrownBy(() -> slurm(null, null, 1).create(spec("r-1", 1),
        Deadline.after(1500, TimeUnit.MILLISECONDS)))
        .isInstanceOfSatisfying(RequestException.class, e -> {
          assertThat(e.code()).isEqualTo(Status.Code.UNAVAILABLE);
          assertThat(e.getMessage()).endsWith("(ReservationName=lg-tokyo-r-1): scontrol did"
              + " not answer within 1s");
        });
    // A deadline already passed runs nothing.
    Files.delete(dir.resolve("create.sleep"));
    Deadline passed = Deadline.after(-1, TimeUnit.SECONDS);
    assertThatThrownBy(() -> slurm(null, null, 1).create(spec("r-2", 1), passed))
        .hasMessageEndingWith("no time left to run scontrol before the caller's deadline");
    assertThatThrownBy(() -> slurm(null, null, 1).exists("lg-tokyo-r-2", passed))
        .isInstanceOf(BatchReservations.BatchReservationException.class);
    assertThat(calls()).containsExactly("create reservation ReservationName=lg-tokyo-r-1"
        + " StartTime=2030-01-02T10:00:00 EndTime=2030-01-02T10:30:00 NodeCnt=1 Users=alice");
  }

  @Test
  void aDuplicateNameSlurmReportsAtCreateIsRefusedTheSameWay() throws Exception {
    // Made between the look and the create.
    Files.writeString(dir.resolve("create.err"),
        "Error creating the reservation: Duplicate reservation name\n");
    assertThatThrownBy(() -> slurm(null, null, 1).create(spec("r-1", 1), D))
        .isInstanceOfSatisfying(RequestException.class, e -> {
          assertThat(e.code()).isEqualTo(Status.Code.ALREADY_EXISTS);
          assertThat(e.getMessage()).startsWith("ReservationName: 'lg-tokyo-r-1': Slurm"
              + " already has a reservation of that name");
        });
    assertThat(calls()).noneMatch(c -> c.startsWith("delete"));
  }

  @Test
  void aReservationSlurmQuietlyShrankIsDeletedAndRefused() throws Exception {
    Files.writeString(dir.resolve("nodecnt"), "1");
    assertThatThrownBy(() -> slurm(null, null, 1).create(spec("r-1", 2), D))
        .isInstanceOfSatisfying(RequestException.class, e -> {
          assertThat(e.code()).isEqualTo(Status.Code.FAILED_PRECONDITION);
          assertThat(e.getMessage()).endsWith(": Slurm has only 1 usable node for it in the"
              + " window");
        });
    assertThat(dir.resolve("resv")).isEmptyDirectory();
    assertThat(calls()).last().isEqualTo("delete ReservationName=lg-tokyo-r-1");
  }

  @Test
  void deleteIsIdempotentAndReportsAReservationStillInUse() throws Exception {
    SlurmReservations s = slurm(null, null, 1);
    s.create(spec("r-1", 1), D);
    s.delete("lg-tokyo-r-1", D);
    s.delete("lg-tokyo-r-1", D); // gone: fine
    s.create(spec("r-2", 1), D);
    Files.writeString(dir.resolve("delete.err"),
        "delete_reservation ReservationName=lg-tokyo-r-2: Requested reservation is in use\n");
    assertThatThrownBy(() -> s.delete("lg-tokyo-r-2", D))
        .isInstanceOf(BatchReservations.BatchReservationException.class)
        .hasMessage("Slurm did not delete reservation lg-tokyo-r-2 (exit 1): delete_reservation"
            + " ReservationName=lg-tokyo-r-2: Requested reservation is in use");
    assertThat(dir.resolve("resv/lg-tokyo-r-2")).exists();
  }

  @Test
  void whatTheCreatePassesIsWhatIsAskedAndItsReservationIsDeletedIfAsked() throws Exception {
    SlurmReservations s = slurm("grid", "physics", 2);
    BatchReservations.Asked asked = s.asked(spec("r-1", 3));
    assertThat(asked).isEqualTo(new BatchReservations.Asked(
        Instant.parse("2030-01-02T10:00:00Z"), END, "alice", "physics", 2, "grid"));
    s.create(spec("r-1", 3), D);
    assertThat(s.deleteIfAsked("lg-tokyo-r-1", asked, D)).isNull();
    assertThat(dir.resolve("resv")).isEmptyDirectory();
    assertThat(s.deleteIfAsked("lg-tokyo-r-1", asked, D)).isNull(); // gone: fine
    assertThat(calls()).containsSubsequence("-o show reservation lg-tokyo-r-1",
        "delete ReservationName=lg-tokyo-r-1", "-o show reservation lg-tokyo-r-1");
    assertThat(calls()).filteredOn(c -> c.startsWith("delete")).hasSize(1);
  }

  /** As Slurm 22.05 shows one (scontrol -o show reservation) asked for by {@link #spec}. */
  private static final String OURS = "ReservationName=NAME StartTime=2030-01-02T10:00:00"
      + " EndTime=2030-01-02T10:30:00 Duration=00:30:00 Nodes=n1 NodeCnt=1 CoreCnt=1"
      + " Features=(null) PartitionName=debug Flags= TRES=cpu=1 Users=alice Groups=(null)"
      + " Accounts=physics Licenses=(null) State=INACTIVE BurstBuffer=(null) Watts=n/a"
      + " MaxStartDelay=(null)\n";

  /** Each of {@code shown}'s lines as Slurm's reservation lg-tokyo-KEY. */
  private void slurmHas(Map<String, String> shown) throws IOException {
    for (Map.Entry<String, String> e : shown.entrySet()) {
      String name = "lg-tokyo-" + e.getKey();
      Files.writeString(dir.resolve("resv").resolve(name), e.getValue().replace("NAME", name));
    }
  }

  private List<String> leftInSlurm() throws IOException {
    try (var left = Files.list(dir.resolve("resv"))) {
      return left.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void aReservationUnderTheNameThatIsNotWhatWasAskedIsLeftAlone() throws Exception {
    SlurmReservations s = slurm(null, "physics", 1);
    BatchReservations.Asked asked = s.asked(spec("r-1", 1));
    Map<String, String> shown = Map.of(
        "a", OURS,
        "b", OURS.replace("StartTime=2030-01-02T10:00:00", "StartTime=2030-01-02T10:00:01"),
        "c", OURS.replace("EndTime=2030-01-02T10:30:00", "EndTime=2030-01-02T11:30:00"),
        "d", OURS.replace("Users=alice", "Users=alice,bob"),
        "e", OURS.replace("Accounts=physics", "Accounts=(null)"));
    slurmHas(shown);
    Map<String, BatchReservations.Mismatch> got = new java.util.TreeMap<>();
    for (String k : shown.keySet()) {
      got.put(k, s.deleteIfAsked("lg-tokyo-" + k, asked, D));
    }
    assertThat(got).containsEntry("a", null)
        // Not started (now is years before it): a StartTime other than the one asked differs.
        .containsEntry("b", new BatchReservations.Mismatch("StartTime", "2030-01-02T10:00:00",
            "2030-01-02T10:00:01"))
        .containsEntry("c", new BatchReservations.Mismatch("EndTime", "2030-01-02T10:30:00",
            "2030-01-02T11:30:00"))
        .containsEntry("d", new BatchReservations.Mismatch("Users", "alice", "alice,bob"))
        .containsEntry("e", new BatchReservations.Mismatch("Accounts", "physics", "(null)"));
    assertThat(leftInSlurm()).containsExactly("lg-tokyo-b", "lg-tokyo-c", "lg-tokyo-d",
        "lg-tokyo-e");
    assertThat(calls()).filteredOn(c -> c.startsWith("delete"))
        .containsExactly("delete ReservationName=lg-tokyo-a");
  }

  @Test
  void aStartedReservationWhoseStartSlurmMovedTowardsNowIsStillOurs() throws Exception {
    // Ten minutes into the window. slurmctld sets a started reservation's StartTime to its
    // "now" when it changes it (a reserved node went away; node changes and a restart).
    java.time.Clock now = java.time.Clock.fixed(Instant.parse("2030-01-02T10:10:00Z"),
        java.time.ZoneOffset.UTC);
    SlurmReservations s = new SlurmReservations(new SlurmReservations.Options("tokyo", null,
        "physics", 1, true, List.of(bin)), now);
    BatchReservations.Asked asked = s.asked(spec("r-1", 1));
    Map<String, String> shown = Map.of(
        "moved", OURS.replace("StartTime=2030-01-02T10:00:00", "StartTime=2030-01-02T10:07:42"),
        "skew", OURS.replace("StartTime=2030-01-02T10:00:00", "StartTime=2030-01-02T10:10:04"),
        "later", OURS.replace("StartTime=2030-01-02T10:00:00", "StartTime=2030-01-02T10:15:00"),
        "earlier", OURS.replace("StartTime=2030-01-02T10:00:00",
            "StartTime=2030-01-02T09:59:59"),
        "moved-end", OURS.replace("StartTime=2030-01-02T10:00:00",
            "StartTime=2030-01-02T10:07:42").replace("EndTime=2030-01-02T10:30:00",
            "EndTime=2030-01-02T10:37:42"));
    slurmHas(shown);
    Map<String, BatchReservations.Mismatch> got = new java.util.TreeMap<>();
    for (String k : shown.keySet()) {
      got.put(k, s.deleteIfAsked("lg-tokyo-" + k, asked, D));
    }
    assertThat(got).containsEntry("moved", null)
        .containsEntry("skew", null) // slurmctld's clock a few seconds ahead of the CRM's
        .containsEntry("later", new BatchReservations.Mismatch("StartTime",
            "2030-01-02T10:00:00", "2030-01-02T10:15:00"))
        .containsEntry("earlier", new BatchReservations.Mismatch("StartTime",
            "2030-01-02T10:00:00", "2030-01-02T09:59:59"))
        .containsEntry("moved-end", new BatchReservations.Mismatch("EndTime",
            "2030-01-02T10:30:00", "2030-01-02T10:37:42"));
    assertThat(leftInSlurm()).containsExactly("lg-tokyo-earlier", "lg-tokyo-later",
        "lg-tokyo-moved-end");
  }

  @Test
  void aReservationShownWithoutAFieldOrInAnotherFormIsNeitherOursNorForeign()
      throws Exception {
    SlurmReservations s = slurm(null, "physics", 1);
    BatchReservations.Asked asked = s.asked(spec("r-1", 1));
    slurmHas(Map.of(
        "f", OURS.replace("StartTime=2030-01-02T10:00:00", "StartTime=Tomorrow"),
        "g", OURS.replace(" Users=alice", ""),
        "h", OURS.replace(" Accounts=physics", "")));
    assertThatThrownBy(() -> s.deleteIfAsked("lg-tokyo-f", asked, D))
        .isInstanceOf(BatchReservations.BatchReservationException.class)
        .hasMessage("cannot tell whether Slurm reservation lg-tokyo-f is the one asked for:"
            + " scontrol shows StartTime=Tomorrow, not a time YYYY-MM-DDTHH:MM:SS (it must run"
            + " with TZ=UTC and SLURM_TIME_FORMAT=standard)");
    assertThatThrownBy(() -> s.deleteIfAsked("lg-tokyo-g", asked, D))
        .isInstanceOf(BatchReservations.BatchReservationException.class)
        .hasMessage("cannot tell whether Slurm reservation lg-tokyo-g is the one asked for:"
            + " scontrol shows no Users");
    assertThatThrownBy(() -> s.deleteIfAsked("lg-tokyo-h", asked, D))
        .hasMessageEndingWith("scontrol shows no Accounts");
    assertThat(leftInSlurm()).containsExactly("lg-tokyo-f", "lg-tokyo-g", "lg-tokyo-h");
    assertThat(calls()).noneMatch(c -> c.startsWith("delete"));
  }

  @Test
  void onlyScontrolsNotFoundMeansGoneAnyOtherAnswerIsAnError() throws Exception {
    SlurmReservations s = slurm(null, null, 1);
    s.create(spec("r-1", 1), D);
    BatchReservations.Asked asked = s.asked(spec("r-1", 1));
    Files.writeString(dir.resolve("show.err"), "slurm_load_reservations error: Unable to"
        + " contact slurm controller (connect failure)\n");
    assertThatThrownBy(() -> s.deleteIfAsked("lg-tokyo-r-1", asked, D))
        .isInstanceOf(BatchReservations.BatchReservationException.class)
        .hasMessage("cannot look for Slurm reservation lg-tokyo-r-1: scontrol show reservation"
            + " lg-tokyo-r-1 exited 1: slurm_load_reservations error: Unable to contact slurm"
            + " controller (connect failure)");
    assertThatThrownBy(() -> s.exists("lg-tokyo-r-1", D))
        .isInstanceOf(BatchReservations.BatchReservationException.class);
    assertThatThrownBy(() -> s.exists("lg-tokyo-r-2", D))
        .isInstanceOf(BatchReservations.BatchReservationException.class);
    Files.delete(dir.resolve("show.err"));
    Files.writeString(dir.resolve("show.nothing"), ""); // exit 0, no line for it
    assertThatThrownBy(() -> s.deleteIfAsked("lg-tokyo-r-1", asked, D))
        .isInstanceOf(BatchReservations.BatchReservationException.class)
        .hasMessageEndingWith("scontrol show reservation lg-tokyo-r-1 exited 0 but showed no"
            + " reservation of that name: (no output)");
    assertThatThrownBy(() -> s.exists("lg-tokyo-r-2", D))
        .isInstanceOf(BatchReservations.BatchReservationException.class);
    assertThat(dir.resolve("resv/lg-tokyo-r-1")).exists();
    assertThat(calls()).noneMatch(c -> c.startsWith("delete"));
    // scontrol's "Reservation NAME not found" (on stdout, exit 1) is gone.
    Files.delete(dir.resolve("show.nothing"));
    assertThat(s.exists("lg-tokyo-r-2", D)).isFalse();
    assertThat(s.deleteIfAsked("lg-tokyo-r-2", asked, D)).isNull();
  }

  @Test
  void aSiteKeepsItsRecordAndDeletesNothingWhileScontrolDoesNotShowTheReservation()
      throws Exception {
    org.lambdagrid.crm.site.SiteReservations rs = new org.lambdagrid.crm.site.SiteReservations(
        new org.lambdagrid.crm.site.SiteSettings("tokyo", 4,
            List.of(org.lambdagrid.common.Ipv4Cidr.parse("10.10.0.0/16")), 1,
            java.time.Duration.ofSeconds(5), java.time.Duration.ofSeconds(1)),
        java.time.Clock.systemUTC(), java.time.Duration.ofSeconds(120),
        org.lambdagrid.crm.site.SiteLedger.NONE, slurm(null, null, 1));
    rs.prepare("r-1", new org.lambdagrid.common.reservation.Window(START, END), 1,
        org.lambdagrid.common.Ipv4Cidr.parse("10.10.0.0/29"), "alice");
    assertThat(rs.batchReservations()).containsExactly(Map.entry("r-1", "lg-tokyo-r-1"));
    Files.writeString(dir.resolve("show.err"), "slurm_load_reservations error: Unable to"
        + " contact slurm controller (connect failure)\n");
    rs.abort("r-1"); // its delete looks first: scontrol fails
    assertThat(rs.sweepBatch()).isEqualTo(1);
    Files.delete(dir.resolve("show.err"));
    Files.writeString(dir.resolve("show.nothing"), ""); // exit 0, no line for it
    assertThat(rs.sweepBatch()).isEqualTo(1);
    assertThat(rs.batchReservations()).containsExactly(Map.entry("r-1", "lg-tokyo-r-1"));
    assertThat(dir.resolve("resv/lg-tokyo-r-1")).exists();
    assertThat(calls()).noneMatch(c -> c.startsWith("delete"));
    // Slurm answers again: the reservation is deleted and its name forgotten.
    Files.delete(dir.resolve("show.nothing"));
    assertThat(rs.sweepBatch()).isZero();
    assertThat(rs.batchReservations()).isEmpty();
    assertThat(dir.resolve("resv")).isEmptyDirectory();
  }

  @Test
  void aDeleteFailingWithAnotherNotFoundIsNotTakenForGone() throws Exception {
    // Only Slurm's "Requested reservation is invalid" means there is none of that name.
    SlurmReservations s = slurm(null, null, 1);
    s.create(spec("r-1", 1), D);
    Files.writeString(dir.resolve("delete.err"), "delete_reservation ReservationName="
        + "lg-tokyo-r-1: Unable to contact slurm controller (connect failure): host not"
        + " found\n");
    assertThatThrownBy(() -> s.delete("lg-tokyo-r-1", D))
        .isInstanceOf(BatchReservations.BatchReservationException.class)
        .hasMessageEndingWith("host not found");
  }

  @Test
  void scontrolRunsWithTheTimeZoneAndFormatTheCrmReadsTimesIn() throws Exception {
    // The fake refuses to run without TZ=UTC and SLURM_TIME_FORMAT=standard; these are set by
    // the CRM whatever its own environment says.
    SlurmReservations s = slurm(null, null, 1);
    s.create(spec("r-1", 1), D);
    assertThat(s.exists("lg-tokyo-r-1", D)).isTrue();
    assertThat(dir.resolve("resv/lg-tokyo-r-1")).exists();
    // Run without them, the fake refuses (so every test here checks that contract).
    ProcessBuilder pb = new ProcessBuilder(bin.resolve("scontrol").toString(), "-o", "show",
        "reservation", "lg-tokyo-r-1").redirectErrorStream(true);
    pb.environment().put("TZ", "Asia/Tokyo");
    pb.environment().put("SLURM_TIME_FORMAT", "standard");
    Process p = pb.start();
    assertThat(new String(p.getInputStream().readAllBytes())).startsWith("fake scontrol: run"
        + " me with TZ=UTC SLURM_TIME_FORMAT=standard");
    assertThat(p.waitFor()).isEqualTo(2);
  }

  @Test
  void anIdThatCannotNameASlurmReservationIsInvalid() {
    assertThatThrownBy(() -> slurm(null, null, 1).name("r 1;rm"))
        .isInstanceOfSatisfying(RequestException.class, e -> {
          assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(e.getMessage()).startsWith("reservation_id: 'r 1;rm' cannot name a Slurm"
              + " reservation");
        });
    assertThatThrownBy(() -> slurm(null, null, 1).create(
        new BatchReservations.Spec("r-1", START, END, 1, "bad user"), D))
        .hasMessageStartingWith("user: 'bad user' is not a user name");
  }

  @Test
  void capacityCountsTheUsableRespondingNodesOfThePartitionTimesPilotsPerNode()
      throws Exception {
    Files.writeString(dir.resolve("sinfo.out"), """
        n1|idle|grid
        n2|mixed|grid
        n3|allocated|grid
        n4|down*|grid
        n5|drained|grid
        n6|idle*|grid
        n7|reserved|grid
        n1|idle|debug*
        n8|idle~|grid
        """);
    assertThat(slurm("grid", null, 3).capacity()).isEqualTo(15); // n1 n2 n3 n7 n8
    assertThat(Files.readString(dir.resolve("sinfo.calls"))).isEqualTo("-h -N -p grid -o"
        + " %N|%T|%P\n");
    assertThat(SlurmReservations.usableNodes(Files.readString(dir.resolve("sinfo.out")), null))
        .isEqualTo(1); // the default partition (debug*): n1
    Files.delete(bin.resolve("sinfo"));
    assertThat(slurm(null, null, 1).capacity()).isEqualTo(-1);
  }

  @Test
  void timesAreCutToTheSecondInUtc() {
    assertThat(SlurmReservations.time(Instant.parse("2030-01-02T10:00:00Z")))
        .isEqualTo("2030-01-02T10:00:00");
    assertThat(SlurmReservations.time(Instant.parse("2030-01-02T10:00:00.999Z")))
        .isEqualTo("2030-01-02T10:00:00");
  }
}
