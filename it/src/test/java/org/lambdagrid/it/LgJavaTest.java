package org.lambdagrid.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/lg-java in a checkout: the tools run from a snapshot of the packaged
 * jars in the user's cache, not from {@code target/classes}, which a build deletes and rewrites
 * in place. Each test works on its own copy of the checkout's {@code bin/} and grc-server's
 * packaged jars and classes, and its own cache ({@code XDG_CACHE_HOME}), so it never touches the
 * real checkout. Needs grc-server packaged ({@code mvn verify} does that before this module);
 * skipped otherwise.
 */
class LgJavaTest {
  private static final Path REPO = Path.of("").toAbsolutePath().getParent();
  private static final Path TARGET = REPO.resolve("grc-server/target");
  private static Path jar;

  @TempDir
  Path dir;
  private final List<Process> background = new ArrayList<>();
  /** Where each started grc's stdout and stderr go: dir/ID.out, dir/ID.err. */
  private final Map<Process, String> outputs = new HashMap<>();

  /** What a finished command printed and returned. */
  record Run(int exit, String out, String err) {}

  @BeforeAll
  static void packaged() throws IOException {
    try (Stream<Path> s = Files.list(TARGET)) {
      jar = s.filter(p -> p.getFileName().toString().matches("lambdagrid-grc-server-.*\\.jar")
          && !p.getFileName().toString().endsWith("-tests.jar")).findFirst().orElse(null);
    } catch (IOException e) {
      jar = null;
    }
    assumeTrue(jar != null && Files.isDirectory(TARGET.resolve("lib")),
        "skipped: grc-server is not packaged; run mvn -B -DskipTests package (mvn verify does)");
  }

  @AfterEach
  void stopBackground() throws IOException, InterruptedException {
    for (Process p : background) {
      // Stopped first, so it forks no child between the snapshot of its children and its
      // kill; each child is waited for, so nothing writes in the temp dir while it is deleted.
      new ProcessBuilder("kill", "-STOP", Long.toString(p.pid())).start().waitFor();
      for (ProcessHandle child : p.descendants().toList()) {
        child.destroyForcibly();
        try {
          child.onExit().get(5, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
          // gone already, or reported by the temp dir's cleanup
        }
      }
      p.destroyForcibly();
      p.waitFor(5, TimeUnit.SECONDS);
    }
  }

  /** A copy of the checkout with bin/ and grc-server's jar, lib/ and classes/, jar newest. */
  private Path checkout(String name) throws Exception {
    Path c = Files.createDirectories(dir.resolve(name));
    Path t = Files.createDirectories(c.resolve("grc-server/target"));
    sh("cp -a \"$1/bin\" \"$2/\" && cp -a \"$3\" \"$4/lib\" \"$4/classes\" \"$5/\"",
        REPO.toString(), c.toString(), jar.toString(), TARGET.toString(), t.toString());
    // As after `mvn package`: every class file older than the jar.
    Files.setLastModifiedTime(t.resolve(jar.getFileName()), FileTime.from(Instant.now()));
    return c.toRealPath();
  }

  private static void sh(String script, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("/bin/sh", "-c", script, "sh"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).inheritIO().start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(script).isZero();
  }

  private Process start(Path checkout, Path cache, Map<String, String> env, String... args)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of(checkout.resolve("bin/grc").toString()));
    cmd.addAll(List.of(args));
    String id = Long.toString(System.nanoTime());
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectOutput(dir.resolve(id + ".out").toFile())
        .redirectError(dir.resolve(id + ".err").toFile());
    Map<String, String> e = pb.environment();
    List.of("JAVA", "LAMBDAGRID_JAVA_OPTS", "SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND")
        .forEach(e::remove);
    e.put("XDG_CACHE_HOME", cache.toString());
    e.putAll(env);
    Process p = pb.start();
    outputs.put(p, id);
    return p;
  }

  private Run finish(Process p) throws Exception {
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("grc finished").isTrue();
    String id = outputs.get(p);
    return new Run(p.exitValue(), Files.readString(dir.resolve(id + ".out")),
        Files.readString(dir.resolve(id + ".err")));
  }

  private Run grc(Path checkout, Path cache, Map<String, String> env, String... args)
      throws Exception {
    return finish(start(checkout, cache, env, args));
  }

  private static void assertHelp(Run r) {
    assertThat(r.exit()).as("grc --help\nstdout: " + r.out() + "\nstderr: " + r.err()).isZero();
    assertThat(r.out()).startsWith("Usage: grc");
    assertThat(r.err()).doesNotContain("NoClassDefFoundError", "ClassNotFoundException",
        "Could not find or load main class");
  }

  /** The snapshots (and temp dirs) in a cache. */
  private static Set<String> entries(Path cache) throws IOException {
    Path d = cache.resolve("lambdagrid");
    if (!Files.isDirectory(d)) {
      return Set.of();
    }
    try (Stream<Path> s = Files.list(d)) {
      return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
    }
  }

  @Test
  void grcKeepsWorkingWhileAnotherProcessDeletesAndRewritesTargetClasses() throws Exception {
    Path c = checkout("c");
    Path t = c.resolve("grc-server/target");
    sh("cp -a \"$1/classes\" \"$1/classes.saved\"", t.toString());
    // The "build": deletes target/classes, then writes it back (same content and times, so
    // the jar stays the newest), over and over; it counts its rounds.
    Process build = new ProcessBuilder("/bin/sh", "-c", """
        while :; do
          rm -rf "$1/classes"; cp -a "$1/classes.saved" "$1/classes.new"
          mv "$1/classes.new" "$1/classes"; echo >> "$1/rounds"
        done
        """, "build", t.toString()).start();
    background.add(build);
    Path cache = dir.resolve("cache");
    for (int i = 0; i < 12; i++) {
      assertHelp(grc(c, cache, Map.of(), "--help"));
    }
    assertThat(build.isAlive()).isTrue();
    assertThat(Files.readAllLines(t.resolve("rounds"))).as("the build's rounds").hasSizeGreaterThan(5);
    assertThat(entries(cache)).singleElement().asString().matches("grc-server-[0-9a-f]{16}");
  }

  @Test
  void concurrentFirstInvocationsAllSucceedAndLeaveOneSnapshot() throws Exception {
    Path c = checkout("c");
    for (int round = 0; round < 3; round++) {
      Path cache = dir.resolve("cache-" + round);
      List<Process> ps = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        ps.add(start(c, cache, Map.of(), "--help"));
      }
      for (Process p : ps) {
        assertHelp(finish(p));
      }
      assertThat(entries(cache)).as("one snapshot, no temp dir left").singleElement()
          .asString().matches("grc-server-[0-9a-f]{16}");
    }
  }

  @Test
  void aMissingOrStaleJarFailsNamingTheBuildCommand() throws Exception {
    Path c = checkout("c");
    Path t = c.resolve("grc-server/target");
    Path cache = dir.resolve("cache");
    Path someClass;
    try (Stream<Path> s = Files.walk(t.resolve("classes"))) {
      someClass = s.filter(p -> p.toString().endsWith(".class")).findFirst().orElseThrow();
    }
    // Compiled again (mvn compile/test) but not packaged: the jar is older than a class.
    Files.setLastModifiedTime(someClass, FileTime.from(Instant.now().plusSeconds(60)));
    Run stale = grc(c, cache, Map.of(), "--help");
    assertThat(stale.exit()).isEqualTo(2);
    assertThat(stale.err()).isEqualTo("lambdagrid: grc-server: " + t.resolve("classes")
        + " is newer than " + jar.getFileName() + "; run: mvn -B -DskipTests package\n");

    Files.delete(t.resolve(jar.getFileName()));
    Run missing = grc(c, cache, Map.of(), "--help");
    assertThat(missing.exit()).isEqualTo(2);
    assertThat(missing.err()).isEqualTo("lambdagrid: grc-server is not packaged in " + c
        + "; run: mvn -B -DskipTests package\n");
    assertThat(entries(cache)).isEmpty();
  }

  /** A stand-in for java that records its arguments (and that it ran) in {@code out}. */
  private Path fakeJava(Path out) throws IOException {
    Path java = dir.resolve("fake-java");
    Files.writeString(java, "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + out + "\nexit 0\n");
    Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
    return java;
  }

  @Test
  void javaGetsTheHomeTheSnapshotAndTheUsersOptions() throws Exception {
    Path c = checkout("c");
    Path cache = dir.resolve("cache");
    Path args = dir.resolve("java.args");
    Run r = grc(c, cache, Map.of("JAVA", fakeJava(args).toString(),
        "LAMBDAGRID_JAVA_OPTS", "-Dlg.a=1 -Dlg.b=2"), "--help");
    assertThat(r.exit()).isZero();
    String snapshot = cache.resolve("lambdagrid").resolve(entries(cache).iterator().next())
        .toString();
    assertThat(Files.readAllLines(args)).containsExactly("-Dlg.a=1", "-Dlg.b=2",
        "-Dlambdagrid.home=" + c, "-cp", snapshot + "/*", "org.lambdagrid.grc.cli.GrcCli",
        "--help");
  }

  @Test
  void oldSnapshotsUnusedForTwoWeeksArePrunedButNotOnesInUse() throws Exception {
    Path c = checkout("c");
    Path cache = dir.resolve("cache");
    Path lg = Files.createDirectories(cache.resolve("lambdagrid"));
    FileTime old = FileTime.from(Instant.now().minus(Duration.ofDays(20)));
    for (String n : List.of("grc-server-00000000000000aa", "grc-server-00000000000000bb",
        ".grc-server-00000000000000cc.XXXXXX", "nodemanager-00000000000000dd")) {
      Files.setLastModifiedTime(Files.createDirectory(lg.resolve(n)), old);
    }
    Files.createDirectory(lg.resolve("grc-server-00000000000000ee")); // used recently
    // A running command whose class path is in ...bb.
    Process user = new ProcessBuilder("/bin/sh", "-c", "sleep 60", "sh",
        lg.resolve("grc-server-00000000000000bb") + "/*").start();
    background.add(user);

    assertHelp(grc(c, cache, Map.of(), "--help"));

    assertThat(entries(cache)).hasSize(4).contains("grc-server-00000000000000bb",
        "grc-server-00000000000000ee", "nodemanager-00000000000000dd")
        .doesNotContain("grc-server-00000000000000aa", ".grc-server-00000000000000cc.XXXXXX");
  }

  @Test
  void underSudoRootIgnoresJavaAndItsOptionsAndNeverWritesTheUsersCache() throws Exception {
    assumeTrue("root".equals(System.getProperty("user.name")),
        "skipped: the sudo case needs root");
    Path c = checkout("c");
    Path userCache = dir.resolve("user-cache");
    Path args = dir.resolve("java.args");
    Path rootCache = Path.of(System.getProperty("user.home"), ".cache/lambdagrid");
    boolean existed = Files.isDirectory(rootCache);
    Set<String> before = entries(rootCache.getParent());
    try {
      Run r = grc(c, userCache, Map.of("SUDO_USER", "nobody", "SUDO_UID", "65534",
          "JAVA", fakeJava(args).toString(), "LAMBDAGRID_JAVA_OPTS", "-Dlg.bogus=1",
          "HOME", dir.resolve("user-home").toString()), "--version");
      assertThat(r.exit()).as(r.err()).isZero();
      assertThat(r.out()).startsWith("lambdagrid grc");
      assertThat(args).as("the user's JAVA did not run").doesNotExist();
      assertThat(userCache).as("nothing written to the user's cache").doesNotExist();
      assertThat(dir.resolve("user-home")).doesNotExist();
      assertThat(entries(rootCache.getParent())).as("root's snapshot, in root's own cache")
          .anyMatch(n -> n.matches("grc-server-[0-9a-f]{16}") && !before.contains(n));
    } finally {
      for (String n : entries(rootCache.getParent())) {
        if (!before.contains(n)) {
          sh("rm -rf \"$1\"", rootCache.resolve(n).toString());
        }
      }
      if (!existed) {
        Files.deleteIfExists(rootCache);
      }
    }
  }
}
