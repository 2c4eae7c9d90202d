package org.lambdagrid.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Debian's {@code chromium}, headless, driven over the Chrome DevTools Protocol on a pair of
 * pipes ({@code --remote-debugging-pipe}: the browser reads commands on its fd 3 and writes
 * answers on its fd 4, each message JSON ended by a NUL byte). No driver, no Selenium, and no
 * DevTools port: a port would let any local user drive this (root's) browser, e.g. to read
 * {@code file:///etc/shadow}, for as long as it runs. The pipes are FIFOs in the browser's
 * private directory (mode 0700), opened only by this JVM and the browser. Enough for a test:
 * open a page, evaluate JavaScript in it, capture a screenshot.
 *
 * <p>The browser runs in a session and process group of its own, with every file it writes
 * (profile, cache, {@code HOME}, {@code TMPDIR}) under one private directory; {@link #close}
 * asks it to quit, kills whatever of its process group is left, and removes the directory.
 * Not thread-safe; one test at a time.
 */
final class HeadlessChromium implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);
  private static final Duration OPEN_TIMEOUT = Duration.ofSeconds(30);

  private final Process process;
  private final Path dir;
  private final OutputStream toBrowser;
  private final InputStream fromBrowser;
  private final Thread reader;
  private final AtomicLong ids = new AtomicLong();
  private final Map<Long, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
  private volatile boolean closed;

  private HeadlessChromium(Process process, Path dir, OutputStream toBrowser,
      InputStream fromBrowser) {
    this.process = process;
    this.dir = dir;
    this.toBrowser = toBrowser;
    this.fromBrowser = fromBrowser;
    this.reader = new Thread(this::readMessages, "chromium-cdp-reader");
    this.reader.setDaemon(true);
  }

  /**
   * Starts the browser with its files under {@code dir} (created, mode 0700; removed again by
   * {@link #close}, or here if the start fails) and connects to it.
   */
  static HeadlessChromium start(Path dir) throws Exception {
    Files.createDirectories(dir);
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    Files.createDirectories(dir.resolve("home"));
    Files.createDirectories(dir.resolve("tmp"));
    Path in = dir.resolve("cdp-in"); // the browser reads it (its fd 3)
    Path out = dir.resolve("cdp-out"); // the browser writes it (its fd 4)
    Sh.run(Duration.ofSeconds(10), "mkfifo", "-m", "600", "--", in.toString(), out.toString())
        .orFail("mkfifo");
    // The paths reach the shell as arguments, never as part of its script.
    List<String> cmd = new ArrayList<>(List.of("setsid", "sh", "-c",
        "in=$1; out=$2; shift 2; exec \"$@\" 3<\"$in\" 4>\"$out\"", "sh", in.toString(),
        out.toString(), "chromium", "--headless=new",
        "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", "--disable-background-networking", "--disable-sync",
        "--disable-component-update", "--password-store=basic", "--use-mock-keychain",
        "--user-data-dir=" + dir.resolve("profile"), "--remote-debugging-pipe",
        "about:blank"));
    if ("root".equals(System.getProperty("user.name"))) {
      cmd.add(cmd.indexOf("chromium") + 1, "--no-sandbox"); // its sandbox refuses root
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("chromium.log").toFile())
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    pb.environment().put("HOME", dir.resolve("home").toString());
    pb.environment().put("TMPDIR", dir.resolve("tmp").toString());
    pb.environment().put("XDG_CONFIG_HOME", dir.resolve("home/.config").toString());
    pb.environment().put("XDG_CACHE_HOME", dir.resolve("home/.cache").toString());
    pb.environment().remove("DISPLAY");
    Process p = pb.start();
    OutputStream w = null;
    InputStream r = null;
    try {
      // The shell opens 3<IN first (our open of IN for writing completes with it), then 4>OUT.
      w = openFifo(p, dir, in, () -> new FileOutputStream(in.toFile()),
          () -> new FileInputStream(in.toFile()));
      r = openFifo(p, dir, out, () -> new FileInputStream(out.toFile()),
          () -> new FileOutputStream(out.toFile()));
      HeadlessChromium browser = new HeadlessChromium(p, dir, w,
          new BufferedInputStream(r, 1 << 16));
      browser.reader.start();
      browser.call(null, "Browser.getVersion", JSON.createObjectNode());
      return browser;
    } catch (Exception | Error e) {
      killGroup(p);
      closeQuietly(w);
      closeQuietly(r);
      String log = readOrEmpty(dir.resolve("chromium.log"));
      Sh.run(Duration.ofSeconds(30), "rm", "-rf", "--", dir.toString());
      throw new IllegalStateException("chromium did not start: " + e.getMessage()
          + "; its log:\n" + log, e);
    }
  }

  /**
   * Opens our end of a FIFO, which blocks until the browser's shell opens the other; gives up
   * after {@link #OPEN_TIMEOUT} or when the process exits, unblocking the pending open by
   * opening the other end ourselves ({@code counterpart}) and closing both.
   */
  private static <T extends Closeable> T openFifo(Process p, Path dir, Path fifo,
      Callable<T> open, Callable<? extends Closeable> counterpart) throws Exception {
    FutureTask<T> task = new FutureTask<>(open);
    Thread t = new Thread(task, "chromium-fifo-open");
    t.setDaemon(true);
    t.start();
    long deadline = System.nanoTime() + OPEN_TIMEOUT.toNanos();
    while (true) {
      try {
        return task.get(100, TimeUnit.MILLISECONDS);
      } catch (TimeoutException notYet) {
        if (p.isAlive() && System.nanoTime() < deadline) {
          continue;
        }
      }
      try (Closeable unblock = counterpart.call()) {
        closeQuietly(task.get(5, TimeUnit.SECONDS));
      } catch (Exception ignored) {
        // closed or gone either way
      }
      throw new IllegalStateException("the browser did not open " + dir.relativize(fifo)
          + (p.isAlive() ? " within " + OPEN_TIMEOUT.toSeconds() + " s"
              : " (it exited " + p.exitValue() + ")"));
    }
  }

  /** The reader thread: every NUL-ended message from the browser, to the call it answers. */
  private void readMessages() {
    ByteArrayOutputStream message = new ByteArrayOutputStream(1 << 12);
    String why = "chromium closed the DevTools pipe";
    try {
      int b;
      while ((b = fromBrowser.read()) >= 0) {
        if (b != 0) {
          message.write(b);
          continue;
        }
        answer(message.toString(StandardCharsets.UTF_8));
        message.reset();
      }
    } catch (IOException e) {
      why = "reading the DevTools pipe failed: " + e.getMessage();
    }
    IllegalStateException gone = new IllegalStateException(why);
    pending.values().forEach(f -> f.completeExceptionally(gone));
  }

  private void answer(String message) {
    JsonNode m;
    try {
      m = JSON.readTree(message);
    } catch (IOException e) {
      return; // not JSON: ignored, the call times out naming its method
    }
    if (!m.has("id")) {
      return; // an event; nothing here subscribes to any
    }
    CompletableFuture<JsonNode> f = pending.get(m.get("id").asLong());
    if (f == null) {
      return;
    }
    if (m.has("error")) {
      f.completeExceptionally(new IllegalStateException(m.get("error").toString()));
    } else {
      f.complete(m.path("result"));
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
      if (!reader.isAlive()) {
        throw new IllegalStateException(method + ": the DevTools pipe is closed");
      }
      byte[] bytes = JSON.writeValueAsBytes(msg);
      synchronized (toBrowser) {
        toBrowser.write(bytes);
        toBrowser.write(0);
        toBrowser.flush();
      }
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
    if (closed) {
      return;
    }
    closed = true;
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
      killGroup(process);
      closeQuietly(toBrowser);
      closeQuietly(fromBrowser); // at EOF once the browser's processes are gone
      reader.join(TimeUnit.SECONDS.toMillis(5));
      Sh.run(Duration.ofSeconds(30), "rm", "-rf", "--", dir.toString());
    }
  }

  private static void closeQuietly(Closeable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (IOException ignored) {
      // closing is best effort here
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
