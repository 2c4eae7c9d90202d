package org.lambdagrid.it;

import java.nio.file.Path;
import java.time.Duration;

/** The non-root user the end-to-end tests run MPI jobs as, with the demo program compiled. */
final class MpiUser {
  private MpiUser() {}

  /**
   * Creates {@code user} if missing (password field '*': sshd with UsePAM no refuses '!'), and
   * compiles scripts/examples/mpi_hello.c as the user into ~user/{@code dirName}/mpi_hello.
   * The source is copied over first: the checkout may not be readable by the user (under /root).
   *
   * @return the work directory
   */
  static Path prepare(String user, String dirName, Path repo) throws Exception {
    if (Sh.run(Duration.ofSeconds(10), "id", user).exit() != 0) {
      Sh.run(Duration.ofSeconds(30), "useradd", "-m", "-s", "/bin/bash", user).orFail("useradd");
    }
    Sh.run(Duration.ofSeconds(10), "usermod", "-p", "*", user).orFail("usermod");
    String home = Sh.run(Duration.ofSeconds(10), "getent", "passwd", user).out().split(":")[5];
    Path work = Path.of(home, dirName);
    Sh.run(Duration.ofSeconds(10), "runuser", "-u", user, "--", "mkdir", "-p", work.toString())
        .orFail("mkdir");
    Sh.run(Duration.ofSeconds(10), "install", "-o", user, "-m", "644",
        repo.resolve("scripts/examples/mpi_hello.c").toString(),
        work.resolve("mpi_hello.c").toString()).orFail("install mpi_hello.c");
    Sh.run(Duration.ofSeconds(60), "runuser", "-u", user, "--", "mpicc", "-O2", "-o",
        work.resolve("mpi_hello").toString(), work.resolve("mpi_hello.c").toString())
        .orFail("mpicc");
    return work;
  }
}
