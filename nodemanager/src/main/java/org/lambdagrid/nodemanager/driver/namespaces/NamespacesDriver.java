package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.security.HostTools;
import org.lambdagrid.common.security.SecurePaths;
import org.lambdagrid.nodemanager.driver.Capabilities;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestStatus;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.lambdagrid.nodemanager.driver.OutputSink;
import org.lambdagrid.nodemanager.driver.RunningCommand;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The default guest driver: an OS-level guest made of Linux namespaces, the modern form of the
 * seed's Linux-VServer/OpenVZ guests (see docs/guests.md).
 *
 * <p>One guest with id {@code ID} (8 hex digits) is:
 *
 * <ul>
 *   <li>network namespace {@code lg-ID} holding {@code lo} and {@code eth0} only: a veth whose
 *       host end {@code lgvID} is enslaved to the configured bridge, or a macvlan made as
 *       {@code lgmID} on the configured parent, moved in and renamed; the job address, on-link
 *       routes for the job's other ranges, no default route unless configured;
 *   <li>a holder process ({@code unshare}, and its child {@code guest-init.sh} as pid 1 of the
 *       guest's PID namespace) owning the guest's mount, UTS, IPC and PID namespaces: root is an
 *       overlayfs over the host's {@code /}, the user's home is shared, {@code ~/.ssh} is private
 *       (see {@code guest-init.sh});
 *   <li>state directory {@code STATE_DIR/ID}: {@code guest.properties} (what was built, see
 *       {@link GuestRecord}), {@code upper/ work/ root/} (overlay), {@code ssh/} (the private
 *       ~/.ssh: user key, authorized_keys, known_hosts, hostfile, ssh client config, owned by the
 *       user), {@code etc/} (read-only in the guest as /etc/lambdagrid: sshd_config, host key,
 *       hosts), {@code sshd.log}, {@code holder.log}.
 * </ul>
 *
 * <p>Everything runs as root except the job and ssh sessions, which run as the user with no
 * capabilities and no_new_privs. The root-side work is the host tools (iproute2, util-linux,
 * OpenSSH) called through {@link Commands} and one small shell script, {@code guest-init.sh}.
 *
 * <p>Threading: calls for one guest come from one thread at a time (the {@link GuestDriver}
 * contract); calls for different guests may run concurrently.
 */
public final class NamespacesDriver implements GuestDriver {
  /**
   * The guests that a driver instance of this process built and has not destroyed yet, by id.
   * The node agent runs many pilots, each with its own driver, in one process: {@link #recover}
   * must not hand a pilot the guests of its siblings, which the process id alone cannot tell.
   */
  private static final Map<String, NamespacesDriver> IN_USE = new ConcurrentHashMap<>();

  private static final Logger log = LoggerFactory.getLogger(NamespacesDriver.class);

  public static final String NAME = "namespaces";
  /** Where the guest's private ssh directory puts the Open MPI hostfile (LAMBDAGRID_HOSTFILE). */
  static final String HOSTFILE_NAME = "hostfile";
  private static final String GUEST_ETC = "/etc/lambdagrid";
  private static final String INIT_SCRIPT = "guest-init.sh";

  private static final Pattern HOSTNAME =
      Pattern.compile("[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*");
  private static final Pattern IPV4 =
      Pattern.compile("(25[0-5]|2[0-4]\\d|1?\\d?\\d)(\\.(25[0-5]|2[0-4]\\d|1?\\d?\\d)){3}");
  private static final Pattern USER = Pattern.compile("[a-z_][a-z0-9_.-]{0,31}\\$?");
  private static final Pattern ENV_KEY = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

  private final NamespacesDriverConfig config;
  private final SecureRandom random = new SecureRandom();
  /** The sshd launcher process per guest id, while this driver instance started it. */
  private final Map<String, Process> sshdLaunchers = new ConcurrentHashMap<>();

  public NamespacesDriver(NamespacesDriverConfig config) {
    this.config = Objects.requireNonNull(config, "config");
  }

  /** Builds the driver from the {@code namespaces:} section of the NodeManager config. */
  public static NamespacesDriver fromConfig(Map<String, ?> section) {
    return new NamespacesDriver(NamespacesDriverConfig.fromMap(section));
  }

  public NamespacesDriverConfig config() {
    return config;
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Capabilities capabilities() {
    return new Capabilities(true, true, true);
  }

  // ---------------------------------------------------------------------------------------------
  // checkHost

  @Override
  public List<String> checkHost() {
    List<String> problems = new ArrayList<>();
    if (!HostCommand.isRoot()) {
      problems.add("the namespaces driver must run as root (it creates namespaces, links and"
          + " mounts); start the NodeManager through sudo");
    }
    if (!overlayAvailable()) {
      problems.add("the kernel offers no overlayfs (no 'overlay' in /proc/filesystems); try"
          + " 'modprobe overlay'");
    }
    if (!Files.isDirectory(Path.of("/proc/self/ns")) || !Files.exists(Path.of("/proc/self/ns/net"))
        || !Files.exists(Path.of("/proc/self/ns/pid"))) {
      problems.add("the kernel lacks network/PID namespaces (/proc/self/ns)");
    }
    if (!Files.isExecutable(Path.of(config.sshdPath()))) {
      problems.add("no OpenSSH server at " + config.sshdPath()
          + " (install openssh-server or set namespaces.sshd)");
    }
    if (!Files.isExecutable(Path.of(config.sshKeygenPath()))) {
      problems.add("no ssh-keygen at " + config.sshKeygenPath()
          + " (install openssh-client or set namespaces.ssh_keygen)");
    }
    for (String[] tool : new String[][] {
        {"ip", "iproute2"}, {"unshare", "util-linux"}, {"nsenter", "util-linux"},
        {"setpriv", "util-linux"}, {"mount", "mount"}, {"chroot", "coreutils"},
        {"hostname", "hostname"}, {"getent", "libc-bin"}, {"bash", "bash"}}) {
      if (!Commands.executableExists(tool[0])) {
        problems.add("no '" + tool[0] + "' command in " + HostTools.path(HostTools.SYSTEM_DIRS)
            + " (package " + tool[1] + ")");
      }
    }
    if (config.attachment() == NamespacesDriverConfig.Attachment.BRIDGE) {
      Path br = Path.of("/sys/class/net", config.bridge());
      if (!Files.exists(br)) {
        problems.add("bridge '" + config.bridge() + "' (namespaces.bridge) does not exist");
      } else if (!Files.isDirectory(br.resolve("bridge"))) {
        problems.add("interface '" + config.bridge() + "' (namespaces.bridge) is not a bridge");
      }
    } else if (!Files.exists(Path.of("/sys/class/net", config.parent()))) {
      problems.add("parent interface '" + config.parent() + "' (namespaces.parent) does not exist");
    }
    Path existing = config.stateDir();
    while (existing != null && !Files.exists(existing)) {
      existing = existing.getParent();
    }
    if (existing == null || !Files.isDirectory(existing) || !Files.isWritable(existing)) {
      problems.add("state directory " + config.stateDir() + " (namespaces.state_dir) cannot be"
          + " created or written");
    }
    return problems;
  }

  private static boolean overlayAvailable() {
    try {
      return Files.readAllLines(Path.of("/proc/filesystems")).stream()
          .anyMatch(l -> l.trim().endsWith("overlay"));
    } catch (IOException e) {
      return false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // build

  /** A user as the guest needs it. */
  record UserInfo(String name, int uid, int gid, Path home, String shell) {}

  static UserInfo lookupUser(String user) throws GuestException {
    if (user == null || !USER.matcher(user).matches()) {
      throw new GuestException("user '" + user + "' is not a valid login name");
    }
    HostCommand.Result r = Commands.attempt(Commands.tool("getent"), "passwd", user);
    if (!r.ok() || r.stdout().isBlank()) {
      throw new GuestException("user '" + user + "' does not exist on this node (getent passwd)");
    }
    String[] f = r.stdout().strip().split("\n")[0].split(":", -1);
    if (f.length < 7) {
      throw new GuestException("getent passwd " + user + ": unexpected line '" + r.stdout() + "'");
    }
    int uid = Integer.parseInt(f[2]);
    int gid = Integer.parseInt(f[3]);
    if (uid == 0) {
      throw new GuestException("user '" + user + "' has uid 0; jobs never run as root");
    }
    return new UserInfo(user, uid, gid, Path.of(f[5]), f[6]);
  }

  /**
   * sshd with {@code UsePAM no} refuses accounts whose password field starts with '!' as locked
   * (brief, section 4), so ssh between guests would fail late and obscurely. Say it now.
   */
  static void checkNotLocked(String user) throws GuestException {
    Path shadow = Path.of("/etc/shadow");
    if (!Files.isReadable(shadow)) {
      return;
    }
    try {
      for (String line : Files.readAllLines(shadow, StandardCharsets.UTF_8)) {
        String[] f = line.split(":", -1);
        if (f.length > 1 && f[0].equals(user) && f[1].startsWith("!")) {
          throw new GuestException("user '" + user + "' has a locked password field ('!...') in"
              + " /etc/shadow; the guest's sshd (UsePAM no) refuses locked accounts, so ssh"
              + " between guests would fail. Give the account a usable, password-less field,"
              + " e.g. 'usermod -p '*' " + user + "'");
        }
      }
    } catch (IOException e) {
      // Unreadable shadow: nothing to check.
    }
  }

  private static final java.util.regex.Pattern IFNAME =
      java.util.regex.Pattern.compile("[A-Za-z0-9_.-]{1,15}");

  /**
   * The bridge the guest's veth joins: the reservation's from SETUP, else namespaces.bridge.
   * A bridge given in SETUP must exist and be a bridge; the driver never creates one.
   */
  private String bridgeFor(GuestSpec spec) throws GuestException {
    if (spec.bridge().isEmpty()) {
      return config.bridge();
    }
    Path br = Path.of("/sys/class/net", spec.bridge());
    if (!Files.exists(br)) {
      throw new GuestException("bridge '" + spec.bridge() + "' (the reservation's, from SETUP)"
          + " does not exist on this host");
    }
    if (!Files.isDirectory(br.resolve("bridge"))) {
      throw new GuestException("interface '" + spec.bridge() + "' (the reservation's, from"
          + " SETUP) is not a bridge");
    }
    return spec.bridge();
  }

  static void validate(GuestSpec spec) throws GuestException {
    List<String> errors = new ArrayList<>();
    if (spec.hostname() == null || spec.hostname().length() > 63
        || !HOSTNAME.matcher(spec.hostname()).matches()) {
      errors.add("hostname '" + spec.hostname() + "' is not a valid host name (at most 63"
          + " characters)");
    }
    if (spec.address() == null || !IPV4.matcher(spec.address()).matches()) {
      errors.add("address '" + spec.address() + "' is not an IPv4 address");
    }
    if (spec.prefixLength() < 1 || spec.prefixLength() > 32) {
      errors.add("prefix length " + spec.prefixLength() + " is not in 1..32");
    }
    for (String route : spec.routes()) {
      String[] parts = route.split("/", -1);
      boolean ok = parts.length == 2 && IPV4.matcher(parts[0]).matches()
          && parts[1].matches("\\d{1,2}") && Integer.parseInt(parts[1]) <= 32;
      if (!ok) {
        errors.add("route '" + route + "' is not an IPv4 CIDR block");
      }
    }
    if (!spec.bridge().isEmpty() && !IFNAME.matcher(spec.bridge()).matches()) {
      errors.add("bridge '" + spec.bridge() + "' is not an interface name (1-15 of A-Z a-z 0-9"
          + " _ . -)");
    }
    if (!errors.isEmpty()) {
      throw new GuestException("invalid guest spec: " + String.join("; ", errors));
    }
  }

  @Override
  public GuestHandle build(GuestSpec spec) throws GuestException {
    validate(spec);
    // Refuse a bridge we cannot use before anything is built.
    if (config.attachment() != NamespacesDriverConfig.Attachment.BRIDGE
        && !spec.bridge().isEmpty()) {
      throw new GuestException("this node attaches guests by macvlan (namespaces.attachment);"
          + " it cannot attach to the reservation's bridge '" + spec.bridge() + "'");
    }
    if (config.attachment() == NamespacesDriverConfig.Attachment.BRIDGE) {
      bridgeFor(spec);
    }
    UserInfo user = lookupUser(spec.user());
    checkNotLocked(spec.user());
    if (!Files.isDirectory(user.home())) {
      throw new GuestException("home directory " + user.home() + " of user '" + user.name()
          + "' does not exist; the guest shares it with the host");
    }
    GuestRecord rec = newRecord(spec);
    try {
      buildSteps(rec, spec, user);
    } catch (GuestException | IOException | RuntimeException e) {
      String why = e instanceof GuestException ? e.getMessage() : e.toString();
      List<String> left = destroyRecorded(rec);
      throw new GuestException("building guest " + rec.id() + " (" + spec.hostname() + ") failed: "
          + why + (left.isEmpty() ? "; undone" : "; could not undo: " + left
              + " (recorded in " + rec.dir() + ", destroy will retry)"), e);
    }
    log.info("built guest {} ({} {}/{}) in netns {}", rec.id(), spec.hostname(), spec.address(),
        spec.prefixLength(), netns(rec.id()));
    return rec.handle();
  }

  private GuestRecord newRecord(GuestSpec spec) throws GuestException {
    try {
      Path base = config.stateDir();
      if (HostCommand.isRoot()) {
        SecurePaths.createRootOnlyDirectory(base, "namespaces.state_dir");
      } else {
        Files.createDirectories(base);
      }
      Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx------"));
      for (int attempt = 0; attempt < 100; attempt++) {
        String id = HexFormat.of().formatHex(random.generateSeed(4));
        Path dir = base.resolve(id);
        if (Files.exists(dir) || Files.exists(Path.of("/run/netns", netns(id)))) {
          continue;
        }
        try {
          Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(
              PosixFilePermissions.fromString("rwx------")));
        } catch (java.nio.file.FileAlreadyExistsException e) {
          continue;
        }
        IN_USE.put(id, this);
        GuestRecord rec = GuestRecord.create(dir, id, spec,
            config.attachment().name().toLowerCase(java.util.Locale.ROOT));
        rec.save();
        return rec;
      }
      throw new GuestException("could not find a free guest id under " + base);
    } catch (org.lambdagrid.common.ConfigException e) {
      throw new GuestException(e.getMessage(), e);
    } catch (IOException e) {
      throw new GuestException("cannot create the guest's state directory under "
          + config.stateDir() + ": " + e.getMessage(), e);
    }
  }

  static String netns(String id) {
    return "lg-" + id;
  }

  private void buildSteps(GuestRecord rec, GuestSpec spec, UserInfo user)
      throws GuestException, IOException {
    Path dir = rec.dir();
    String id = rec.id();

    // 1. Files: overlay dirs, private ssh dir, guest /etc/lambdagrid, init script. Undo: the
    //    state directory is removed last by destroy.
    for (String d : List.of("upper", "work", "root")) {
      Files.createDirectory(dir.resolve(d));
    }
    Path ssh = dir.resolve("ssh");
    Path etc = dir.resolve("etc");
    Files.createDirectory(ssh);
    Files.createDirectory(etc);
    Files.setPosixFilePermissions(etc, PosixFilePermissions.fromString("rwxr-xr-x"));
    try (InputStream in = NamespacesDriver.class.getResourceAsStream(INIT_SCRIPT)) {
      if (in == null) {
        throw new GuestException("resource " + INIT_SCRIPT + " missing from the NodeManager jar");
      }
      Files.copy(in, dir.resolve(INIT_SCRIPT));
    }

    // 2. Fresh keys: host key (root-only, read by the guest's sshd) and the user's key.
    String keygen = config.sshKeygenPath();
    Commands.run(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "root@" + spec.hostname(),
        "-f", etc.resolve("ssh_host_ed25519_key").toString());
    Commands.run(keygen, "-q", "-t", "ed25519", "-N", "", "-C", user.name() + "@"
        + spec.hostname(), "-f", ssh.resolve("id_ed25519").toString());
    writeAtomically(etc.resolve("sshd_config"), sshdConfig(spec), "rw-r--r--", 0, 0);
    writeInPlace(etc.resolve("hosts"), hostsFile(spec, ""));
    writeAtomically(ssh.resolve("config"), sshClientConfig(user), "rw-------", user.uid(),
        user.gid());
    for (String f : List.of("id_ed25519", "id_ed25519.pub")) {
      setOwner(ssh.resolve(f), user.uid(), user.gid());
    }
    Files.setPosixFilePermissions(ssh, PosixFilePermissions.fromString("rwx------"));
    setOwner(ssh, user.uid(), user.gid());

    // The private ~/.ssh is mounted over the user's ~/.ssh, which must exist as a mount point.
    ensureSshMountPoint(user);

    // 3. Network namespace and the one interface, one `ip -batch` on the host side. Undo: ip netns
    //    del, ip link del of the host-side name (the guest side goes with the namespace). Both
    //    names are recorded first, so a failed or interrupted batch is undone like a finished one.
    String ns = netns(id);
    rec.set("netns", ns);
    List<String> host = new ArrayList<>(List.of("netns add " + ns));
    List<String> inside = new ArrayList<>(List.of("link set lo up"));
    if (config.attachment() == NamespacesDriverConfig.Attachment.BRIDGE) {
      String hostLink = "lgv" + id;
      rec.set("hostLink", hostLink);
      host.add("link add " + hostLink + " type veth peer name eth0 netns " + ns);
      host.add("link set " + hostLink + " master " + bridgeFor(spec) + " up");
    } else {
      String tmpLink = "lgm" + id;
      rec.set("hostLink", tmpLink);
      host.add("link add " + tmpLink + " link " + config.parent() + " type macvlan mode "
          + config.macvlanMode());
      host.add("link set " + tmpLink + " netns " + ns);
      inside.add("link set " + tmpLink + " name eth0");
    }
    rec.save();
    ipBatch(dir.resolve("net-host.batch"), host, List.of());

    // 4. Address, on-link routes, optional default route: one `ip -n NS -batch`.
    inside.add("addr add " + spec.address() + "/" + spec.prefixLength() + " dev eth0");
    inside.add("link set eth0 up");
    for (String route : spec.routes()) {
      inside.add("route replace " + route + " dev eth0");
    }
    if (config.defaultGateway() != null) {
      inside.add("route add default via " + config.defaultGateway() + " dev eth0");
    }
    ipBatch(dir.resolve("net-guest.batch"), inside, List.of("-n", ns));

    // 5. The holder: mount/UTS/IPC/PID namespaces and the guest's file system (guest-init.sh).
    //    Undo: kill it (pid 1 of the guest; its death ends every process and mount of the guest).
    startHolder(rec, spec, user);
  }

  /**
   * Makes sure the user's {@code ~/.ssh} is a mount point the guest's private ssh directory can
   * go over: a real directory (not a symbolic link), owned by the user. A missing one is created
   * by the user (mkdir run as the user: atomic, the user's own from the start, and only where the
   * user may create it), so several guests of one user built at once all succeed; what is there
   * after "already exists" is checked, never assumed. guest-init.sh checks it again when it
   * mounts, on the directory it has pinned.
   */
  static void ensureSshMountPoint(UserInfo user) throws GuestException, IOException {
    Path ssh = user.home().resolve(".ssh");
    if (!Files.exists(ssh, LinkOption.NOFOLLOW_LINKS)) {
      HostCommand.Result r = Commands.attempt(Commands.DEFAULT_TIMEOUT, asUser(user,
          Commands.tool("mkdir"), "-m", "0700", "--", ssh.toString()));
      if (!r.ok() && !Files.exists(ssh, LinkOption.NOFOLLOW_LINKS)) {
        throw new GuestException("cannot create " + ssh + " as user '" + user.name() + "' (the"
            + " guest's private ~/.ssh is mounted over it): " + r.describe());
      }
    }
    String problem = sshMountPointProblem(ssh, user.uid());
    if (problem != null) {
      throw new GuestException(problem);
    }
  }

  /** Why {@code ssh} cannot be the mount point of the private ~/.ssh, or null if it can. */
  static String sshMountPointProblem(Path ssh, int uid) throws IOException {
    SecurePaths.Stat a;
    try {
      a = SecurePaths.Stat.of(ssh);
    } catch (java.nio.file.NoSuchFileException e) {
      return ssh + " vanished while the guest was being built; the guest's private ~/.ssh is"
          + " mounted over it";
    }
    String what = a.isSymbolicLink() ? "a symbolic link" : a.isDirectory() ? null
        : a.isRegularFile() ? "a regular file" : "not a directory";
    if (what != null) {
      return ssh + " is " + what + "; the guest's private ~/.ssh is mounted over it, so it must"
          + " be a real directory owned by the user (move it away, or replace the link by the"
          + " directory it points to)";
    }
    if (a.uid() != uid) {
      return ssh + " is owned by uid " + a.uid() + ", not by the job's user (uid " + uid + ");"
          + " the guest's private ~/.ssh is mounted over it";
    }
    return null;
  }

  /** argv run as {@code user}: setpriv to its uid, gid and groups, no capabilities. */
  static List<String> asUser(UserInfo user, String... argv) {
    List<String> cmd = new ArrayList<>(List.of(Commands.tool("setpriv"),
        "--reuid=" + user.uid(), "--regid=" + user.gid(), "--init-groups", "--inh-caps=-all",
        "--bounding-set=-all", "--no-new-privs", "--"));
    cmd.addAll(List.of(argv));
    return cmd;
  }

  private void startHolder(GuestRecord rec, GuestSpec spec, UserInfo user)
      throws GuestException, IOException {
    Path dir = rec.dir();
    List<String> argv = new ArrayList<>(List.of(Commands.tool("ip"), "netns", "exec",
        netns(rec.id()), Commands.tool("unshare"), "--mount", "--uts", "--ipc", "--pid", "--fork",
        "--kill-child", "--propagation", "private", "/bin/sh", dir.resolve(INIT_SCRIPT).toString(),
        dir.toString(), spec.hostname(), user.home().toString(), Integer.toString(user.uid())));
    argv.addAll(config.sharedPaths());
    Path holderLog = dir.resolve("holder.log");
    Process holder = new ProcessBuilder(argv)
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(holderLog.toFile()))
        .start();
    // ip netns exec execs unshare, so this pid is unshare's; record it before anything else.
    GuestRecord.Proc unshare = procOf(holder.pid());
    rec.setProc("holder", unshare != null ? unshare : new GuestRecord.Proc(holder.pid(), "?"));
    rec.save();
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    Path ready = dir.resolve("ready");
    while (!Files.exists(ready)) {
      if (!holder.isAlive()) {
        throw new GuestException("the guest's file system could not be set up: '"
            + String.join(" ", argv) + "' exited with " + holder.exitValue() + ": "
            + tail(holderLog));
      }
      if (System.nanoTime() > deadline) {
        throw new GuestException("the guest's file system was not ready within 15 s: "
            + tail(holderLog));
      }
      sleep(5);
    }
    GuestRecord.Proc init = null;
    while (init == null) {
      Optional<ProcessHandle> child = holder.toHandle().children().findFirst();
      if (child.isPresent()) {
        init = procOf(child.get().pid());
      }
      if (init == null) {
        if (!holder.isAlive() || System.nanoTime() > deadline) {
          throw new GuestException("the guest's init process vanished: " + tail(holderLog));
        }
        sleep(5);
      }
    }
    rec.setProc("init", init);
    rec.save();
  }

  // ---------------------------------------------------------------------------------------------
  // keys and trust

  @Override
  public GuestKeys publicKeys(GuestHandle guest) throws GuestException {
    try {
      return new GuestKeys(
          Files.readString(guest.stateDir().resolve("etc/ssh_host_ed25519_key.pub")).strip(),
          Files.readString(guest.stateDir().resolve("ssh/id_ed25519.pub")).strip());
    } catch (IOException e) {
      throw new GuestException("guest " + guest.id() + " has no keys (was it built?): "
          + e.getMessage(), e);
    }
  }

  @Override
  public void installTrust(GuestHandle guest, GuestTrust trust) throws GuestException {
    UserInfo user = lookupUser(guest.spec().user());
    Path ssh = guest.stateDir().resolve("ssh");
    if (!Files.isDirectory(ssh, LinkOption.NOFOLLOW_LINKS)) {
      throw new GuestException("guest " + guest.id() + " has no private ssh directory " + ssh
          + " (was it built?)");
    }
    try {
      writeAtomically(ssh.resolve(HOSTFILE_NAME), withNewline(trust.hostfile()), "rw-r--r--",
          user.uid(), user.gid());
      writeAtomically(ssh.resolve("known_hosts"), withNewline(trust.knownHosts()), "rw-r--r--",
          user.uid(), user.gid());
      writeAtomically(ssh.resolve("authorized_keys"), withNewline(trust.authorizedKeys()),
          "rw-------", user.uid(), user.gid());
      writeInPlace(guest.stateDir().resolve("etc/hosts"),
          hostsFile(guest.spec(), withNewline(trust.hosts())));
      // EXEC reads the host list from this root-owned copy: the ssh directory is the user's.
      writeInPlace(guest.stateDir().resolve("etc").resolve(HOSTFILE_NAME),
          withNewline(trust.hostfile()));
    } catch (IOException e) {
      throw new GuestException("cannot write the trust files of guest " + guest.id() + ": "
          + e.getMessage(), e);
    }
  }

  private static String withNewline(String s) {
    if (s == null || s.isEmpty()) {
      return "";
    }
    return s.endsWith("\n") ? s : s + "\n";
  }

  static String hostsFile(GuestSpec spec, String entries) {
    StringBuilder b = new StringBuilder("# lambdagrid guest ").append(spec.hostname())
        .append("\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    boolean selfListed = entries.lines().map(l -> l.trim().split("\\s+"))
        .anyMatch(f -> f.length > 1 && f[0].equals(spec.address()));
    if (!selfListed) {
      b.append(spec.address()).append('\t').append(spec.hostname()).append('\n');
    }
    return b.append(entries).toString();
  }

  String sshdConfig(GuestSpec spec) {
    return String.join("\n",
        "# Written by the lambdagrid namespaces driver; read-only inside the guest.",
        "ListenAddress " + spec.address() + ":22",
        "AddressFamily inet",
        "HostKey " + GUEST_ETC + "/ssh_host_ed25519_key",
        "PidFile none",
        "UsePAM no",
        "StrictModes yes",
        "PermitRootLogin no",
        "AllowUsers " + spec.user(),
        "PubkeyAuthentication yes",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "PermitUserEnvironment no",
        "X11Forwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "MaxStartups 100:30:200",
        "MaxSessions 100",
        "SetEnv PATH=" + config.guestPath() + " LAMBDAGRID_HOSTFILE=" + hostfileInGuest(spec),
        "") ;
  }

  static String sshClientConfig(UserInfo user) {
    String dir = user.home().resolve(".ssh").toString();
    return String.join("\n",
        "# Written by the lambdagrid namespaces driver: the job's keys and known hosts only.",
        "Host *",
        "  StrictHostKeyChecking yes",
        "  UserKnownHostsFile " + dir + "/known_hosts",
        "  GlobalKnownHostsFile /dev/null",
        "  IdentityFile " + dir + "/id_ed25519",
        "  IdentitiesOnly yes",
        "  BatchMode yes",
        "  CheckHostIP no",
        "  UpdateHostKeys no",
        "  HashKnownHosts no",
        "  LogLevel ERROR",
        "");
  }

  static String hostfileInGuest(GuestSpec spec) {
    try {
      return lookupUser(spec.user()).home().resolve(".ssh").resolve(HOSTFILE_NAME).toString();
    } catch (GuestException e) {
      return "~/.ssh/" + HOSTFILE_NAME;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // start

  @Override
  public void start(GuestHandle guest) throws GuestException {
    GuestRecord rec = load(guest);
    GuestRecord.Proc init = rec.proc("init");
    if (init == null || !init.alive()) {
      throw new GuestException("guest " + guest.id() + " is not built (no init process)");
    }
    GuestRecord.Proc sshd = rec.proc("sshd");
    Path sshdLog = guest.stateDir().resolve("sshd.log");
    if (sshd == null || !sshd.alive()) {
      List<String> argv = List.of(Commands.tool("nsenter"), "--target", Long.toString(init.pid()),
          "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd", config.sshdPath(),
          "-D", "-e", "-f", GUEST_ETC + "/sshd_config");
      Process launcher;
      try {
        launcher = new ProcessBuilder(argv)
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(sshdLog.toFile()))
            .start();
      } catch (IOException e) {
        throw new GuestException("cannot start '" + String.join(" ", argv) + "': "
            + e.getMessage(), e);
      }
      sshdLaunchers.put(guest.id(), launcher);
      long deadline = System.nanoTime() + config.startTimeout().toNanos();
      sshd = null;
      while (sshd == null) {
        Optional<ProcessHandle> child = launcher.toHandle().children().findFirst();
        if (child.isPresent()) {
          sshd = procOf(child.get().pid());
        }
        if (sshd == null) {
          if (!launcher.isAlive()) {
            throw new GuestException("sshd of guest " + guest.id() + " exited at once ("
                + launcher.exitValue() + "): " + tail(sshdLog));
          }
          if (System.nanoTime() > deadline) {
            throw new GuestException("sshd of guest " + guest.id() + " did not start");
          }
          sleep(5);
        }
      }
      rec.setProc("sshd", sshd);
      save(rec);
    }
    // Ready means: a socket listens on port 22 in the guest's network namespace, so the kernel
    // completes connections to it. Read from /proc/SSHD/net/tcp (that namespace's table): no
    // process per probe, which matters when dozens of guests start at once on a few cores.
    long deadline = System.nanoTime() + config.startTimeout().toNanos();
    while (!listensOnPort22(sshd.pid())) {
      if (!sshd.alive()) {
        throw new GuestException("sshd of guest " + guest.id() + " exited: " + tail(sshdLog));
      }
      if (System.nanoTime() > deadline) {
        throw new GuestException("sshd of guest " + guest.id() + " does not listen on "
            + guest.spec().address() + ":22 after " + config.startTimeout().toSeconds()
            + " s; sshd log: " + tail(sshdLog));
      }
      sleep(10);
    }
    log.info("guest {} sshd listening on {}:22", guest.id(), guest.spec().address());
  }

  // ---------------------------------------------------------------------------------------------
  // exec

  @Override
  public RunningCommand exec(GuestHandle guest, ExecRequest request, OutputSink sink)
      throws GuestException {
    Objects.requireNonNull(sink, "sink");
    if (request.argv().isEmpty()) {
      throw new GuestException("EXEC needs a command (argv is empty)");
    }
    if (!Objects.equals(request.user(), guest.spec().user())) {
      throw new GuestException("EXEC as '" + request.user() + "' but guest " + guest.id()
          + " was built for '" + guest.spec().user() + "'");
    }
    if (request.workingDirectory() == null || !request.workingDirectory().startsWith("/")) {
      throw new GuestException("working directory '" + request.workingDirectory()
          + "' is not an absolute path");
    }
    for (String key : request.env().keySet()) {
      if (!ENV_KEY.matcher(key).matches()) {
        throw new GuestException("environment variable name '" + key + "' is not valid");
      }
    }
    UserInfo user = lookupUser(request.user());
    GuestRecord rec = load(guest);
    GuestRecord.Proc init = rec.proc("init");
    if (init == null || !init.alive()) {
      throw new GuestException("guest " + guest.id() + " is not built (no init process)");
    }
    List<String> argv = execArgv(init.pid(), user, guest, request);
    Process p;
    try {
      p = new ProcessBuilder(argv)
          .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
          .start();
    } catch (IOException e) {
      throw new GuestException("cannot start the job: " + e.getMessage(), e);
    }
    log.info("guest {} exec as {}: {}", guest.id(), user.name(), request.argv());
    return new NamespacesRunningCommand(p, sink, config.killGrace());
  }

  /**
   * The command line that enters the guest and drops to the user: nsenter (all of the guest's
   * namespaces and its root), setpriv (uid, gid, supplementary groups, no capabilities in any
   * set, no_new_privs), env -i (a clean environment), sh (cd to the working directory as the
   * user, then exec the command, found on the guest PATH).
   */
  List<String> execArgv(long initPid, UserInfo user, GuestHandle guest, ExecRequest request) {
    String hostfileText = readOrEmpty(guest.stateDir().resolve("etc").resolve(HOSTFILE_NAME));
    String hostsText = readOrEmpty(guest.stateDir().resolve("etc/hosts"));
    // Absolute paths, resolved on the host: the guest's root is the host's / (overlay), so the
    // same file runs inside it; no PATH lookup (root's or the job's) decides what root runs.
    List<String> argv = new ArrayList<>(List.of(Commands.tool("nsenter"), "--target",
        Long.toString(initPid), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd"));
    argv.addAll(asUser(user, Commands.tool("env"), "-i"));
    Map<String, String> env = new LinkedHashMap<>();
    env.put("HOME", user.home().toString());
    env.put("USER", user.name());
    env.put("LOGNAME", user.name());
    env.put("SHELL", user.shell().isEmpty() ? "/bin/sh" : user.shell());
    env.put("PATH", config.guestPath());
    env.put("LANG", "C.UTF-8");
    env.putAll(request.env());
    env.put("LAMBDAGRID_HOSTFILE", user.home().resolve(".ssh").resolve(HOSTFILE_NAME).toString());
    env.put("LAMBDAGRID_NODES", new GuestTrust(hostfileText, "", "", hostsText).nodeNames());
    env.forEach((k, v) -> argv.add(k + "=" + v));
    argv.addAll(List.of("/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\"",
        request.workingDirectory()));
    argv.addAll(request.argv());
    return argv;
  }

  private static String readOrEmpty(Path p) {
    try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  /** The EXEC'd job: the nsenter process on the host, whose descendants are the job. */
  static final class NamespacesRunningCommand implements RunningCommand {
    /** How long an exit waits for output still in the pipes. */
    static final Duration OUTPUT_GRACE = Duration.ofSeconds(2);
    private final Process process;
    private final Duration grace;
    private final Thread out;
    private final Thread err;

    NamespacesRunningCommand(Process process, OutputSink sink, Duration grace) {
      this.process = process;
      this.grace = grace;
      this.out = pump(process.getInputStream(), sink, false);
      this.err = pump(process.getErrorStream(), sink, true);
    }

    private static Thread pump(InputStream in, OutputSink sink, boolean stderr) {
      Thread t = new Thread(() -> {
        byte[] buf = new byte[8192];
        try (in) {
          int n;
          while ((n = in.read(buf)) > 0) {
            sink.output(stderr, java.util.Arrays.copyOf(buf, n));
          }
        } catch (IOException e) {
          // The pipe closed: the job is gone.
        } catch (RuntimeException e) {
          log.warn("output sink failed", e);
        }
      }, stderr ? "lg-job-stderr" : "lg-job-stdout");
      t.setDaemon(true);
      t.start();
      return t;
    }

    @Override
    public OptionalInt waitFor(Duration timeout) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
        return OptionalInt.empty();
      }
      // Output may trail the exit briefly. A process the job left behind may hold the pipes
      // open for ever; it must not hold the exit code back, so after OUTPUT_GRACE the exit is
      // reported and the pumps keep delivering whatever comes later.
      long ms = Math.min(OUTPUT_GRACE.toMillis(),
          Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
      long until = System.currentTimeMillis() + ms;
      out.join(ms);
      err.join(Math.max(1, until - System.currentTimeMillis()));
      return OptionalInt.of(process.exitValue());
    }

    @Override
    public void kill() {
      List<ProcessHandle> all = process.descendants().toList();
      all.forEach(ProcessHandle::destroy);
      long deadline = System.nanoTime() + grace.toNanos();
      while (System.nanoTime() < deadline && all.stream().anyMatch(ProcessHandle::isAlive)) {
        sleep(20);
      }
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      all.forEach(ProcessHandle::destroyForcibly);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // stop, destroy, inspect, recover

  @Override
  public void stop(GuestHandle guest) {
    GuestRecord rec;
    try {
      rec = load(guest);
    } catch (GuestException e) {
      return;
    }
    GuestRecord.Proc init = rec.proc("init");
    if (init == null || !init.alive()) {
      return;
    }
    List<ProcessHandle> inside = guestProcesses(init);
    inside.forEach(ProcessHandle::destroy);
    long deadline = System.nanoTime() + config.killGrace().toNanos();
    while (System.nanoTime() < deadline && inside.stream().anyMatch(ProcessHandle::isAlive)) {
      sleep(20);
    }
    guestProcesses(init).forEach(ProcessHandle::destroyForcibly);
    Process launcher = sshdLaunchers.remove(guest.id());
    if (launcher != null) {
      try {
        launcher.waitFor(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    log.info("guest {} stopped", guest.id());
  }

  /** Processes of the guest's PID namespace other than its init, as seen from the host. */
  static List<ProcessHandle> guestProcesses(GuestRecord.Proc init) {
    Path initNs;
    try {
      initNs = Files.readSymbolicLink(Path.of("/proc", Long.toString(init.pid()), "ns/pid"));
    } catch (IOException e) {
      return List.of();
    }
    List<ProcessHandle> found = new ArrayList<>();
    try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : procs) {
        long pid = Long.parseLong(p.getFileName().toString());
        if (pid == init.pid()) {
          continue;
        }
        try {
          if (Files.readSymbolicLink(p.resolve("ns/pid")).equals(initNs)) {
            ProcessHandle.of(pid).ifPresent(found::add);
          }
        } catch (IOException e) {
          // Gone meanwhile.
        }
      }
    } catch (IOException e) {
      return found;
    }
    return found;
  }

  @Override
  public List<String> destroy(GuestHandle guest) {
    sshdLaunchers.remove(guest.id());
    IN_USE.remove(guest.id());
    GuestRecord rec;
    try {
      if (!Files.exists(guest.stateDir().resolve(GuestRecord.FILE))) {
        if (Files.exists(guest.stateDir())) {
          return removeStateDir(guest.stateDir());
        }
        return List.of();
      }
      rec = GuestRecord.load(guest.stateDir());
    } catch (IOException e) {
      return List.of("cannot read " + guest.stateDir().resolve(GuestRecord.FILE) + ": "
          + e.getMessage());
    }
    List<String> left = destroyRecorded(rec);
    if (left.isEmpty()) {
      log.info("guest {} destroyed", guest.id());
    } else {
      log.warn("guest {} destroy left {}", guest.id(), left);
    }
    return left;
  }

  /** Undoes every recorded step, last first; each undo succeeds when its object is gone. */
  List<String> destroyRecorded(GuestRecord rec) {
    List<String> problems = new ArrayList<>();
    // 5. Processes: init (pid 1 of the guest; the kernel then kills every process in the guest
    //    and its mounts go with its mount namespace), the holder, anything left in the netns.
    //    The holder (unshare) reaps init and then exits by itself; it is killed only if it
    //    does not, since a process it no longer reaps would wait for the host's init.
    List<ProcessHandle> victims = new ArrayList<>();
    GuestRecord.Proc init = rec.proc("init");
    if (init != null && init.alive()) {
      victims.addAll(guestProcesses(init));
      ProcessHandle.of(init.pid()).ifPresent(victims::add);
    }
    killAndWait(victims, Duration.ofSeconds(10));
    for (String key : List.of("holder", "sshd")) {
      GuestRecord.Proc p = rec.proc(key);
      if (p != null && p.alive()) {
        ProcessHandle.of(p.pid()).ifPresent(h -> {
          waitGone(List.of(h), Duration.ofSeconds(2));
          victims.add(h);
        });
      }
    }
    String ns = rec.get("netns");
    if (ns != null && Files.exists(Path.of("/run/netns", ns))) {
      HostCommand.Result pids = Commands.attempt(Commands.tool("ip"), "netns", "pids", ns);
      pids.stdout().lines().map(String::trim).filter(s -> s.matches("\\d+"))
          .forEach(s -> ProcessHandle.of(Long.parseLong(s)).ifPresent(victims::add));
    }
    killAndWait(victims, Duration.ofSeconds(10));
    victims.stream().filter(NamespacesDriver::running)
        .forEach(p -> problems.add("process " + p.pid() + " survived SIGKILL"));

    // 3. The host-side interface (veth host end, or a macvlan not yet moved into the netns).
    String link = rec.get("hostLink");
    if (link != null && Files.exists(Path.of("/sys/class/net", link))) {
      HostCommand.Result r = Commands.attempt(Commands.tool("ip"), "link", "del", link);
      if (!r.ok() && Files.exists(Path.of("/sys/class/net", link))) {
        problems.add("interface " + link + ": " + r.describe());
      }
    }
    // 3. The network namespace.
    if (ns != null && Files.exists(Path.of("/run/netns", ns))) {
      HostCommand.Result r = Commands.attempt(Commands.tool("ip"), "netns", "del", ns);
      if (!r.ok() && Files.exists(Path.of("/run/netns", ns))) {
        problems.add("network namespace " + ns + ": " + r.describe());
      }
    }
    // 1-2. Files, including the overlay's upper layer. Never while something is mounted there.
    if (problems.isEmpty()) {
      problems.addAll(removeStateDir(rec.dir()));
    }
    return problems;
  }

  private static List<String> removeStateDir(Path dir) {
    List<String> mounted = mountsUnder(dir);
    if (!mounted.isEmpty()) {
      return List.of("state directory " + dir + " still has mounts " + mounted
          + "; not removed");
    }
    try {
      deleteTree(dir);
      return List.of();
    } catch (IOException e) {
      return List.of("state directory " + dir + ": " + e);
    }
  }

  static List<String> mountsUnder(Path dir) {
    String prefix = dir.toString();
    try {
      return Files.readAllLines(Path.of("/proc/self/mounts")).stream()
          .map(l -> l.split(" ")).filter(f -> f.length > 1)
          .map(f -> f[1].replace("\\040", " "))
          .filter(m -> m.equals(prefix) || m.startsWith(prefix + "/"))
          .toList();
    } catch (IOException e) {
      return List.of("(cannot read /proc/self/mounts: " + e.getMessage() + ")");
    }
  }

  /** Deletes a tree without following symbolic links or crossing into other file systems. */
  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Files.walkFileTree(dir, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.deleteIfExists(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
        if (exc != null && !(exc instanceof NoSuchFileException)) {
          throw exc;
        }
        Files.deleteIfExists(d);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException exc) throws IOException {
        if (exc instanceof NoSuchFileException) {
          return FileVisitResult.CONTINUE;
        }
        throw exc;
      }
    });
  }

  @Override
  public GuestStatus inspect(GuestHandle guest) {
    List<String> left = new ArrayList<>();
    boolean built = false;
    boolean sshdRunning = false;
    if (Files.exists(guest.stateDir().resolve(GuestRecord.FILE))) {
      try {
        GuestRecord rec = GuestRecord.load(guest.stateDir());
        for (String key : List.of("init", "holder", "sshd")) {
          GuestRecord.Proc p = rec.proc(key);
          if (p != null && p.alive()) {
            left.add(key + " process " + p.pid());
          }
        }
        GuestRecord.Proc init = rec.proc("init");
        GuestRecord.Proc sshd = rec.proc("sshd");
        String ns = rec.get("netns");
        boolean nsExists = ns != null && Files.exists(Path.of("/run/netns", ns));
        if (nsExists) {
          left.add("network namespace " + ns);
        }
        String link = rec.get("hostLink");
        if (link != null && Files.exists(Path.of("/sys/class/net", link))) {
          left.add("interface " + link);
        }
        built = nsExists && init != null && init.alive();
        sshdRunning = sshd != null && sshd.alive();
      } catch (IOException e) {
        left.add("unreadable record " + guest.stateDir().resolve(GuestRecord.FILE));
      }
    }
    if (Files.exists(guest.stateDir())) {
      left.add("state directory " + guest.stateDir());
    }
    return new GuestStatus(built, sshdRunning, left);
  }

  @Override
  public List<GuestHandle> recover() {
    List<GuestHandle> found = new ArrayList<>();
    Path base = config.stateDir();
    if (!Files.isDirectory(base)) {
      return found;
    }
    // Records tell root what to kill and delete: trust only a directory nobody else can write.
    String unsafe = stateDirProblem(base);
    if (unsafe != null) {
      log.error("not recovering guests from {}: {}", base, unsafe);
      return found;
    }
    try (Stream<Path> dirs = Files.list(base)) {
      for (Path dir : dirs.filter(Files::isDirectory).sorted().toList()) {
        if (Files.exists(dir.resolve(GuestRecord.FILE))) {
          try {
            GuestRecord rec = GuestRecord.load(dir);
            if (rec.ownedByAnotherLiveProcess()) {
              continue; // another NodeManager on this node is using it
            }
            NamespacesDriver user = IN_USE.get(rec.id());
            if (rec.ownedByThisProcess() && user != null && user != this) {
              continue; // another pilot in this process (the node agent) is using it
            }
            found.add(rec.handle());
          } catch (IOException | RuntimeException e) {
            log.warn("unreadable guest record in {}: {}", dir, e.toString());
          }
        } else if (dir.getFileName().toString().matches("[0-9a-f]{8}") && olderThanAMinute(dir)) {
          // (A younger one may be a concurrent NodeManager's guest about to write its record.)
          // Created, crashed before the first record was written: nothing else was built.
          found.add(new GuestHandle(dir.getFileName().toString(),
              new GuestSpec("", "", "", 0, List.of(), ""), dir));
        }
      }
    } catch (IOException e) {
      log.warn("cannot list {}: {}", base, e.toString());
    }
    return found;
  }

  // ---------------------------------------------------------------------------------------------
  // helpers

  /** Why root must not trust the records under {@code base}, or null (not root: no check). */
  static String stateDirProblem(Path base) {
    if (!HostCommand.isRoot()) {
      return null;
    }
    try {
      SecurePaths.requireRootOnly(base, "namespaces.state_dir");
      return null;
    } catch (org.lambdagrid.common.ConfigException e) {
      return e.getMessage();
    }
  }

  private static boolean olderThanAMinute(Path dir) {
    try {
      return Files.getLastModifiedTime(dir).toInstant()
          .isBefore(java.time.Instant.now().minusSeconds(60));
    } catch (IOException e) {
      return false;
    }
  }

  private static GuestRecord load(GuestHandle guest) throws GuestException {
    try {
      return GuestRecord.load(guest.stateDir());
    } catch (IOException e) {
      throw new GuestException("guest " + guest.id() + " has no readable record in "
          + guest.stateDir() + ": " + e.getMessage(), e);
    }
  }

  private static void save(GuestRecord rec) throws GuestException {
    try {
      rec.save();
    } catch (IOException e) {
      throw new GuestException("cannot record the state of guest " + rec.id() + ": "
          + e.getMessage(), e);
    }
  }

  /** The start time field of /proc/PID/stat, or null when there is no such process. */
  static String startTimeOf(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return f[19];
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  private static void killAndWait(List<ProcessHandle> victims, Duration timeout) {
    victims.stream().filter(NamespacesDriver::running).forEach(ProcessHandle::destroyForcibly);
    waitGone(victims, timeout);
  }

  private static void waitGone(List<ProcessHandle> procs, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (procs.stream().anyMatch(NamespacesDriver::running) && System.nanoTime() < deadline) {
      sleep(10);
    }
  }

  /**
   * Whether a process still runs. A zombie does not: it holds no namespace any more, and after
   * a crash its reaper may be the host's init, which need not be quick about it.
   */
  static boolean running(ProcessHandle p) {
    return p.isAlive() && !isZombie(p.pid());
  }

  static boolean isZombie(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      return stat.charAt(stat.lastIndexOf(')') + 2) == 'Z';
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /**
   * Whether a TCP socket is in LISTEN state on port 22 in the network namespace of process
   * {@code pid}, from its {@code /proc/PID/net/tcp}; false if that cannot be read.
   */
  static boolean listensOnPort22(long pid) {
    try (java.io.BufferedReader r = Files.newBufferedReader(Path.of("/proc", Long.toString(pid),
        "net", "tcp"))) {
      r.readLine(); // header
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        String[] f = line.trim().split("\\s+");
        if (f.length > 3 && f[1].endsWith(":0016") && f[3].equals("0A")) {
          return true;
        }
      }
    } catch (IOException e) {
      return false;
    }
    return false;
  }

  /**
   * Runs {@code lines} as one {@code ip [OPTIONS] -batch FILE}: one process instead of one per
   * command (a guest's network takes 6-10 of them). The file stays in the guest's state directory
   * for inspection. ip stops at the first failing line and names it ("Command failed FILE:3").
   */
  private static void ipBatch(Path file, List<String> lines, List<String> options)
      throws GuestException {
    try {
      Files.writeString(file, String.join("\n", lines) + "\n");
    } catch (IOException e) {
      throw new GuestException("cannot write " + file + ": " + e.getMessage(), e);
    }
    List<String> argv = new ArrayList<>(List.of(Commands.tool("ip")));
    argv.addAll(options);
    argv.addAll(List.of("-batch", file.toString()));
    Commands.run(argv.toArray(String[]::new));
  }

  static GuestRecord.Proc procOf(long pid) {
    String start = startTimeOf(pid);
    return start == null ? null : new GuestRecord.Proc(pid, start);
  }

  private static void setOwner(Path p, int uid, int gid) throws IOException {
    Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
    Files.setAttribute(p, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
  }

  /**
   * Writes a file by a fresh temp file renamed over the target, safe in a directory the job's
   * user can write: the temp file is created with O_EXCL and its mode (never through a symbolic
   * link the job may have planted), and its owner is set with lchown, so a swap of the temp name
   * makes root change nothing but a link of the user's.
   */
  private static void writeAtomically(Path target, String content, String perms, int uid,
      int gid) throws IOException {
    Path tmp = target.resolveSibling("." + target.getFileName() + ".lg-tmp");
    Files.deleteIfExists(tmp);
    try (var ch = Files.newByteChannel(tmp, java.util.EnumSet.of(StandardOpenOption.CREATE_NEW,
        StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(
            PosixFilePermissions.fromString(perms)))) {
      java.nio.ByteBuffer buf = java.nio.ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8));
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
    }
    setOwner(tmp, uid, gid);
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /** Rewrites a root-owned file in place: the guest sees it through a bind mount of its inode. */
  private static void writeInPlace(Path target, String content) throws IOException {
    Files.write(target, content.getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE,
        StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE,
        LinkOption.NOFOLLOW_LINKS);
    Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
  }

  static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join(" | ", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
    } catch (IOException e) {
      return "(no log " + log + ")";
    }
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new UncheckedIOException(new java.io.InterruptedIOException("interrupted"));
    }
  }
}
