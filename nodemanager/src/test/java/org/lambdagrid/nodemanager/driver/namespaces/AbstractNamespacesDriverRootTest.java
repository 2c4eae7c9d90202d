package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.lambdagrid.nodemanager.driver.RunningCommand;

/**
 * Builds two real guests A and B with the namespaces driver and checks the guest contract (one
 * interface, the job unprivileged, home shared, ~/.ssh private, ssh and MPI between guests,
 * teardown and recovery from the record). Needs root, overlayfs, OpenSSH and Open MPI; skips
 * itself with the reason otherwise. Subclasses choose the attachment (bridge, macvlan) and make
 * the test network for it; all network objects are test-made, named "lg...", and removed in
 * {@link #tearDown}.
 */
@Tag("root")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AbstractNamespacesDriverRootTest {
  static final String USER = "lgtest";
  static final Path HOME = Path.of("/home", USER);

  final String tag = HexFormat.of().formatHex(new byte[] {
      (byte) ThreadLocalRandom.current().nextInt(), (byte) ThreadLocalRandom.current().nextInt()});
  /** Third octet of the test subnets, random so parallel runs rarely meet. */
  final int net = 16 + ThreadLocalRandom.current().nextInt(200);
  Path stateBase;
  NamespacesDriver driver;
  NamespacesDriverConfig config;
  GuestHandle a;
  GuestHandle b;
  final List<GuestHandle> built = new ArrayList<>();
  String hostSshDigest;

  /** Makes the test network and returns the driver config attached to it. */
  abstract NamespacesDriverConfig makeNetwork() throws Exception;

  /** Removes the test network. Must not throw for "already gone". */
  abstract void removeNetwork();

  /** An address on the host itself in the guests' subnet, or null when the host has none. */
  abstract String hostAddressOnSegment();

  String subnet() {
    return "10.231." + net + ".";
  }

  String otherRange() {
    return "10.233." + net + ".0/24";
  }

  @BeforeAll
  void setUp() throws Exception {
    assumeTrue(HostCommand.isRoot(), "skipped: the namespaces driver tests need root");
    for (String tool : List.of("ip", "unshare", "nsenter", "setpriv", "ssh", "useradd")) {
      assumeTrue(Commands.executableExists(tool), "skipped: no '" + tool + "' on PATH");
    }
    assumeTrue(Files.isExecutable(Path.of("/usr/sbin/sshd")), "skipped: no /usr/sbin/sshd"
        + " (apt-get install openssh-server)");
    ensureUser();
    stateBase = Path.of("/run/lambdagrid/test-" + tag + "/guests");
    config = makeNetwork().withStateDir(stateBase);
    driver = new NamespacesDriver(config);
    List<String> problems = driver.checkHost();
    if (!problems.isEmpty()) {
      removeNetwork();
    }
    assumeTrue(problems.isEmpty(), () -> "skipped: host cannot run the driver: " + problems);
    hostSshDigest = digestTree(HOME.resolve(".ssh"));

    a = build(spec("site-a", subnet() + "11"));
    b = build(spec("site-b", subnet() + "12"));
    driver.installTrust(a, trustFor(List.of(a, b), Map.of()));
    driver.installTrust(b, trustFor(List.of(a, b), Map.of()));
    driver.start(a);
    driver.start(b);
  }

  @AfterAll
  void tearDown() throws Exception {
    if (driver != null) {
      for (GuestHandle g : built) {
        driver.destroy(g);
      }
    }
    removeNetwork();
    if (stateBase != null) {
      SafeFiles.deleteTree(stateBase.getParent());
    }
    if (hostSshDigest != null) {
      try (Stream<Path> files = Files.list(HOME)) {
        for (Path p : files.filter(p -> p.getFileName().toString().startsWith("lg-probe-"))
            .toList()) {
          Files.deleteIfExists(p);
        }
      }
      assertThat(digestTree(HOME.resolve(".ssh"))).as("host ~/.ssh unchanged")
          .isEqualTo(hostSshDigest);
    }
  }

  GuestSpec spec(String hostname, String address) {
    return new GuestSpec("job-" + tag, hostname, address, 24, List.of(otherRange()), USER);
  }

  GuestHandle build(GuestSpec spec) throws GuestException {
    GuestHandle g = driver.build(spec);
    built.add(g);
    return g;
  }

  /** What the CRM would render from all guests' keys; {@code hostKeyOverride} swaps keys. */
  GuestTrust trustFor(List<GuestHandle> guests, Map<String, String> hostKeyOverride)
      throws GuestException {
    StringBuilder hostfile = new StringBuilder();
    StringBuilder known = new StringBuilder();
    StringBuilder auth = new StringBuilder();
    StringBuilder hosts = new StringBuilder();
    for (GuestHandle g : guests) {
      GuestKeys keys = driver.publicKeys(g);
      String name = g.spec().hostname();
      String addr = g.spec().address();
      hostfile.append(addr).append(" slots=1\n");
      known.append(name).append(',').append(addr).append(' ')
          .append(hostKeyOverride.getOrDefault(name, keys.hostPublicKey())).append('\n');
      auth.append(keys.userPublicKey()).append('\n');
      hosts.append(addr).append(' ').append(name).append('\n');
    }
    return new GuestTrust(hostfile.toString(), known.toString(), auth.toString(),
        hosts.toString());
  }

  /** Runs a command in the guest as the job (through the driver's EXEC). */
  record Out(int exit, String stdout, String stderr) {}

  Out run(GuestHandle g, String... argv) throws Exception {
    return run(g, Map.of(), argv);
  }

  Out run(GuestHandle g, Map<String, String> env, String... argv) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    RunningCommand c = driver.exec(g, new ExecRequest(List.of(argv), env, HOME.toString(), USER),
        (stderr, data) -> (stderr ? err : out).writeBytes(data));
    OptionalInt code = c.waitFor(Duration.ofSeconds(60));
    if (code.isEmpty()) {
      c.kill();
    }
    assertThat(code).as("command %s finished", List.of(argv)).isPresent();
    return new Out(code.getAsInt(), out.toString(StandardCharsets.UTF_8),
        err.toString(StandardCharsets.UTF_8));
  }

  /** Runs a command in the guest as root (test only: the driver never does this for a job). */
  HostCommand.Result runAsRoot(GuestHandle g, String script) throws Exception {
    long init = GuestRecord.load(g.stateDir()).proc("init").pid();
    return Commands.attempt(Duration.ofSeconds(30), List.of("nsenter", "--target",
        Long.toString(init), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd",
        "/bin/sh", "-c", script));
  }

  // --- the network ------------------------------------------------------------------------------

  /**
   * Several pilots in one process (the node agent) each have their own driver on one state
   * directory: a pilot that starts must not recover (and destroy) its running siblings' guests.
   */
  @Test
  void recoverSkipsTheGuestsOfAnotherDriverInThisProcess() {
    NamespacesDriver sibling = new NamespacesDriver(config);
    assertThat(sibling.recover()).extracting(GuestHandle::id)
        .doesNotContain(a.id(), b.id());
    assertThat(driver.recover()).extracting(GuestHandle::id).contains(a.id(), b.id());
  }

  @Test
  void guestSeesOnlyLoopbackAndEth0() throws Exception {
    Out o = run(a, "ip", "-o", "link");
    assertThat(o.exit()).as(o.stderr()).isZero();
    List<String> names = o.stdout().lines().map(l -> l.split(": ")[1].split("@")[0]).toList();
    assertThat(names).containsExactlyInAnyOrder("lo", "eth0");
  }

  @Test
  void guestHasItsAssignedAddressRoutesAndHostname() throws Exception {
    Out addr = run(a, "ip", "-4", "-o", "addr", "show", "dev", "eth0");
    assertThat(addr.stdout()).contains("inet " + subnet() + "11/24");
    Out routes = run(a, "ip", "-4", "route");
    assertThat(routes.stdout()).contains(otherRange() + " dev eth0")
        .contains(subnet() + "0/24 dev eth0").doesNotContain("default");
    assertThat(run(a, "hostname").stdout().strip()).isEqualTo("site-a");
    assertThat(run(b, "hostname").stdout().strip()).isEqualTo("site-b");
    assertThat(run(a, "getent", "hosts", "site-b").stdout()).contains(subnet() + "12");
  }

  @Test
  void hostListenerOnAnyAddressNeverReceivesGuestTraffic() throws Exception {
    try (ServerSocket listener = new ServerSocket()) {
      listener.bind(new InetSocketAddress("0.0.0.0", 0));
      listener.setSoTimeout(2000);
      int port = listener.getLocalPort();
      String host = hostAddressOnSegment();
      if (host != null) {
        // Control: the listener is reachable from the guest when the guest addresses the host.
        Out control = run(a, "bash", "-c", "echo hi > /dev/tcp/" + host + "/" + port);
        assertThat(control.exit()).as("control connection: " + control.stderr()).isZero();
        try (Socket s = listener.accept()) {
          assertThat(s.getInetAddress().getHostAddress()).isEqualTo(subnet() + "11");
        }
      }
      Out o = run(a, "bash", "-c", "timeout 5 bash -c 'echo hi > /dev/tcp/" + subnet() + "12/"
          + port + "'");
      assertThat(o.exit()).as("connecting to guest B on a port only the host listens on")
          .isNotZero();
      assertThatThrownBy(listener::accept).isInstanceOf(SocketTimeoutException.class);
    }
  }

  // --- the job ----------------------------------------------------------------------------------

  @Test
  void jobRunsAsTheUserWithoutPrivileges() throws Exception {
    GuestUser u = GuestUser.lookup(USER);
    Out o = run(a, Map.of("EXTRA", "x y"), "sh", "-c",
        "id -u; id -g; grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status; pwd; "
            + "echo \"$HOME|$USER|$EXTRA|$LAMBDAGRID_HOSTFILE|$LAMBDAGRID_NODES\"");
    assertThat(o.exit()).as(o.stderr()).isZero();
    List<String> lines = o.stdout().lines().toList();
    assertThat(lines.get(0)).isEqualTo(Integer.toString(u.uid()));
    assertThat(lines.get(1)).isEqualTo(Integer.toString(u.gid()));
    assertThat(o.stdout()).containsPattern("CapEff:\\s+0000000000000000")
        .containsPattern("CapPrm:\\s+0000000000000000").containsPattern("NoNewPrivs:\\s+1");
    assertThat(lines).contains(HOME.toString(), HOME + "|" + USER + "|x y|" + HOME
        + "/.ssh/hostfile|site-a site-b");
  }

  @Test
  void exitCodesAndSignalsAreReported() throws Exception {
    assertThat(run(a, "sh", "-c", "echo out; echo err >&2; exit 7"))
        .isEqualTo(new Out(7, "out\n", "err\n"));
    assertThat(run(a, "sh", "-c", "kill -TERM $$").exit()).isEqualTo(128 + 15);
    RunningCommand sleeper = driver.exec(a, new ExecRequest(List.of("sleep", "600"), Map.of(),
        "/", USER), (e, d) -> { });
    assertThat(sleeper.waitFor(Duration.ofMillis(200))).isEmpty();
    sleeper.kill();
    assertThat(sleeper.waitFor(Duration.ofSeconds(20))).hasValue(128 + 15);
  }

  @Test
  void homeIsSharedButTheRootFileSystemIsPrivate() throws Exception {
    String probe = "lg-probe-" + tag;
    Out o = run(a, "sh", "-c", "echo from-guest > $HOME/" + probe);
    assertThat(o.exit()).as(o.stderr()).isZero();
    assertThat(Files.readString(HOME.resolve(probe))).isEqualTo("from-guest\n");
    Files.delete(HOME.resolve(probe));

    HostCommand.Result r = runAsRoot(a, "echo guest > /etc/" + probe + " && cat /etc/" + probe);
    assertThat(r.stdout()).as(r.describe()).isEqualTo("guest\n");
    assertThat(Path.of("/etc", probe)).doesNotExist();
    assertThat(run(b, "cat", "/etc/" + probe).exit()).as("other guest sees it not").isNotZero();
    assertThat(run(a, "sh", "-c", "echo x > /etc/" + probe + "-user").exit())
        .as("the user cannot write /etc").isNotZero();
  }

  @Test
  void hostSshDirectoryIsHiddenAndPrivateOneIsTheUsers() throws Exception {
    Out ls = run(a, "ls", "-a", HOME + "/.ssh");
    assertThat(ls.stdout()).doesNotContain("host-secret")
        .contains("id_ed25519", "authorized_keys", "known_hosts", "hostfile", "config");
    assertThat(run(a, "cat", HOME + "/.ssh/host-secret").exit()).isNotZero();
    Out perms = run(a, "stat", "-c", "%n %U %a", HOME + "/.ssh", HOME + "/.ssh/id_ed25519",
        HOME + "/.ssh/authorized_keys");
    assertThat(perms.stdout()).contains(".ssh " + USER + " 700", "id_ed25519 " + USER + " 600",
        "authorized_keys " + USER + " 600");
    assertThat(run(a, "cat", "/etc/lambdagrid/ssh_host_ed25519_key").exit())
        .as("the user cannot read the guest's host key").isNotZero();
    assertThat(digestTree(HOME.resolve(".ssh"))).isEqualTo(hostSshDigest);
  }

  // --- ssh and MPI ------------------------------------------------------------------------------

  @Test
  void sshFromGuestToGuestWorksWithTheDistributedKeys() throws Exception {
    Out byAddress = run(a, "ssh", subnet() + "12", "hostname; id -un; echo $PATH");
    assertThat(byAddress.exit()).as(byAddress.stderr()).isZero();
    List<String> lines = byAddress.stdout().lines().toList();
    assertThat(lines.get(0)).isEqualTo("site-b");
    assertThat(lines.get(1)).isEqualTo(USER);
    assertThat(lines.get(2)).as("PATH of an ssh session, from sshd's SetEnv")
        .isEqualTo(NamespacesDriverConfig.DEFAULT_GUEST_PATH);
    Out byName = run(b, "ssh", "site-a", "command -v orted; hostname");
    assertThat(byName.exit()).as(byName.stderr()).isZero();
    assertThat(byName.stdout()).contains("orted").endsWith("site-a\n");
  }

  @Test
  void sshFailsWhenTheTargetsHostKeyIsNotTheDistributedOne() throws Exception {
    Path tmp = Files.createTempDirectory("lg-key");
    try {
      Commands.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
          tmp.resolve("k").toString());
      String other = Files.readString(tmp.resolve("k.pub")).strip();
      driver.installTrust(a, trustFor(List.of(a, b), Map.of("site-b", other)));
      Out o = run(a, "ssh", subnet() + "12", "true");
      assertThat(o.exit()).isNotZero();
      assertThat(o.stderr()).contains("Host key verification failed");
    } finally {
      driver.installTrust(a, trustFor(List.of(a, b), Map.of()));
      SafeFiles.deleteTree(tmp);
    }
    assertThat(run(a, "ssh", subnet() + "12", "true").exit()).isZero();
  }

  @Test
  void mpirunStartsRanksInBothGuests() throws Exception {
    assumeTrue(Commands.executableExists("mpirun"), "skipped: no mpirun (openmpi-bin)");
    Out o = run(a, "mpirun", "--hostfile", HOME + "/.ssh/hostfile", "-np", "2",
        "--mca", "btl", "tcp,self", "hostname");
    assertThat(o.exit()).as(o.stdout() + o.stderr()).isZero();
    assertThat(o.stdout().lines().sorted().toList()).containsExactly("site-a", "site-b");
  }

  // --- teardown ---------------------------------------------------------------------------------

  @Test
  void destroyLeavesNothingAndIsIdempotent() throws Exception {
    GuestHandle c = build(spec("site-c", subnet() + "13"));
    driver.installTrust(c, trustFor(List.of(c), Map.of()));
    driver.start(c);
    // Left-behind processes that keep the output pipes open: the exit is still reported.
    assertThat(run(c, "sh", "-c", "sleep 600 & sleep 600 & exit 3").exit()).isEqualTo(3);
    assertThat(driver.inspect(c).built()).isTrue();
    assertThat(driver.inspect(c).sshdRunning()).isTrue();
    driver.stop(c);
    assertThat(driver.inspect(c).sshdRunning()).isFalse();
    assertThat(driver.destroy(c)).isEmpty();
    assertNothingLeft(c);
    assertThat(driver.destroy(c)).isEmpty();
    driver.stop(c);
    assertNothingLeft(c);
  }

  /** The guest's init starts sshd; one that dies later is started again by RUN (nsenter). */
  @Test
  void anSshdThatDiedIsStartedAgainByRun() throws Exception {
    GuestHandle e = build(spec("site-e", subnet() + "21"));
    driver.installTrust(e, trustFor(List.of(e), Map.of()));
    driver.start(e);
    GuestRecord.Proc first = GuestRecord.load(e.stateDir()).proc(GuestRecord.SSHD);
    long init = GuestRecord.load(e.stateDir()).proc(GuestRecord.INIT).pid();
    assertThat(ProcFs.children(init)).as("init's children").contains(first.pid());
    ProcessHandle.of(first.pid()).orElseThrow().destroyForcibly();
    await().atMost(Duration.ofSeconds(10)).until(() -> !first.alive());
    assertThat(driver.inspect(e).sshdRunning()).isFalse();
    Path pidFile = GuestLayout.run(e.stateDir()).resolve(GuestLayout.SSHD_PID);
    assertThat(pidFile).as("left by the killed sshd").exists();
    assertThat(ProcFs.sshdListens(first, pidFile)).as("a dead sshd's pid file").isFalse();

    driver.start(e);

    GuestRecord.Proc second = GuestRecord.load(e.stateDir()).proc(GuestRecord.SSHD);
    assertThat(second.pid()).isNotEqualTo(first.pid());
    assertThat(ProcFs.sshdListens(second, pidFile)).isTrue();
    assertThat(driver.inspect(e).sshdRunning()).isTrue();
    Out ssh = run(e, "ssh", "site-e", "hostname");
    assertThat(ssh.stdout().strip()).as(ssh.stderr()).isEqualTo("site-e");
    driver.stop(e);
    assertThat(driver.destroy(e)).isEmpty();
    assertNothingLeft(e);
  }

  /** An sshd that cannot start fails the guest, quoting its log, and nothing is left. */
  @Test
  void anSshdThatExitsAtOnceFailsTheGuestWithItsLog() throws Exception {
    // A root-only directory on the root file system (which the guest's overlay shows), made
    // atomically: no other user can plant or swap what root runs in the guest.
    Path dir = Files.createTempDirectory(Path.of("/var/tmp"), "lg-fake-sshd-");
    Path fake = dir.resolve("sshd");
    Files.writeString(fake, "#!/bin/sh\necho \"fake sshd: refusing to start\" >&2\nexit 1\n",
        StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwx------"));
    try {
      NamespacesDriverConfig c = new NamespacesDriverConfig(stateBase.resolveSibling("badsshd"),
          config.attachment(),
          config.bridge(), config.parent(), config.macvlanMode(), null, fake.toString(), null,
          List.of(), null, null);
      NamespacesDriver bad = new NamespacesDriver(c);
      List<String> before = netnsList();
      long start = System.nanoTime();
      // The build sees it exit, or RUN does (it may still run when the build looks).
      assertThatThrownBy(() -> {
        GuestHandle g = bad.build(spec("site-y", subnet() + "22"));
        try {
          bad.start(g);
        } finally {
          assertThat(bad.destroy(g)).isEmpty();
        }
      }).isInstanceOf(GuestException.class)
          .hasMessageContaining("sshd of guest")
          .hasMessageContaining("exited")
          .hasMessageContaining("fake sshd: refusing to start");
      // Not a wait for the start timeout.
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(c.startTimeout());
      assertThat(netnsList()).isEqualTo(before);
      try (Stream<Path> left = Files.list(c.stateDir())) {
        assertThat(left.toList()).as("state left in " + c.stateDir()).isEmpty();
      }
    } finally {
      Files.deleteIfExists(fake);
      Files.deleteIfExists(dir);
    }
  }

  @Test
  void failedBuildIsUndone() throws Exception {
    NamespacesDriverConfig broken = brokenConfig();
    NamespacesDriver bad = new NamespacesDriver(broken);
    List<String> before = netnsList();
    List<String> linksBefore = guestLinks();
    assertThatThrownBy(() -> bad.build(spec("site-x", subnet() + "14")))
        .isInstanceOf(GuestException.class).hasMessageContaining("undone");
    assertThat(netnsList()).isEqualTo(before);
    assertThat(guestLinks()).isSubsetOf(linksBefore);
    try (Stream<Path> left = Files.list(broken.stateDir())) {
      assertThat(left.toList()).isEmpty();
    }
  }

  static List<String> guestLinks() throws GuestException {
    return linkNames().stream().filter(l -> l.startsWith("lgv") || l.startsWith("lgm")).toList();
  }

  /** A config on the same network that fails midway (after netns and link exist). */
  abstract NamespacesDriverConfig brokenConfig();

  @Test
  void recoverFindsAndCleansAGuestAfterACrash() throws Exception {
    GuestHandle d = build(spec("site-d", subnet() + "15"));
    driver.installTrust(d, trustFor(List.of(d), Map.of()));
    driver.start(d);
    // Its NodeManager process crashed: the record names an owner process that is gone (a real
    // SIGKILL is in NamespacesDriverBridgeTest). A new NodeManager: a fresh driver that knows
    // only the state directory.
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    GuestRecord rec = GuestRecord.load(d.stateDir());
    rec.setProc("owner", new GuestRecord.Proc(gone.pid(), "0"));
    rec.save();
    NamespacesDriver restarted = new NamespacesDriver(driver.config());
    List<GuestHandle> found = restarted.recover();
    assertThat(found).extracting(GuestHandle::id).contains(d.id());
    GuestHandle recovered = found.stream().filter(g -> g.id().equals(d.id())).findFirst()
        .orElseThrow();
    assertThat(recovered.spec()).isEqualTo(d.spec());
    assertThat(restarted.destroy(recovered)).isEmpty();
    assertNothingLeft(d);
    assertThat(restarted.recover()).extracting(GuestHandle::id).doesNotContain(d.id());
  }

  // --- helpers ----------------------------------------------------------------------------------

  void assertNothingLeft(GuestHandle g) throws Exception {
    assertThat(netnsList()).doesNotContain("lg-" + g.id());
    assertThat(linkNames()).doesNotContain("lgv" + g.id(), "lgm" + g.id());
    assertThat(Files.readString(Path.of("/proc/self/mounts"))).doesNotContain(g.stateDir()
        .toString());
    assertThat(g.stateDir()).doesNotExist();
    assertThat(NamespacesDriverCgroupTest.guestCgroups())
        .noneMatch(p -> p.getFileName().toString().equals("lg-" + g.id()));
    assertThat(driver.inspect(g).leftovers()).isEmpty();
    assertThat(driver.inspect(g).built()).isFalse();
  }

  static List<String> netnsList() throws GuestException {
    return Commands.run("ip", "netns", "list").stdout().lines().map(l -> l.split(" ")[0])
        .toList();
  }

  static List<String> linkNames() throws GuestException {
    return Commands.run("ip", "-o", "link").stdout().lines()
        .map(l -> l.split(": ")[1].split("@")[0]).toList();
  }

  static void ensureUser() throws Exception {
    if (!Commands.attempt("getent", "passwd", USER).ok()) {
      Commands.run("useradd", "--create-home", "--home-dir", HOME.toString(), "--shell",
          "/bin/bash", "--password", "*", USER);
    } else {
      Commands.run("usermod", "--password", "*", USER);
    }
    Path ssh = HOME.resolve(".ssh");
    if (!Files.exists(ssh.resolve("host-secret"))) {
      Files.createDirectories(ssh);
      Files.writeString(ssh.resolve("host-secret"), "the user's own key, not for guests\n");
      Commands.run("chmod", "700", ssh.toString());
      Commands.run("chmod", "600", ssh.resolve("host-secret").toString());
      Commands.run("chown", "-R", USER + ":", ssh.toString());
    }
  }

  /** Names, sizes, modes, owners and contents of every file in a tree. */
  static String digestTree(Path dir) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted().toList()) {
        md.update((p + " " + Files.getAttribute(p, "unix:mode") + " "
            + Files.getAttribute(p, "unix:uid") + "\n").getBytes(StandardCharsets.UTF_8));
        if (Files.isRegularFile(p)) {
          md.update(Files.readAllBytes(p));
        }
      }
    } catch (IOException e) {
      return "unreadable: " + e;
    }
    return HexFormat.of().formatHex(md.digest());
  }
}
