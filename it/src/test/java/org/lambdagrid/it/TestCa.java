package org.lambdagrid.it;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A grid CA for tests, made with the real {@code scripts/lambdagrid-ca} (openssl). Certificates
 * land in the CA's directory as {@code ROLE-NAME.crt} and {@code ROLE-NAME.key}.
 */
final class TestCa {
  private static final Path SCRIPT = Path.of("").toAbsolutePath().getParent()
      .resolve("scripts/lambdagrid-ca");
  final Path dir;

  private TestCa(Path dir) {
    this.dir = dir;
  }

  static TestCa init(Path dir) throws IOException, InterruptedException {
    Sh.run(Duration.ofSeconds(30), SCRIPT.toString(), "init", dir.toString())
        .orFail("lambdagrid-ca init");
    return new TestCa(dir);
  }

  /** Issues ROLE NAME with extra arguments (--days N, --san X, --out PREFIX). */
  Cert issue(String role, String name, String... extra) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(SCRIPT.toString(), "issue", dir.toString(), role,
        name));
    cmd.addAll(List.of(extra));
    String crt = Sh.run(Duration.ofSeconds(30), cmd.toArray(String[]::new))
        .orFail("lambdagrid-ca issue " + role + " " + name).out().trim();
    String prefix = crt.substring(0, crt.length() - ".crt".length());
    return new Cert(ca(), Path.of(crt), Path.of(prefix + ".key"));
  }

  Path ca() {
    return dir.resolve("ca.crt");
  }

  /** A certificate, its key and the CA that signed it. */
  record Cert(Path ca, Path cert, Path key) {
    /** The {@code tls:} section of a daemon's YAML, as one flow mapping. */
    String yaml() {
      return "tls: {ca: " + ca + ", cert: " + cert + ", key: " + key + "}\n";
    }
  }
}
