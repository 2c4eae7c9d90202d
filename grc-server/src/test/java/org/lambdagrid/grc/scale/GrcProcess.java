package org.lambdagrid.grc.scale;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.testing.FreePorts;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.ListSitesRequest;

/**
 * One real grc-server process for the benchmark: its own state directory and YAML (plaintext,
 * {@code tls: {insecure: true}}), listening on a free loopback port, started with
 * {@code launcher} (bin/grc-server, or this JVM's java and class path). Killed with SIGKILL or
 * stopped with SIGTERM; {@link #close} always leaves no process behind.
 */
final class GrcProcess implements AutoCloseable {
  private final List<String> launcher;
  final Path dir;
  final Path config;
  final int port;
  private Process process;
  /** Killed when this JVM exits, however it exits (an interrupted bench leaves no GRC behind). */
  private static final java.util.Set<Process> LIVE = java.util.concurrent.ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly),
        "gridscale-grc-reaper"));
  }
  private int starts;

  GrcProcess(List<String> launcher, Path dir, String yamlBody) throws IOException {
    this.launcher = launcher;
    this.dir = dir;
    this.port = FreePorts.pick();
    this.config = dir.resolve("grc.yaml");
    Files.writeString(config, "listen: 127.0.0.1:" + port + "\nstate_dir: " + dir.resolve("state")
        + "\ntls: {insecure: true}\n" + yamlBody, StandardCharsets.UTF_8);
  }

  /**
   * The launcher running this JVM's java on this JVM's class path (tests, no packaged jars), with
   * the JVM options of bin/lg-java, then those in GRIDSCALE_GRC_JAVA_OPTS (e.g. a flight
   * recording).
   */
  static List<String> sameJvm() {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
    String extra = System.getenv("GRIDSCALE_GRC_JAVA_OPTS");
    if (extra != null && !extra.isBlank()) {
      cmd.addAll(List.of(extra.strip().split("\\s+")));
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "org.lambdagrid.grc.GrcMain"));
    return cmd;
  }

  String endpoint() {
    return "127.0.0.1:" + port;
  }

  long pid() {
    return process.pid();
  }

  boolean alive() {
    return process != null && process.isAlive();
  }

  /** Starts the process and waits (up to 60 s) until ListSites answers. */
  void start() throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(launcher);
    cmd.add("--config");
    cmd.add(config.toString());
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("grc.log").toFile()));
    pb.environment().putIfAbsent("LAMBDAGRID_LOG_LEVEL", "WARN");
    process = pb.start();
    LIVE.add(process);
    starts++;
    ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (true) {
        if (!process.isAlive()) {
          throw new IOException("grc-server exited with " + process.exitValue() + " at start "
              + starts + "; see " + dir.resolve("grc.log"));
        }
        try {
          GridServiceGrpc.newBlockingStub(ch).withDeadlineAfter(2, TimeUnit.SECONDS)
              .listSites(ListSitesRequest.getDefaultInstance());
          return;
        } catch (io.grpc.StatusRuntimeException e) {
          if (System.nanoTime() > deadline) {
            throw new IOException("grc-server did not answer within 60 s; see "
                + dir.resolve("grc.log"));
          }
          Thread.sleep(100);
        }
      }
    } finally {
      ch.shutdownNow();
    }
  }

  /** kill -9. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  /** CPU seconds (user + system) the process used so far, from /proc. */
  double cpuSeconds() throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    // fields 14 and 15 (utime, stime) are the 12th and 13th after "(comm) "
    return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
  }

  /** Heap in use after a full GC (jcmd GC.run, then GC.heap_info), in bytes; -1 if unknown. */
  long heapAfterGc() {
    try {
      jcmd("GC.run");
      String info = jcmd("GC.heap_info");
      long used = 0;
      java.util.regex.Matcher m = java.util.regex.Pattern
          .compile("(generation|space|heap)\\s+total \\d+K, used (\\d+)K").matcher(info);
      while (m.find()) {
        if (!m.group(0).startsWith("space")) {
          used += Long.parseLong(m.group(2));
        }
      }
      return used == 0 ? -1 : used * 1024;
    } catch (IOException | InterruptedException e) {
      return -1;
    }
  }

  private String jcmd(String what) throws IOException, InterruptedException {
    Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
    Process p = new ProcessBuilder(Files.isExecutable(jcmd) ? jcmd.toString() : "jcmd",
        Long.toString(process.pid()), what).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(30, TimeUnit.SECONDS);
    return out;
  }

  /** SIGTERM, then SIGKILL after 20 s. */
  @Override
  public void close() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroy();
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor();
      }
    }
  }
}
