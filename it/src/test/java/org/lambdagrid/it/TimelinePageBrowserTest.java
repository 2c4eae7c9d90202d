package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.lambdagrid.it.Testbed.REPO;
import static org.lambdagrid.it.Testbed.USER;
import static org.lambdagrid.it.Testbed.grcAsUser;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The GRC's timeline page in a real browser (headless Chromium over the DevTools protocol, on
 * pipes) against the real testbed: its JSON refuses a request without a token, with a wrong one
 * or with a user's (401), and the page shows only its sign-in form until the operator token
 * {@code testbed up} issued is entered; signed in, it shows the reservation {@code grc reserve}
 * just made, with its share of both inter-site links; a job submitted into it appears, grows
 * while it runs and reaches SUCCEEDED without the page being reloaded; a click shows its phases;
 * a job's command is shown as text, never as markup; signing out leaves no data on screen. Saves
 * a screenshot (it/target/timeline.png, or the path in
 * {@code -Dlambdagrid.timeline.screenshot}, relative to the checkout). Needs root, the
 * testbed's tools and chromium (scripts/setup-host); skipped with the reason otherwise.
 */
@Tag("root")
class TimelinePageBrowserTest {
  private static boolean up;
  private static Path work;
  private static HeadlessChromium browser;
  private static Path browserDir;

  @BeforeAll
  static void upTheTestbedAndABrowser() throws Exception {
    Testbed.assumeCanRun(List.of("chromium"), "run scripts/setup-host");
    work = MpiUser.prepare(USER, "lambdagrid-timeline", REPO);
    up = true;
    Testbed.up();
    browserDir = Files.createTempDirectory("lg-chromium");
    browser = HeadlessChromium.start(browserDir);
  }

  @AfterAll
  static void downTheBrowserAndTheTestbed() throws Exception {
    try {
      if (browser != null) {
        browser.close();
        assertThat(browser.processesLeft()).as("chromium processes left").isEmpty();
      } else if (browserDir != null) {
        // start() failed (it removes what it made) or never ran: nothing of it may stay
        Sh.run(Duration.ofSeconds(30), "rm", "-rf", "--", browserDir.toString());
      }
      if (browserDir != null) {
        assertThat(browserDir).doesNotExist();
      }
    } finally {
      if (up) {
        Testbed.down();
      }
    }
  }

  @Test
  void showsTheReservationGrcReserveMade_andItsJobFromStartToSuccessWithoutAReload()
      throws Exception {
    // Without pre-built guests, so the job goes through every phase of its own.
    String rid = grcAsUser(Duration.ofMinutes(1), "reserve", "--site", "alpha=2", "--site",
        "bravo=2", "--bandwidth", "200M", "--duration", "10m", "--no-prebuild")
        .orFail("grc reserve").out().trim();
    assertThat(rid).matches("r-[0-9a-f]{8}");

    // The JSON is for operators: no token, a wrong one, a user's are all refused.
    int port = Testbed.httpPort("HTTP_GRC");
    String token = Testbed.timelineToken();
    assertThat(token).startsWith("lgt_");
    String userToken = Sh.run(Duration.ofMinutes(1), Testbed.STATE.resolve(
        "dist/bin/grc-server").toString(), "issue-token", "--file", Testbed.STATE.resolve(
        "config/timeline.tokens").toString(), USER).orFail("issue-token").out().trim();
    Map<String, String> refusals = new LinkedHashMap<>();
    refusals.put("none", null);
    refusals.put("wrong", "Bearer lgt_" + "x".repeat(43));
    refusals.put("user", "Bearer " + userToken);
    refusals.put("not bearer", "Basic " + token);
    for (Map.Entry<String, String> r : refusals.entrySet()) {
      for (String path : List.of("/api/timeline?span=300000", "/api/job?id=j-00000000")) {
        HttpResponse<String> a = api(port, path, r.getValue());
        assertThat(a.statusCode()).as(r.getKey() + " " + path).isEqualTo(401);
        assertThat(a.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v ->
            assertThat(v).startsWith("Bearer"));
        assertThat(a.body()).doesNotContain(token).doesNotContain(userToken)
            .doesNotContain(rid);
      }
    }
    assertThat(api(port, "/api/timeline?span=300000", "Bearer " + token).body()).contains(rid);

    // Before signing in, the page shows its form and nothing of the grid.
    String url = "http://127.0.0.1:" + port + "/?span=5m";
    HeadlessChromium.Page page = browser.open(url, 1400, 1000);
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(250)).until(() ->
        page.eval("!document.getElementById('login').hidden").asBoolean());
    assertNothingOfTheGridShown(page);
    assertThat(text(page, "#status")).isEqualTo("not signed in");
    Files.createDirectories(REPO.resolve("it/target"));
    Files.write(REPO.resolve("it/target/timeline-sign-in.png"), page.screenshot());

    // A wrong token through the form is refused, and the form stays.
    signIn(page, "lgt_" + "y".repeat(43));
    await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(250)).until(() ->
        text(page, "#login-error").equals("The GRC refused the token: unknown or revoked"
            + " token"));
    assertNothingOfTheGridShown(page);

    signIn(page, token);
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(250)).until(() ->
        page.eval("!!document.querySelector('[data-site=\"alpha\"] [data-reservation=\"" + rid
            + "\"]')").asBoolean());
    page.eval("window.loadedOnce = 'yes'"); // a reload would lose it
    assertThat(page.eval("document.getElementById('login').hidden"
        + " && sessionStorage.getItem('lambdagrid.timeline.token') !== null"
        + " && localStorage.length === 0").asBoolean())
        .as("signed in, the token in this tab's sessionStorage only").isTrue();
    assertThat(text(page, "[data-site=\"alpha\"] .row-note"))
        .isEqualTo("2 of 2 nodes reserved now");
    for (String link : List.of("alpha<->core", "bravo<->core")) {
      String row = "[data-link=\"" + link + "\"]";
      assertThat(text(page, row + " .row-note"))
          .isEqualTo("200 Mbit/s of 1 Gbit/s reserved now (20%)");
      assertThat(page.eval("document.querySelector('" + row + " [data-reservation=\"" + rid
          + "\"]').getBBox().height").asDouble()).as("the link's share is drawn").isPositive();
    }
    assertThat(text(page, "#reservations tr[data-reservation=\"" + rid + "\"]"))
        .contains(rid).contains(USER).contains("ACTIVE").contains("alpha=2, bravo=2")
        .contains("200 Mbit/s");

    String jid = grcAsUser(Duration.ofMinutes(1), "submit", "--reservation", rid, "--workdir",
        work.toString(), "--", "sleep", "8").orFail("grc submit").out().trim();
    assertThat(jid).matches("j-[0-9a-f]{8}");
    String bar = "document.querySelector('[data-site=\"alpha\"] [data-job=\"" + jid + "\"]')";
    List<String> seen = new ArrayList<>();
    List<Double> runningWidths = new ArrayList<>();
    await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(300)).until(() -> {
      JsonNode s = page.eval("(b => b && [b.getAttribute('data-state'),"
          + " b.getBBox().width])(" + bar + ")");
      if (s.isArray()) {
        String state = s.get(0).asText();
        if (seen.isEmpty() || !seen.get(seen.size() - 1).equals(state)) {
          seen.add(state);
        }
        if (state.equals("RUNNING")) {
          runningWidths.add(s.get(1).asDouble());
        }
        return state.equals("SUCCEEDED");
      }
      return false;
    });
    System.out.println("job " + jid + " bar states seen: " + seen + "; widths while running: "
        + runningWidths);
    assertThat(seen).as("the bar showed the job running, then done").contains("RUNNING")
        .endsWith("SUCCEEDED");
    assertThat(runningWidths.get(runningWidths.size() - 1))
        .as("the bar grows while the job runs").isGreaterThan(runningWidths.get(0));
    assertThat(page.eval("window.loadedOnce").asText()).as("the page was never reloaded")
        .isEqualTo("yes");

    // Its phase-by-phase view, by clicking its bar.
    page.eval(bar + ".dispatchEvent(new MouseEvent('click', {bubbles: true}))");
    List<String> phases = List.of("PENDING", "SETTING_UP", "EXCHANGING", "STARTING", "RUNNING",
        "SUCCEEDED");
    await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(250)).until(() ->
        phaseStates(page).equals(phases));
    assertThat(text(page, "#job-title")).isEqualTo("job " + jid + " (" + USER + "): SUCCEEDED");
    assertThat(text(page, "#job-summary")).contains("command: sleep 8")
        .contains("reservation " + rid).contains("exit code 0");
    assertThat(text(page, "#phases tr[data-state=\"RUNNING\"]")).contains("EXEC");
    assertThat(page.eval("document.querySelectorAll('#job-events tbody tr').length").asInt())
        .as("the job's events").isGreaterThan(phases.size());

    Path shot = REPO.resolve(System.getProperty("lambdagrid.timeline.screenshot",
        "it/target/timeline.png"));
    Files.createDirectories(shot.getParent());
    Files.write(shot, page.screenshot());
    System.out.println("screenshot: " + shot);

    // A command is data: the page writes it as text.
    String marked = grcAsUser(Duration.ofMinutes(1), "submit", "--reservation", rid, "--workdir",
        work.toString(), "--", "true", "<img id=pwned src=x onerror=document.title='pwned'>")
        .orFail("grc submit").out().trim();
    await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500)).until(() ->
        "SUCCEEDED".equals(page.eval("(r => r && r.getAttribute('data-state'))(document"
            + ".querySelector('#jobs tr[data-job=\"" + marked + "\"]'))").asText()));
    assertThat(text(page, "#jobs tr[data-job=\"" + marked + "\"]"))
        .contains("true <img id=pwned src=x onerror=document.title='pwned'>");
    assertThat(page.eval("document.getElementById('pwned') === null && document.title")
        .asText()).isEqualTo("lambdagrid timeline");

    // Cancelled, the reservation is shown so.
    grcAsUser(Duration.ofMinutes(1), "cancel", rid).orFail("grc cancel " + rid);
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(250)).until(() ->
        "CANCELLED".equals(page.eval("document.querySelector('#reservations tr[data-reservation"
            + "=\"" + rid + "\"]').getAttribute('data-state')").asText()));
    assertThat(page.eval("window.loadedOnce").asText()).isEqualTo("yes");

    // Signed out: the form again, nothing of the grid left on screen, the token forgotten.
    page.eval("document.getElementById('sign-out').click()");
    await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(250)).until(() ->
        page.eval("!document.getElementById('login').hidden").asBoolean());
    Thread.sleep(2000); // a poll in flight at sign-out draws nothing
    assertNothingOfTheGridShown(page);
    assertThat(page.eval("sessionStorage.getItem('lambdagrid.timeline.token')").isNull())
        .isTrue();
  }

  /** Fills the sign-in form's token field and clicks Sign in (as a user would). */
  private static void signIn(HeadlessChromium.Page page, String token) throws Exception {
    page.eval("document.getElementById('token').value = "
        + Testbed.JSON.writeValueAsString(token) + ";"
        + " document.getElementById('sign-in').click()");
  }

  private static void assertNothingOfTheGridShown(HeadlessChromium.Page page) throws Exception {
    assertThat(page.eval("document.getElementById('content').hidden").asBoolean())
        .as("the chart and tables are hidden").isTrue();
    assertThat(page.eval("document.querySelectorAll('[data-reservation], [data-job],"
        + " [data-site]').length").asInt()).as("no reservation, job or site on the page")
        .isZero();
  }

  /** A GET of the GRC's timeline JSON over plain HTTP, with this Authorization header. */
  private static HttpResponse<String> api(int port, String path, String authorization)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
        + path)).timeout(Duration.ofSeconds(20));
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String text(HeadlessChromium.Page page, String selector) throws Exception {
    return page.eval("(e => e ? e.textContent : '(no element " + selector.replace("'", "\\'")
        + ")')(document.querySelector('" + selector.replace("'", "\\'") + "'))").asText();
  }

  private static List<String> phaseStates(HeadlessChromium.Page page) throws Exception {
    List<String> out = new ArrayList<>();
    page.eval("[...document.querySelectorAll('#phases tbody tr')].map(r =>"
        + " r.getAttribute('data-state'))").forEach(n -> out.add(n.asText()));
    return out;
  }
}
