package org.lambdagrid.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Debian's {@code chromium}, headless, driven over the Chrome DevTools Protocol: the JDK's
 * WebSocket client speaks it to the browser's endpoint (no driver, no Selenium). Enough for a
 * test: open a page, evaluate JavaScript in it, capture a screenshot.
 *
 * <p>The browser runs in a session and process group of its own, with every file it writes
 * (profile, cache, {@code HOME}, {@code TMPDIR}) under one private directory; {@link #close}
 * asks it to quit, kills whatever of its process group is left, and removes the directory.
 * Not thread-safe; one test at a time.
 */
final class HeadlessChromium implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

  private final Process process;
  private final Path dir;
  private final WebSocket socket;
  private final AtomicLong ids = new AtomicLong();
  private final Map<Long, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();

  private HeadlessChromium(Process process, Path dir, WebSocket socket) {
    this.process = process;
    this.dir = dir;
    this.socket = socket;
  }

  /**
   * Starts the browser with its files under {@code dir} (created; removed again by
   * {@link #close}) and connects to it.
   */
  static HeadlessChromium start(Path dir) throws Exception {
    Files.createDirectories(dir.resolve("home"));
    Files.createDirectories(dir.resolve("tmp"));
    List<String> cmd = new ArrayList<>(List.of("setsid", "chromium", "--headless=new",
        "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", "--disable-background-networking", "--disable-sync",
        "--disable-component-update", "--password-store=basic", "--use-mock-keychain",
        "--user-data-dir=" + dir.resolve("profile"), "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0", "about:blank"));
    if ("root".equals(System.getProperty("user.name"))) {
      cmd.add(2, "--no-sandbox"); // Chromium's sandbox refuses to run as root
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("chromium.log").toFile());
    pb.environment().put("HOME", dir.resolve("home").toString());
    pb.environment().put("TMPDIR", dir.resolve("tmp").toString());
    pb.environment().put("XDG_CONFIG_HOME", dir.resolve("home/.config").toString());
    pb.environment().put("XDG_CACHE_HOME", dir.resolve("home/.cache").toString());
    pb.environment().remove("DISPLAY");
    Process p = pb.start();
    try {
      Path active = dir.resolve("profile/DevToolsActivePort");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!(Files.exists(active) && Files.readAllLines(active).size() >= 2)) {
        if (!p.isAlive() || System.nanoTime() > deadline) {
          throw new IllegalStateException("chromium did not open its DevTools port"
              + (p.isAlive() ? " within 60 s" : " (exited " + p.exitValue() + ")") + "; log:\n"
              + readOrEmpty(dir.resolve("chromium.log")));
        }
        Thread.sleep(100);
      }
      List<String> lines = Files.readAllLines(active);
      URI endpoint = URI.create("ws://127.0.0.1:" + lines.get(0).trim() + lines.get(1).trim());
      Listener listener = new Listener();
      WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder()
          .connectTimeout(Duration.ofSeconds(10)).buildAsync(endpoint, listener)
          .get(20, TimeUnit.SECONDS);
      HeadlessChromium browser = new HeadlessChromium(p, dir, ws);
      listener.owner = browser;
      return browser;
    } catch (Exception | Error e) {
      killGroup(p);
      throw e;
    }
  }

  /** A page (a new tab) showing {@code url}, {@code width} x {@code height} CSS pixels. */
  Page open(String url, int width, int height) throws Exception {
    String target = call(null, "Target.createTarget", JSON.createObjectNode()
        .put("url", "about:blank")).get("targetId").asText();
    String session = call(null, "Target.attachToTarget", JSON.createObjectNode()
        .put("targetId", target).put("flatten", true)).get("sessionId").asText();
    Page page = new Page(session);
    call(session, "Emulation.setDeviceMetricsOverride", JSON.createObjectNode()
        .put("width", width).put("height", height).put("deviceScaleFactor", 1)
        .put("mobile", false));
    call(session, "Page.navigate", JSON.createObjectNode().put("url", url));
    return page;
  }

  /** One tab. */
  final class Page {
    private final String session;

    private Page(String session) {
      this.session = session;
    }

    /**
     * The value of a JavaScript expression in the page (awaited if a promise), as JSON; an
     * exception in the page fails with its description.
     */
    JsonNode eval(String expression) throws Exception {
      JsonNode r = call(session, "Runtime.evaluate", JSON.createObjectNode()
          .put("expression", expression).put("returnByValue", true).put("awaitPromise", true));
      if (r.has("exceptionDetails")) {
        throw new IllegalStateException("the page threw: " + r.get("exceptionDetails")
            .path("exception").path("description").asText(r.get("exceptionDetails").toString()));
      }
      return r.path("result").path("value");
    }

    /** The viewport as PNG. */
    byte[] screenshot() throws Exception {
      return Base64.getDecoder().decode(call(session, "Page.captureScreenshot",
          JSON.createObjectNode().put("format", "png")).get("data").asText());
    }
  }

  private JsonNode call(String session, String method, ObjectNode params) throws Exception {
    long id = ids.incrementAndGet();
    ObjectNode msg = JSON.createObjectNode().put("id", id).put("method", method);
    msg.set("params", params);
    if (session != null) {
      msg.put("sessionId", session);
    }
    CompletableFuture<JsonNode> answer = new CompletableFuture<>();
    pending.put(id, answer);
    try {
      socket.sendText(JSON.writeValueAsString(msg), true).get(10, TimeUnit.SECONDS);
      return answer.get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new IllegalStateException(method + ": " + e.getCause().getMessage(), e.getCause());
    } catch (TimeoutException e) {
      throw new IllegalStateException(method + ": no answer from chromium within "
          + CALL_TIMEOUT.toSeconds() + " s", e);
    } finally {
      pending.remove(id);
    }
  }

  private static final class Listener implements WebSocket.Listener {
    volatile HeadlessChromium owner;
    private final StringBuilder text = new StringBuilder();

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      text.append(data);
      if (last) {
        String message = text.toString();
        text.setLength(0);
        answer(message);
      }
      ws.request(1);
      return null;
    }

    private void answer(String message) {
      HeadlessChromium o = owner;
      if (o == null) {
        return;
      }
      try {
        JsonNode m = JSON.readTree(message);
        if (!m.has("id")) {
          return; // an event; nothing here subscribes to any
        }
        CompletableFuture<JsonNode> f = o.pending.get(m.get("id").asLong());
        if (f == null) {
          return;
        }
        if (m.has("error")) {
          f.completeExceptionally(new IllegalStateException(m.get("error").toString()));
        } else {
          f.complete(m.path("result"));
        }
      } catch (IOException e) {
        // not JSON: ignored, the call times out naming its method
      }
    }

    @Override
    public CompletionStage<?> onClose(WebSocket ws, int status, String reason) {
      HeadlessChromium o = owner;
      if (o != null) {
        o.pending.values().forEach(f -> f.completeExceptionally(
            new IllegalStateException("chromium closed the DevTools connection: " + reason)));
      }
      return null;
    }
  }

  /** The browser's processes still running (its process group), as "pid command" lines. */
  List<String> processesLeft() throws Exception {
    Sh.Result r = Sh.run(Duration.ofSeconds(10), "pgrep", "-a", "-f", "--",
        "--user-data-dir=" + dir.resolve("profile"));
    return r.out().lines().filter(l -> !l.isBlank()).toList();
  }

  /**
   * Asks the browser to quit, then kills its process group (and any process that left it),
   * and removes its directory. Idempotent.
   */
  @Override
  public void close() throws Exception {
    try {
      if (process.isAlive()) {
        try {
          call(null, "Browser.close", JSON.createObjectNode());
        } catch (Exception e) {
          // it may close the connection before answering; killed below anyway
        }
        process.waitFor(10, TimeUnit.SECONDS);
      }
    } finally {
      socket.abort();
      killGroup(process);
      Sh.run(Duration.ofSeconds(30), "rm", "-rf", "--", dir.toString());
    }
  }

  private static void killGroup(Process p) throws IOException, InterruptedException {
    Set<Long> pids = new HashSet<>();
    pids.add(p.pid());
    p.descendants().forEach(d -> pids.add(d.pid()));
    long ownGroup = groupOf(ProcessHandle.current().pid());
    Set<Long> groups = new HashSet<>();
    for (long pid : pids) {
      long g = groupOf(pid);
      if (g > 1 && g != ownGroup) {
        groups.add(g);
      }
    }
    for (long g : groups) {
      Sh.run(Duration.ofSeconds(10), "kill", "-KILL", "--", "-" + g);
    }
    p.descendants().forEach(ProcessHandle::destroyForcibly);
    p.destroyForcibly();
    p.waitFor(10, TimeUnit.SECONDS);
  }

  /** The process group of {@code pid} (field 5 of /proc/PID/stat), or -1 if it is gone. */
  private static long groupOf(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return Long.parseLong(f[2]);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  private static String readOrEmpty(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      return "";
    }
  }
}
