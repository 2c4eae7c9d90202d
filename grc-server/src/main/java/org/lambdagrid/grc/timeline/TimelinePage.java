package org.lambdagrid.grc.timeline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.regex.Pattern;
import org.lambdagrid.common.ops.OpsHttpServer;
import org.lambdagrid.common.security.BearerTokens;
import org.lambdagrid.common.security.PeerIdentity;
import org.lambdagrid.common.security.Role;

/**
 * The timeline page on the GRC's operations port: a static page ({@code index.html},
 * {@code timeline.js}, {@code timeline.css}, classpath resources next to this class) that polls
 * two JSON routes built by {@link Timeline}.
 *
 * <pre>
 * GET /                                the page (public: it holds no data)
 * GET /timeline.js, /timeline.css      its script and style (public)
 * GET /api/timeline?span=MS            sites, links, reservations, jobs around now
 * GET /api/timeline?from=MS&amp;to=MS      ... in [from, to) (epoch ms); span at most 7 days
 * GET /api/job?id=j-...                one job's phases and events
 * </pre>
 *
 * <p>The JSON shows every user's reservations and jobs, so it is an operator's view: each JSON
 * request must carry {@code Authorization: Bearer <token>} with an {@code operator} token of the
 * {@code timeline.tokens_file} ({@link BearerTokens}); none, an unknown, revoked or user token
 * is 401 with {@code WWW-Authenticate: Bearer} and a short reason (the token is never logged or
 * echoed). Without that file (no {@code timeline:} section) the JSON is 403, saying how to turn
 * it on. The page asks for the token (a sign-in form) and keeps it in the tab's
 * sessionStorage.
 *
 * <p>As defence in depth, since the port is plain HTTP and a token must not cross a network,
 * every route is served to loopback peers only ({@link OpsHttpServer#loopbackOnly}) and only when
 * the request names a loopback host ({@code localhost}, {@code 127.x.y.z}, {@code [::1]}): a page
 * of another site that a browser on the GRC's host (or at the end of an {@code ssh -L}) opens
 * cannot reach it through a DNS name that it points at 127.0.0.1 (DNS rebinding). At most
 * {@value #MAX_IN_FLIGHT} of its requests run at once (the port's 4 threads are shared with
 * {@code /metrics}); beyond, 503 "busy". Every answer carries a Content-Security-Policy that
 * allows only this origin's own script and style; the page writes every value as text, never
 * as markup. Bad parameters are 400 with the reason, an unknown job or path 404.
 */
public final class TimelinePage {
  /** The page's policy: its own files only, no inline script or style, no framing. */
  static final String CSP = "default-src 'self'; base-uri 'none'; form-action 'none';"
      + " frame-ancestors 'none'";
  private static final Pattern JOB_ID = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
  private static final Pattern LOOPBACK_HOST = Pattern.compile(
      "(?:localhost|127(?:\\.\\d{1,3}){3}|\\[::1\\])(?::\\d{1,5})?", Pattern.CASE_INSENSITIVE);
  private static final int MAX_QUERY = 512;
  /** Requests of this page handled at once; the operations port has 4 threads in all. */
  static final int MAX_IN_FLIGHT = 2;
  static final String OFF = "the timeline page is off: add 'timeline: {tokens_file: FILE}' to"
      + " grc.yaml and issue an operator token with 'grc-server issue-token --file FILE"
      + " --operator NAME' (docs/operators.md, The timeline page)\n";
  private static final Pattern BEARER = Pattern.compile("(?i)bearer +(\\S{1,512}) *");
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Timeline timeline;
  private final BearerTokens operators; // null: the JSON is off
  final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT); // package-private: tests drain it
  private final Map<String, Resource> files;

  private record Resource(String contentType, byte[] body) { }

  /**
   * @param operators the tokens whose {@code operator} entries may read the JSON; null turns
   *     the JSON off (403 with how to turn it on)
   */
  public TimelinePage(Timeline timeline, BearerTokens operators) {
    this.timeline = timeline;
    this.operators = operators;
    Map<String, Resource> f = new HashMap<>();
    f.put("/", new Resource("text/html; charset=utf-8", resource("index.html")));
    f.put("/index.html", f.get("/"));
    f.put("/timeline.js", new Resource("text/javascript; charset=utf-8",
        resource("timeline.js")));
    f.put("/timeline.css", new Resource("text/css; charset=utf-8", resource("timeline.css")));
    this.files = Map.copyOf(f);
  }

  private static byte[] resource(String name) {
    try (InputStream in = TimelinePage.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("the timeline page's " + name + " is missing from the"
            + " grc-server jar");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The routes for {@link OpsHttpServer#start}, each loopback-only and bounded; the JSON ones
   * for operators only.
   */
  public Map<String, HttpHandler> routes() {
    Map<String, HttpHandler> r = new LinkedHashMap<>();
    r.put("/", guarded(this::file));
    r.put("/api/timeline", guarded(operatorsOnly(this::snapshot)));
    r.put("/api/job", guarded(operatorsOnly(this::job)));
    return r;
  }

  private HttpHandler guarded(HttpHandler h) {
    return OpsHttpServer.loopbackOnly(ex -> {
      ex.getResponseHeaders().set("Content-Security-Policy", CSP);
      ex.getResponseHeaders().set("Referrer-Policy", "no-referrer");
      String host = ex.getRequestHeaders().getFirst("Host");
      if (!isLoopbackHost(host)) {
        OpsHttpServer.text(ex, 403, "this page answers only requests to localhost, 127.0.0.1"
            + " or [::1] (reach it through ssh -L from the GRC's host)\n");
        return;
      }
      if (!inFlight.tryAcquire()) {
        ex.getResponseHeaders().set("Retry-After", "1");
        OpsHttpServer.text(ex, 503, "busy: the GRC is answering other requests of this page;"
            + " try again\n");
        return;
      }
      try {
        h.handle(ex);
      } finally {
        inFlight.release();
      }
    });
  }

  /** Only a request with an operator token of {@link #operators} reaches {@code h}. */
  private HttpHandler operatorsOnly(HttpHandler h) {
    return ex -> {
      if (operators == null) {
        OpsHttpServer.text(ex, 403, OFF);
        return;
      }
      String refused = refusal(ex.getRequestHeaders().getFirst("Authorization"));
      if (refused != null) {
        ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"lambdagrid timeline\"");
        OpsHttpServer.text(ex, 401, refused + "\n");
        return;
      }
      h.handle(ex);
    };
  }

  /** Why {@code authorization} is refused (never quoting it), or null for an operator's. */
  private String refusal(String authorization) {
    if (authorization == null) {
      return "sign in with an operator token (Authorization: Bearer TOKEN)";
    }
    java.util.regex.Matcher m = BEARER.matcher(authorization);
    if (!m.matches()) {
      return "expected Authorization: Bearer TOKEN";
    }
    Optional<PeerIdentity> who = operators.lookup(m.group(1));
    if (who.isEmpty()) {
      return "unknown or revoked token";
    }
    if (who.get().role() != Role.OPERATOR) {
      return "not an operator's token (this page shows every user's jobs)";
    }
    return null;
  }

  /** Whether a Host header names a loopback host (with or without a port). */
  static boolean isLoopbackHost(String host) {
    return host != null && LOOPBACK_HOST.matcher(host.trim()).matches();
  }

  private void file(HttpExchange ex) throws IOException {
    Resource f = files.get(ex.getRequestURI().getPath());
    if (f == null) {
      OpsHttpServer.text(ex, 404, "not found\n");
      return;
    }
    OpsHttpServer.send(ex, 200, f.contentType(), f.body());
  }

  private void snapshot(HttpExchange ex) throws IOException {
    if (!ex.getRequestURI().getPath().equals("/api/timeline")) {
      OpsHttpServer.text(ex, 404, "not found\n");
      return;
    }
    Timeline.Span span;
    try {
      span = span(query(ex), timeline.now());
    } catch (IllegalArgumentException e) {
      OpsHttpServer.text(ex, 400, e.getMessage() + "\n");
      return;
    }
    json(ex, 200, timeline.snapshot(span));
  }

  /**
   * {@code span=MS} around now, or {@code from=MS&to=MS}, or the default span around now.
   *
   * @throws IllegalArgumentException naming the parameter and why
   */
  static Timeline.Span span(Map<String, String> q, Instant now) {
    if (q.containsKey("from") || q.containsKey("to")) {
      if (q.containsKey("span")) {
        throw new IllegalArgumentException("give span, or from and to, not both");
      }
      long from = millis(q, "from");
      long to = millis(q, "to");
      return Timeline.between(Instant.ofEpochMilli(from), Instant.ofEpochMilli(to));
    }
    Duration span = q.containsKey("span") ? Duration.ofMillis(millis(q, "span"))
        : Timeline.DEFAULT_SPAN;
    return Timeline.around(now, span);
  }

  private static long millis(Map<String, String> q, String name) {
    String v = q.get(name);
    if (v == null) {
      throw new IllegalArgumentException(name + ": is missing");
    }
    try {
      long n = Long.parseLong(v);
      if (n < 0 || n > 253402300799999L) { // up to 9999-12-31
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + ": '" + abbreviate(v)
          + "' is not a count of milliseconds");
    }
  }

  private void job(HttpExchange ex) throws IOException {
    if (!ex.getRequestURI().getPath().equals("/api/job")) {
      OpsHttpServer.text(ex, 404, "not found\n");
      return;
    }
    String id;
    try {
      id = query(ex).get("id");
    } catch (IllegalArgumentException e) {
      OpsHttpServer.text(ex, 400, e.getMessage() + "\n");
      return;
    }
    if (id == null || !JOB_ID.matcher(id).matches()) {
      OpsHttpServer.text(ex, 400, "id: give a job id (j-...)\n");
      return;
    }
    Optional<com.fasterxml.jackson.databind.node.ObjectNode> view = timeline.job(id);
    if (view.isEmpty()) {
      OpsHttpServer.text(ex, 404, "job " + id + " not found\n");
      return;
    }
    json(ex, 200, view.get());
  }

  private static void json(HttpExchange ex, int status, Object body) throws IOException {
    byte[] bytes;
    try {
      bytes = JSON.writeValueAsBytes(body);
    } catch (JsonProcessingException e) {
      throw new IOException(e);
    }
    OpsHttpServer.send(ex, status, "application/json", bytes);
  }

  /**
   * The query's parameters (the last of a repeated name wins).
   *
   * @throws IllegalArgumentException for a query longer than {@value #MAX_QUERY} characters
   */
  static Map<String, String> query(HttpExchange ex) {
    String raw = ex.getRequestURI().getRawQuery();
    Map<String, String> out = new HashMap<>();
    if (raw == null || raw.isEmpty()) {
      return out;
    }
    if (raw.length() > MAX_QUERY) {
      throw new IllegalArgumentException("the query is longer than " + MAX_QUERY + " characters");
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      String k = eq < 0 ? pair : pair.substring(0, eq);
      String v = eq < 0 ? "" : pair.substring(eq + 1);
      out.put(URLDecoder.decode(k, StandardCharsets.UTF_8).toLowerCase(Locale.ROOT),
          URLDecoder.decode(v, StandardCharsets.UTF_8));
    }
    return out;
  }

  private static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }
}
