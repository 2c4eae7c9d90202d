package org.lambdagrid.it;

import static org.lambdagrid.it.Testbed.JSON;
import static org.lambdagrid.it.Testbed.REPO;
import static org.lambdagrid.it.Testbed.USER;
import static org.lambdagrid.it.Testbed.grcAsUser;
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
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code testbed up --routed}: each site's underlay lives in its own network namespace
 * ({@code lg-site-<site>}), reached from the others only through the router namespace
 * {@code lg-core}; no bridge joins the sites. Each site's crm.yaml names its overlay endpoint, which
 * its CRM registers ({@code grc sites} shows it). A reservation with bandwidth gets a VXLAN
 * overlay (its own VNI, MTU 1450 over the 1500 underlay, shaped to the reserved rate; each site's
 * CRM builds its own end from what the GRC sent in its Prepare), every
 * guest's interface gets the overlay's MTU, and the MPI hello runs across both sites on it;
 * cancelling removes the overlay, and down leaves nothing. Needs root, sshd, mpicc; skipped with
 * the reason otherwise.
 */
@Tag("root")
class RoutedEndToEndTest {
  private static boolean up;
  private static Path work;

  @BeforeAll
  static void upTheTestbed() throws Exception {
    Testbed.assumeCanRun(List.of(), "run scripts/setup-host");
    work = MpiUser.prepare(USER, "lambdagrid-e2e", REPO);
    up = true;
    Testbed.up("--routed");
  }

  @AfterAll
  static void downTheTestbed() throws Exception {
    if (up) {
      Testbed.down();
    }
  }

  @Test
  void mpiRunsAcrossRoutedSitesOverTheReservationsVxlanOverlay() throws Exception {
    // Routed, not joined: no core bridge or inter-site veth in this namespace; the sites'
    // underlay namespaces and the router exist.
    String links = Sh.run(Duration.ofSeconds(10), "ip", "-o", "link", "show").orFail("ip link").out();
    assertThat(links).doesNotContain("lgbr-core").doesNotContain("lgup-");
    assertThat(Sh.run(Duration.ofSeconds(10), "ip", "netns", "list").orFail("ip netns").out())
        .contains("lg-site-alpha", "lg-site-bravo", "lg-core");

    // The endpoints come from the sites' registrations (crm.yaml overlay:).
    String sites = grcAsUser(Duration.ofSeconds(30), "sites").orFail("grc sites").out();
    assertThat(sites).contains("OVERLAY", "172.31.255.2 mtu 1500", "172.31.255.6 mtu 1500");

    String rid = grcAsUser(Duration.ofMinutes(1), "reserve", "--site", "alpha=2", "--site",
        "bravo=2", "--bandwidth", "200M", "--duration", "10m").orFail("grc reserve").out().trim();
    assertThat(rid).matches("r-[0-9a-f]{8}");
    JsonNode r = JSON.readTree(grcAsUser(Duration.ofSeconds(30), "reservations", rid, "-o",
        "json").orFail("grc reservations").out());
    assertThat(r.path("siteBridges").path("alpha").asText()).as(r.toString()).startsWith("lgn");
    // One VXLAN device per site (a tunnel end per pair), 1450 bytes inside, shaped to 200 Mbit/s.
    List<String> vteps = new ArrayList<>();
    for (String line : Sh.run(Duration.ofSeconds(10), "ip", "-o", "link", "show").orFail("ip link")
        .out().lines().toList()) {
      String name = line.split(": ")[1].split("@")[0];
      if (name.matches("lgn[0-9a-f]{6}x[0-9]+")) {
        vteps.add(name);
      }
    }
    assertThat(vteps).as("one VXLAN device per site").hasSize(2);
    // Each site's CRM built its own end (bridge + tunnel) and recorded it in its state_dir.
    for (String site : List.of("alpha", "bravo")) {
      java.nio.file.Path rec = Testbed.STATE.resolve("crm-" + site).resolve("overlay").resolve(rid + ".json");
      assertThat(rec).as(site + "'s CRM records its end").exists();
      JsonNode end = JSON.readTree(rec.toFile());
      assertThat(end.path("built").asBoolean()).as(end.toString()).isTrue();
      assertThat(end.path("plan").path("bridge").asText()).isEqualTo(r.path("siteBridges").path(site).asText());
      assertThat(end.path("plan").path("tunnels")).as(end.toString()).hasSize(1);
    }
    for (String v : vteps) {
      assertThat(Sh.run(Duration.ofSeconds(10), "ip", "-d", "link", "show", "dev", v).orFail("ip -d").out())
          .as(v).contains("vxlan id", "mtu 1450", "dstport 4789", "isolated on");
      assertThat(Sh.run(Duration.ofSeconds(10), "tc", "class", "show", "dev", v).orFail("tc").out())
          .as(v).contains("rate 200Mbit");
    }

    Sh.Result run = grcAsUser(Duration.ofMinutes(3), "submit", "--reservation", rid, "--wait",
        "--workdir", work.toString(), "--", "sh", "-c",
        "mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 4 sh -c 'echo \"eth0 mtu $(cat /sys/class/net/eth0/mtu)\"'"
            + " && exec mpirun --hostfile \"$LAMBDAGRID_HOSTFILE\" -np 4 ./mpi_hello");
    assertThat(run.exit()).as("grc submit --wait\n" + run.out() + run.err()).isZero();
    Matcher id = Pattern.compile("submitted (j-[0-9a-f]{8})").matcher(run.err());
    assertThat(id.find()).as(run.err()).isTrue();
    Testbed.assertMpiHelloRanOnEveryGuest(id.group(1), run);
    // Every guest's interface has the overlay's MTU (from its bridge), not the default 1500.
    assertThat(run.out().lines().filter(l -> l.startsWith("eth0 mtu ")).toList()).as(run.out())
        .containsExactly("eth0 mtu 1450", "eth0 mtu 1450", "eth0 mtu 1450", "eth0 mtu 1450");

    grcAsUser(Duration.ofMinutes(1), "cancel", rid).orFail("grc cancel " + rid);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      for (String v : vteps) {
        assertThat(Sh.run(Duration.ofSeconds(10), "ip", "link", "show", v).exit()).as(v + " removed").isNotZero();
      }
      for (String site : List.of("alpha", "bravo")) {
        assertThat(Sh.run(Duration.ofSeconds(10), "ip", "link", "show", r.path("siteBridges").path(site).asText())
            .exit()).as(site + "'s bridge removed").isNotZero();
        assertThat(Testbed.STATE.resolve("crm-" + site).resolve("overlay").resolve(rid + ".json"))
            .as(site + "'s record removed").doesNotExist();
      }
    });
  }
}
