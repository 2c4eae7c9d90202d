package org.lambdagrid.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs commands for the end-to-end tests, with a timeout; output captured whole. */
final class Sh {
  record Result(int exit, String out, String err) {
    Result orFail(String what) {
      if (exit != 0) {
        throw new AssertionError(what + " exited " + exit + "\nstdout:\n" + out + "\nstderr:\n" + err);
      }
      return this;
    }
  }

  private Sh() {}

  static Result run(Duration timeout, String... cmd) throws IOException, InterruptedException {
    Path out = Files.createTempFile("lg-it", ".out");
    Path err = Files.createTempFile("lg-it", ".err");
    try {
      Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
          .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        throw new AssertionError(String.join(" ", cmd) + " did not finish within " + timeout
            + "\nstdout:\n" + Files.readString(out) + "\nstderr:\n" + Files.readString(err));
      }
      return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  static boolean onPath(String tool) {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
      if (Files.isExecutable(Path.of(dir, tool))) {
        return true;
      }
    }
    return Files.isExecutable(Path.of("/usr/sbin", tool));
  }

  /**
   * What lambdagrid left on this machine, by the naming convention (the same rules as
   * shared/tools/leakcheck, which cannot see cgroups, and scripts/leakcheck): network namespaces
   * "lg-*", links "lg*", mounts mentioning lambdagrid, cgroups named "lambdagrid" or "lg-*" in
   * any hierarchy under /sys/fs/cgroup (a guest given --cpus or --memory has them).
   * {@code allowedLinks} and {@code allowedMounts} are expected (a testbed that is
   * still up: its bridges and links, the tmpfs of its state).
   */
  static List<String> leftovers(List<String> allowedLinks, List<String> allowedMounts)
      throws IOException, InterruptedException {
    List<String> left = new ArrayList<>();
    for (String line : run(Duration.ofSeconds(10), "ip", "netns", "list").out().lines().toList()) {
      if (line.startsWith("lg-")) {
        left.add("netns " + line.split(" ")[0]);
      }
    }
    for (String line : run(Duration.ofSeconds(10), "ip", "-o", "link", "show").out().lines().toList()) {
      String name = line.split(": ")[1].split("@")[0];
      if (name.startsWith("lg") && !allowedLinks.contains(name)) {
        left.add("link " + name);
      }
    }
    for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
      String mount = line.split(" ")[1];
      if (mount.contains("lambdagrid") && !allowedMounts.contains(mount)) {
        left.add("mount " + mount);
      }
    }
    for (Path cgroup : cgroups()) {
      left.add("cgroup " + cgroup);
    }
    return left;
  }

  /** Directories named "lambdagrid" or "lg-*" under /sys/fs/cgroup, in every hierarchy. */
  static List<Path> cgroups() throws IOException {
    List<Path> found = new ArrayList<>();
    Path root = Path.of("/sys/fs/cgroup");
    if (!Files.isDirectory(root)) {
      return found;
    }
    Files.walkFileTree(root, java.util.Set.of(), 16, new java.nio.file.SimpleFileVisitor<>() {
      @Override
      public java.nio.file.FileVisitResult preVisitDirectory(Path dir,
          java.nio.file.attribute.BasicFileAttributes attrs) {
        String name = dir.getFileName() == null ? "" : dir.getFileName().toString();
        if (name.equals("lambdagrid") || name.startsWith("lg-")) {
          found.add(dir);
        }
        return java.nio.file.FileVisitResult.CONTINUE;
      }

      @Override
      public java.nio.file.FileVisitResult visitFileFailed(Path file, IOException exc) {
        return java.nio.file.FileVisitResult.CONTINUE; // removed meanwhile
      }
    });
    return found;
  }
}
