package org.lambdagrid.grc.timeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.ConfigException;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.ops.HttpConfig;
import org.lambdagrid.common.ops.OpsHttpServer;
import org.lambdagrid.common.security.BearerTokens;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SubmitJobRequest;

/** The timeline page over the GRC's real operations port. */
class TimelinePageTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final FakeSites fakes = new FakeSites();
  private final HttpClient http = HttpClient.newHttpClient();
  @TempDir
  Path dir;
  private GrcServer server;
  private ManagedChannel channel;
  private Path tokens;
  private String operatorToken;
  private String userToken;

  @AfterEach
  void tearDown() {
    if (channel != null) {
      channel.shutdownNow();
    }
    if (server != null) {
      server.close();
    }
  }

  private void startGrc(String listen) throws Exception {
    tokens = dir.resolve("timeline.tokens");
    operatorToken = BearerTokens.issue(tokens, Role.OPERATOR, "ops");
    userToken = BearerTokens.issue(tokens, Role.USER, "alice");
    startGrc(new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms", null, null)
        .withHttp(new HttpConfig(listen))
        .withTimeline(new GrcConfig.TimelineConfig(tokens.toString())));
  }

  private void startGrc(GrcConfig config) throws Exception {
    fakes.add("a");
    String name = InProcessServerBuilder.generateName();
    server = new GrcServer(config, Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(name).directExecutor()).start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    SiteRegistryServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
        .registerSite(RegisterSiteRequest.newBuilder().setName("a")
            .setCrmEndpoint(FakeSites.endpoint("a")).setNodeCapacity(2)
            .addRanges(AddressRange.newBuilder().setCidr("10.10.0.0/16")).build());
  }

  /** A GET with the operator's token. */
  private HttpResponse<String> get(String path) throws Exception {
    return send(path, "GET");
  }

  private HttpResponse<String> send(String path, String method) throws Exception {
    return send(path, method, operatorToken == null ? null : "Bearer " + operatorToken);
  }

  private HttpResponse<String> send(String path, String method, String authorization)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
        + server.httpPort() + path)).method(method, HttpRequest.BodyPublishers.noBody());
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String header(HttpResponse<?> r, String name) {
    return r.headers().firstValue(name).orElse("");
  }

  @Test
  void servesThePageItsScriptAndStyle_withAStrictContentSecurityPolicy() throws Exception {
    startGrc("127.0.0.1:0");
    HttpResponse<String> page = get("/");
    assertThat(page.statusCode()).isEqualTo(200);
    assertThat(header(page, "Content-Type")).isEqualTo("text/html; charset=utf-8");
    assertThat(header(page, "Content-Security-Policy")).startsWith("default-src 'self';")
        .contains("frame-ancestors 'none'").doesNotContain("unsafe");
    assertThat(header(page, "X-Content-Type-Options")).isEqualTo("nosniff");
    assertThat(page.body()).contains("<script src=\"timeline.js\" defer></script>")
        .contains("<link rel=\"stylesheet\" href=\"timeline.css\">")
        .doesNotContain("<script>").doesNotContain("style=").doesNotContain("http://")
        .doesNotContain("https://");

    HttpResponse<String> js = get("/timeline.js");
    assertThat(js.statusCode()).isEqualTo(200);
    assertThat(header(js, "Content-Type")).isEqualTo("text/javascript; charset=utf-8");
    // Values from the GRC are written as text only: no HTML sinks in the script.
    assertThat(js.body()).contains("textContent").doesNotContain("innerHTML")
        .doesNotContain("outerHTML").doesNotContain("insertAdjacentHTML")
        .doesNotContain("document.write").doesNotContain("eval(");
    // The sign-in form, and the token kept for this tab only.
    assertThat(page.body()).contains("<form id=\"login-form\"")
        .contains("<input type=\"password\" id=\"token\"").contains("id=\"sign-out\"");
    assertThat(js.body()).contains("sessionStorage").doesNotContain("localStorage")
        .contains("'Bearer ' + t").contains("Object.hasOwn(SPANS");
    assertThat(get("/timeline.css").statusCode()).isEqualTo(200);
    assertThat(get("/nothing-here").statusCode()).isEqualTo(404);
    assertThat(get("/api/nothing").statusCode()).isEqualTo(404);
    assertThat(get("/metrics").body()).contains("lambdagrid_grc_sites 1.0");
  }

  @Test
  void answersTheTimelineAndAJobsPhasesAsJson() throws Exception {
    startGrc("127.0.0.1:0");
    var grid = GridServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    String jid = grid.submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
        .putSiteNodes("a", 1).addArgv("echo").addArgv("<img src=x onerror=alert(1)>")
        .setWorkingDirectory("/tmp").setUser("alice")).build()).getJob().getId();
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() ->
        server.coordinator().get(jid).getState() == JobState.JOB_SUCCEEDED);

    HttpResponse<String> r = get("/api/timeline?span=600000");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(header(r, "Content-Type")).isEqualTo("application/json");
    JsonNode t = JSON.readTree(r.body());
    assertThat(t.get("to").asLong() - t.get("from").asLong()).isEqualTo(600_000L);
    for (String field : List.of("now", "sites", "links", "reservations", "jobs", "more")) {
      assertThat(t.has(field)).as(field).isTrue();
    }
    assertThat(t.get("sites").get(0).get("name").asText()).isEqualTo("a");
    JsonNode job = t.get("jobs").get(0);
    assertThat(job.get("id").asText()).isEqualTo(jid);
    assertThat(job.get("state").asText()).isEqualTo("SUCCEEDED");
    assertThat(job.get("command").asText())
        .as("given back as data; the page writes it as text").isEqualTo("echo <img src=x"
            + " onerror=alert(1)>");
    long now = t.get("now").asLong();
    JsonNode fromTo = JSON.readTree(get("/api/timeline?from=" + (now - 1000) + "&to="
        + (now + 1000)).body());
    assertThat(fromTo.get("from").asLong()).isEqualTo(now - 1000);

    HttpResponse<String> v = get("/api/job?id=" + jid);
    assertThat(v.statusCode()).isEqualTo(200);
    JsonNode view = JSON.readTree(v.body());
    assertThat(view.get("phases").get(view.get("phases").size() - 1).get("state").asText())
        .isEqualTo("SUCCEEDED");
    assertThat(view.get("events").size()).isGreaterThan(5);
    assertThat(view.get("events").get(0).get("seq").asInt()).isEqualTo(1);

    assertThat(get("/api/job?id=j-00000000").statusCode()).isEqualTo(404);
  }

  @Test
  void refusesBadParametersAndWrites() throws Exception {
    startGrc("127.0.0.1:0");
    HttpResponse<String> bad = get("/api/timeline?span=soon");
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat(bad.body()).isEqualTo("span: 'soon' is not a count of milliseconds\n");
    assertThat(get("/api/timeline?span=" + Duration.ofDays(8).toMillis()).body())
        .startsWith("the span may be at most 7 days");
    assertThat(get("/api/timeline?span=0").statusCode()).isEqualTo(400);
    assertThat(get("/api/timeline?from=10&to=5").statusCode()).isEqualTo(400);
    assertThat(get("/api/timeline?from=10").body()).isEqualTo("to: is missing\n");
    assertThat(get("/api/timeline?span=1000&from=1&to=2").statusCode()).isEqualTo(400);
    assertThat(get("/api/timeline?span=" + "9".repeat(600)).body())
        .startsWith("the query is longer than 512 characters");
    assertThat(raw(InetAddress.getLoopbackAddress(), "/api/timeline?span=%zz", "localhost"))
        .startsWith("HTTP/1.1 400");
    assertThat(get("/api/job").statusCode()).isEqualTo(400);
    assertThat(get("/api/job?id=%3Cscript%3E").statusCode()).isEqualTo(400);

    HttpResponse<String> post = send("/api/timeline", "POST");
    assertThat(post.statusCode()).isEqualTo(405);
    assertThat(header(post, "Allow")).isEqualTo("GET, HEAD");
    assertThat(send("/", "DELETE").statusCode()).isEqualTo(405);
    HttpResponse<String> head = send("/", "HEAD");
    assertThat(head.statusCode()).isEqualTo(200);
    assertThat(head.body()).isEmpty();
  }

  @Test
  void theJsonIsForOperatorsOnly_401WithoutOrWithABadOrAUsersToken_neverEchoingIt()
      throws Exception {
    startGrc("127.0.0.1:0");
    String wrong = "lgt_" + "A".repeat(43);
    for (String path : List.of("/api/timeline", "/api/job?id=j-00000000")) {
      HttpResponse<String> none = send(path, "GET", null);
      assertThat(none.statusCode()).as(path).isEqualTo(401);
      assertThat(header(none, "WWW-Authenticate")).startsWith("Bearer");
      assertThat(none.body()).isEqualTo("sign in with an operator token (Authorization: Bearer"
          + " TOKEN)\n");
      HttpResponse<String> bad = send(path, "GET", "Bearer " + wrong);
      assertThat(bad.statusCode()).isEqualTo(401);
      assertThat(bad.body()).isEqualTo("unknown or revoked token\n").doesNotContain(wrong);
      HttpResponse<String> user = send(path, "GET", "Bearer " + userToken);
      assertThat(user.statusCode()).isEqualTo(401);
      assertThat(user.body()).startsWith("not an operator's token").doesNotContain(userToken);
      HttpResponse<String> basic = send(path, "GET", "Basic " + operatorToken);
      assertThat(basic.statusCode()).isEqualTo(401);
      assertThat(basic.body()).isEqualTo("expected Authorization: Bearer TOKEN\n")
          .doesNotContain(operatorToken);
      HttpResponse<String> head = send(path, "HEAD", null);
      assertThat(head.statusCode()).isEqualTo(401);
    }
    HttpResponse<String> ok = send("/api/timeline", "GET", "bearer " + operatorToken);
    assertThat(ok.statusCode()).as("the scheme is case-insensitive").isEqualTo(200);
    assertThat(ok.body()).doesNotContain(operatorToken);
    assertThat(ok.headers().map().toString()).doesNotContain(operatorToken);
    assertThat(send("/api/job?id=j-00000000", "GET", "Bearer " + operatorToken).statusCode())
        .isEqualTo(404);
    // The page and its files hold no data: public (on loopback).
    for (String path : List.of("/", "/timeline.js", "/timeline.css")) {
      assertThat(send(path, "GET", null).statusCode()).as(path).isEqualTo(200);
    }

    // Revoked: its line deleted, the file re-read.
    Files.writeString(tokens, Files.readAllLines(tokens).get(1) + "\n");
    Files.setLastModifiedTime(tokens, java.nio.file.attribute.FileTime.fromMillis(
        System.currentTimeMillis() + 2000));
    HttpResponse<String> revoked = send("/api/timeline", "GET", "Bearer " + operatorToken);
    assertThat(revoked.statusCode()).isEqualTo(401);
    assertThat(revoked.body()).isEqualTo("unknown or revoked token\n");
  }

  @Test
  void withoutATimelineSection_theJsonIsOff_sayingHowToTurnItOn() throws Exception {
    startGrc(new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms", null, null)
        .withHttp(new HttpConfig("127.0.0.1:0")));
    HttpResponse<String> r = send("/api/timeline", "GET", null);
    assertThat(r.statusCode()).isEqualTo(403);
    assertThat(r.body()).isEqualTo(TimelinePage.OFF).contains("timeline: {tokens_file: FILE}")
        .contains("grc-server issue-token --file FILE --operator NAME");
    assertThat(r.body().strip()).doesNotContain("\n");
    assertThat(send("/api/job?id=j-1", "GET", null).statusCode()).isEqualTo(403);
    assertThat(send("/", "GET", null).statusCode()).isEqualTo(200);
    assertThat(send("/metrics", "GET", null).statusCode()).isEqualTo(200);
  }

  @Test
  void aMissingOrOpenTokensFileStopsTheStart_namingIt() throws Exception {
    Path missing = dir.resolve("none.tokens");
    GrcConfig base = new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms", null,
        null).withHttp(new HttpConfig("127.0.0.1:0"));
    GrcServer a = new GrcServer(base.withTimeline(new GrcConfig.TimelineConfig(
        missing.toString())), Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(InProcessServerBuilder.generateName()));
    try {
      org.assertj.core.api.Assertions.assertThatThrownBy(a::start)
          .isInstanceOf(ConfigException.class)
          .hasMessage("timeline.tokens_file: " + missing + ": no such file (create it with"
              + " grc-server issue-token --file " + missing + " --operator NAME)");
    } finally {
      a.close();
    }
    Path open = dir.resolve("open.tokens");
    BearerTokens.issue(open, Role.OPERATOR, "ops");
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rw-r--r--"));
    GrcServer b = new GrcServer(base.withTimeline(new GrcConfig.TimelineConfig(
        open.toString())), Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(InProcessServerBuilder.generateName()));
    try {
      org.assertj.core.api.Assertions.assertThatThrownBy(b::start)
          .isInstanceOf(ConfigException.class)
          .hasMessageStartingWith("timeline.tokens_file: tokens file " + open + ": mode 0644");
    } finally {
      b.close();
    }
  }

  /**
   * At most {@link TimelinePage#MAX_IN_FLIGHT} of its requests at once: beyond, 503 busy at
   * once, so polling tabs cannot take every thread of the port that also serves /metrics.
   */
  @Test
  void whenItsRequestsInFlightAreAtTheBound_itAnswers503Busy_andMetricsStillAnswer()
      throws Exception {
    startGrc("127.0.0.1:0");
    TimelinePage page = new TimelinePage(server.timeline(), new BearerTokens(tokens));
    try (OpsHttpServer ops = OpsHttpServer.start("test", Endpoint.parse("127.0.0.1:0"),
        new io.prometheus.metrics.model.registry.PrometheusRegistry(), page.routes())) {
      page.inFlight.acquire(TimelinePage.MAX_IN_FLIGHT);
      HttpResponse<String> busy = http.send(HttpRequest.newBuilder(URI.create(
          "http://127.0.0.1:" + ops.port() + "/api/timeline")).header("Authorization",
          "Bearer " + operatorToken).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(busy.statusCode()).isEqualTo(503);
      assertThat(header(busy, "Retry-After")).isEqualTo("1");
      assertThat(busy.body()).startsWith("busy");
      assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ops.port()
          + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).statusCode())
          .isEqualTo(200);
      page.inFlight.release(TimelinePage.MAX_IN_FLIGHT);
      assertThat(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ops.port()
          + "/api/timeline")).header("Authorization", "Bearer " + operatorToken).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
      assertThat(page.inFlight.availablePermits()).isEqualTo(TimelinePage.MAX_IN_FLIGHT);
    }
  }

  @Test
  void aRequestNamingAnotherHostIsRefused_soADnsRebindingPageCannotReadIt() throws Exception {
    startGrc("127.0.0.1:0");
    for (String host : List.of("localhost", "127.0.0.1", "[::1]")) {
      assertThat(raw(InetAddress.getLoopbackAddress(), "/api/timeline", host + ":"
          + server.httpPort())).as(host).startsWith("HTTP/1.1 200");
    }
    for (String path : List.of("/", "/api/timeline", "/api/job?id=j-1")) {
      String r = raw(InetAddress.getLoopbackAddress(), path, "attacker.example:"
          + server.httpPort());
      assertThat(r).as(path).startsWith("HTTP/1.1 403")
          .contains("only requests to localhost, 127.0.0.1 or [::1]");
    }
    assertThat(TimelinePage.isLoopbackHost("127.10.0.1:80")).isTrue();
    assertThat(TimelinePage.isLoopbackHost("LOCALHOST")).isTrue();
    assertThat(TimelinePage.isLoopbackHost("localhost.attacker.example")).isFalse();
    assertThat(TimelinePage.isLoopbackHost("127.0.0.1.nip.io")).isFalse();
    assertThat(TimelinePage.isLoopbackHost(null)).isFalse();
  }

  /**
   * A peer on a non-loopback address of this machine: the GRC listens on every address and the
   * request comes from (and goes to) the machine's own non-loopback address, so the peer the
   * server sees is not loopback. Skipped on a machine with no such address.
   */
  @Test
  void aPeerOnANonLoopbackAddressIsRefused() throws Exception {
    Optional<InetAddress> own = NetworkInterface.networkInterfaces()
        .filter(i -> { try { return i.isUp() && !i.isLoopback(); } catch (Exception e) {
          return false; } })
        .flatMap(NetworkInterface::inetAddresses).filter(a -> a instanceof Inet4Address)
        .filter(a -> !a.isLoopbackAddress() && !a.isLinkLocalAddress()).findFirst();
    assumeTrue(own.isPresent(), "this machine has no non-loopback IPv4 address");
    startGrc("0.0.0.0:0");
    for (String path : List.of("/", "/api/timeline", "/api/job?id=j-1")) {
      String r = raw(own.get(), path, "localhost:" + server.httpPort());
      assertThat(r).as(path).startsWith("HTTP/1.1 403")
          .contains("served to loopback peers only");
    }
    // /metrics is not the page: it is served to everyone who reaches the port.
    assertThat(raw(own.get(), "/metrics", "localhost")).startsWith("HTTP/1.1 200");
    assertThat(raw(InetAddress.getLoopbackAddress(), "/", "localhost"))
        .startsWith("HTTP/1.1 200");
  }

  /** A GET with the given Host header, from and to {@code address}; the whole answer. */
  private String raw(InetAddress address, String path, String host) throws Exception {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(address, 0));
      s.connect(new InetSocketAddress(address, server.httpPort()), 5000);
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer "
          + operatorToken + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
