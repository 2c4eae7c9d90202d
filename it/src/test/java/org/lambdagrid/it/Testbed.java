package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The scripts/testbed grid as the root end-to-end tests use it: 2 sites (alpha, bravo) x 2
 * nodes, mutual TLS, and the non-root user {@link #USER} with a user certificate, running the
 * real {@code grc} command. Only one testbed can be up on a machine at a time.
 */
final class Testbed {
  static final Path REPO = Path.of("").toAbsolutePath().getParent();
  static final Path STATE = Path.of("/run/lambdagrid/testbed");
  static final String GRC = STATE.resolve("dist/bin/grc").toString();
  static final String USER = "lgtest";
  /** The testbed's own links, expected while it is up. */
  static final List<String> TESTBED_LINKS = List.of("lgbr-core", "lgbr-alpha",
      "lgbr-bravo", "lgup-alpha", "lgdn-alpha", "lgup-bravo", "lgdn-bravo");
  /** The tmpfs that holds a testbed's state while it is up (scripts/testbed). */
  static final List<String> TESTBED_MOUNTS = List.of("/run/lambdagrid/testbed");
  static final ObjectMapper JSON = new ObjectMapper();

  private Testbed() {}

  /** Skips the calling test class, saying why, unless this machine can run the testbed. */
  static void assumeCanRun(List<String> extraTools, String howToGetThem) {
    assumeTrue("root".equals(System.getProperty("user.name")), "needs root (namespaces, bridges)");
    List<String> tools = new ArrayList<>(List.of("sshd", "mpicc", "mpirun", "unshare", "nsenter",
        "setpriv", "sudo"));
    tools.addAll(extraTools);
    for (String tool : tools) {
      assumeTrue(Sh.onPath(tool), "needs " + tool + " (" + howToGetThem + ")");
    }
    assumeTrue(Files.isDirectory(REPO.resolve("nodemanager/target/lib")),
        "needs a packaged build (mvn package)");
  }

  /** {@code testbed up --sites 2 --nodes 2 --user USER EXTRA...}; fails if one is already up. */
  static void up(String... extraArgs) throws Exception {
    assertThat(Files.exists(STATE)).as("a testbed is already up in " + STATE).isFalse();
    List<String> cmd = new ArrayList<>(List.of(REPO.resolve("scripts/testbed").toString(), "up",
        "--sites", "2", "--nodes", "2", "--user", USER));
    cmd.addAll(List.of(extraArgs));
    Sh.run(Duration.ofMinutes(3), cmd.toArray(String[]::new)).orFail(String.join(" ", cmd));
  }

  /** {@code testbed down}, then asserts that nothing of lambdagrid is left on the machine. */
  static void down() throws Exception {
    Sh.Result down = Sh.run(Duration.ofMinutes(2), REPO.resolve("scripts/testbed").toString(),
        "down");
    assertThat(down.exit()).as(down.out() + down.err()).isZero();
    assertThat(Sh.leftovers(List.of(), List.of())).as("left behind after testbed down").isEmpty();
    assertThat(Files.exists(Path.of("/etc/sudoers.d/lambdagrid-testbed"))).isFalse();
    String home = Sh.run(Duration.ofSeconds(10), "getent", "passwd", USER).out().split(":")[5];
    assertThat(Path.of(home, ".lambdagrid", "user.key"))
        .as("testbed down removes the user's certificate").doesNotExist();
  }

  /** No launcher or NodeManager of the job runs (pgrep finds no {@code --job JOB}). */
  static void assertNoProcessOf(String jobId) throws Exception {
    Sh.Result left = Sh.run(Duration.ofSeconds(10), "pgrep", "-af", "[-]-job " + jobId);
    assertThat(left.exit()).as("no launcher or NodeManager of the job is left: " + left.out())
        .isEqualTo(1);
  }

  /**
   * One operations port of the testbed (testbed.env: the GRC's is HTTP_GRC, the node agent's
   * HTTP_AGENT, the i-th site's CRM's HTTP_GRC + i).
   */
  static int httpPort(String key) throws Exception {
    for (String line : Files.readAllLines(STATE.resolve("testbed.env"))) {
      if (line.startsWith(key + "=")) {
        return Integer.parseInt(line.substring(key.length() + 1).trim());
      }
    }
    throw new AssertionError("testbed.env has no " + key);
  }

  /** The timeline page's operator token that {@code testbed up} issued (STATE/timeline.token). */
  static String timelineToken() throws Exception {
    return Files.readString(STATE.resolve("timeline.token")).trim();
  }

  /**
   * The value of one sample on {@code port}'s /metrics (scraped over HTTP), e.g.
   * {@code metric(p, "lambdagrid_grc_jobs_finished_total{state=\"SUCCEEDED\"}")}; 0 if absent.
   */
  static double metric(int port, String sample) throws Exception {
    var r = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as("GET /metrics on port " + port).isEqualTo(200);
    return r.body().lines().filter(l -> l.startsWith(sample + " "))
        .mapToDouble(l -> Double.parseDouble(l.substring(sample.length() + 1).trim()))
        .findFirst().orElse(0);
  }

  /** The real {@code grc} command, run as {@link #USER}. */
  static Sh.Result grcAsUser(Duration timeout, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("runuser", "-u", USER, "--", GRC));
    cmd.addAll(List.of(args));
    return Sh.run(timeout, cmd.toArray(String[]::new));
  }

  /** {@code grc status JOB -o json}. */
  static JsonNode job(String id) throws Exception {
    return JSON.readTree(grcAsUser(Duration.ofSeconds(30), "status", id, "-o", "json")
        .orFail("grc status").out());
  }

  /**
   * Checks what scripts/examples/mpi_hello printed for a 2-site x 2-node job: 4 ranks on the 4
   * distinct guests, each at the address the grid assigned it (from {@code grc hosts}), all as
   * {@link #USER}, and a right MPI_Allreduce.
   */
  static void assertMpiHelloRanOnEveryGuest(String jobId, Sh.Result r) throws Exception {
    JsonNode hosts = JSON.readTree(grcAsUser(Duration.ofSeconds(30), "hosts", jobId, "-o",
        "json").orFail("grc hosts").out());
    Map<String, String> addressOf = new HashMap<>();
    hosts.get("nodes").forEach(n -> addressOf.put(n.get("hostname").asText(),
        n.get("address").asText()));
    assertThat(addressOf).containsOnlyKeys("alpha-0", "alpha-1", "bravo-0", "bravo-1");
    String uid = Sh.run(Duration.ofSeconds(10), "id", "-u", USER).out().trim();
    Pattern rank = Pattern.compile("rank (\\d) of 4 on (\\S+) \\((\\S+)\\) uid (\\d+)");
    Map<String, String> seen = new HashMap<>();
    for (String line : r.out().lines().toList()) {
      Matcher m = rank.matcher(line);
      if (m.matches()) {
        assertThat(m.group(3)).as(line).isEqualTo(addressOf.get(m.group(2)));
        assertThat(m.group(4)).as("the job runs as the user, never root").isEqualTo(uid);
        seen.put(m.group(1), m.group(2));
      }
    }
    assertThat(seen).as(r.out()).containsOnlyKeys("0", "1", "2", "3");
    assertThat(seen.values()).containsExactlyInAnyOrder("alpha-0", "alpha-1", "bravo-0", "bravo-1");
    assertThat(r.out()).contains("allreduce: sum of ranks = 6, expected 6: OK");
  }
}
