package org.lambdagrid.common.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the openssl command line for tests that need PEM keys and certificates. */
public final class Openssl {
  private Openssl() {}

  /**
   * {@code openssl ARGS...} in {@code dir}; the test is skipped when openssl is missing and
   * fails, showing openssl's output, when it does not exit 0 within a minute.
   */
  public static void run(Path dir, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("openssl"));
    cmd.addAll(List.of(args));
    Process p;
    try {
      p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    } catch (IOException e) {
      assumeTrue(false, "openssl is missing");
      return;
    }
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0).as(out).isTrue();
  }
}
