package org.lambdagrid.grc.reservation.testbed;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.HostCommand;

/**
 * The only class of the testbed network that touches the kernel: builds and removes
 * {@link Segment}s with plain {@code ip} and {@code tc} commands, each with a timeout. A failed
 * command is reported with the command line and its stderr, so an operator can rerun it by hand.
 *
 * <p>What one segment is on the host (all names from {@link SegmentNames}, all {@code lgn...}):
 * one Linux bridge per node; one veth pair per link, its ends enslaved to the two nodes' bridges;
 * on the egress of each end an {@code htb} qdisc whose only class (the default) is limited to the
 * link's rate, so each direction of the link carries at most that rate. No device gets an address
 * (IPv6 address generation is switched off before a device goes up), nothing routes, and nothing
 * is joined to any other bridge, so the segment's traffic stays among its own guests.
 *
 * <p>State: before the first command, the segment is written to {@code <stateDir>/<tag>.json}
 * with {@code complete: false}; after the last one, with {@code complete: true}. Teardown reads
 * only that record, never guesses names, deletes in reverse order (links, then bridges; the
 * qdiscs go with their devices), treats a device that is already gone as removed, and deletes the
 * record last, so it is idempotent and also cleans a half-built or crashed build. A failed
 * teardown keeps the record, so the next call retries it.
 *
 * <p>Thread-safe: every method that reads or writes state or runs commands is synchronized.
 */
public final class TestbedNetwork {
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
  private static final ObjectMapper JSON = new ObjectMapper()
      .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

  /** The state file: the plan, and whether every command of the build ran. */
  record StateFile(int version, boolean complete, Segment segment) {}

  /** 2: an overlay has a tunnel per pair of sites (1 had one device per site). */
  static final int VERSION = 2;

  private final Path stateDir;
  private final CommandRunner runner;
  private final Duration timeout;

  /**
   * {@code stateDir} holds one JSON record per segment (created if missing); {@code timeout}
   * bounds each command.
   */
  public TestbedNetwork(Path stateDir, CommandRunner runner, Duration timeout) {
    this.stateDir = stateDir;
    this.runner = runner;
    this.timeout = timeout;
  }

  /** On this host, real commands, {@link #DEFAULT_TIMEOUT}. */
  public static TestbedNetwork onHost(Path stateDir) {
    return new TestbedNetwork(stateDir, CommandRunner.system(), DEFAULT_TIMEOUT);
  }

  public Path stateDir() {
    return stateDir;
  }

  /** Why this host cannot build segments, in plain words; empty when it can. */
  public List<String> checkHost() {
    List<String> problems = new ArrayList<>();
    if (!HostCommand.isRoot()) {
      problems.add("the testbed network must run as root (it creates bridges, veth pairs and tc qdiscs)");
    }
    for (String tool : List.of("ip", "tc", "bridge")) {
      HostCommand.Result r = runner.run(List.of(tool, "-V"), timeout);
      if (!r.ok()) {
        problems.add("'" + tool + "' (iproute2) does not run: " + r.describe());
      }
    }
    return problems;
  }

  /**
   * Builds {@code s} on the host. Idempotent: a segment already recorded complete with the same
   * plan is left as it is; one recorded incomplete (a crashed build) is torn down and built
   * again. ALREADY_EXISTS if the tag is recorded for another plan. On a failed command, removes
   * what it built and fails with INTERNAL quoting the command and its stderr.
   */
  public synchronized void build(Segment s) {
    Optional<StateFile> old = read(file(s.tag()));
    if (old.isPresent()) {
      if (!old.get().segment().equals(s)) {
        throw Errors.alreadyExists("testbed network: tag " + s.tag() + " is recorded for reservation "
            + old.get().segment().reservationId() + " with another plan (" + file(s.tag()) + ")");
      }
      if (old.get().complete()) {
        return;
      }
      teardownRecorded(old.get().segment());
    }
    if (s.overlay() != null) {
      for (Segment other : recordedAll()) {
        if (other.overlay() != null && other.overlay().vni() == s.overlay().vni() && !other.tag().equals(s.tag())) {
          throw Errors.alreadyExists("testbed network: overlay.vni " + s.overlay().vni() + " of reservation "
              + s.reservationId() + " is already used by reservation " + other.reservationId()
              + " (" + file(other.tag()) + "); each live reservation needs its own VNI");
        }
      }
    }
    write(new StateFile(VERSION, false, s));
    for (List<String> argv : buildCommands(s)) {
      HostCommand.Result r = runner.run(argv, timeout);
      if (!r.ok()) {
        String cleanup;
        try {
          teardownRecorded(s);
          cleanup = "what was built is removed";
        } catch (RuntimeException e) {
          cleanup = "cleaning up failed too (" + e.getMessage() + "); the record is kept for a retry";
        }
        throw new Errors.RequestException(Status.Code.INTERNAL, "testbed network: building the segment of reservation "
            + s.reservationId() + " failed: " + r.describe() + "; " + cleanup);
      }
    }
    write(new StateFile(VERSION, true, s));
  }

  /**
   * Removes the segment recorded for {@code reservationId}, from the record alone. Idempotent:
   * succeeds when nothing is recorded and skips devices already gone. INTERNAL naming every
   * device it could not remove (the record is then kept for a retry).
   */
  public synchronized void teardown(String reservationId) {
    Optional<Segment> s = recorded(reservationId);
    if (s.isPresent()) {
      teardownRecorded(s.get());
    }
  }

  /** The segment recorded for {@code reservationId}, complete or not. */
  public synchronized Optional<Segment> recorded(String reservationId) {
    return recordedAll().stream().filter(s -> s.reservationId().equals(reservationId)).findFirst();
  }

  /** Every recorded segment, complete or not, in tag order. */
  public synchronized List<Segment> recordedAll() {
    if (!Files.isDirectory(stateDir)) {
      return List.of();
    }
    List<Segment> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(stateDir)) {
      for (Path f : files.sorted().toList()) {
        if (f.getFileName().toString().endsWith(".json")) {
          read(f).ifPresent(sf -> out.add(sf.segment()));
        }
      }
    } catch (IOException e) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "testbed network: cannot list " + stateDir + ": " + e);
    }
    return out;
  }

  /** The commands that build {@code s}, in order: devices down and shaped before any goes up. */
  public static List<List<String>> buildCommands(Segment s) {
    if (s.overlay() != null) {
      return overlayCommands(s);
    }
    List<List<String>> c = new ArrayList<>();
    for (Segment.Bridge b : s.bridges()) {
      c.add(List.of("ip", "link", "add", "name", b.device(), "type", "bridge"));
      c.add(List.of("ip", "link", "set", "dev", b.device(), "addrgenmode", "none"));
    }
    for (Segment.Link l : s.links()) {
      String brA = s.bridgeOf(l.nodeA()).orElseThrow();
      String brB = s.bridgeOf(l.nodeB()).orElseThrow();
      c.add(List.of("ip", "link", "add", "name", l.deviceA(), "type", "veth", "peer", "name", l.deviceB()));
      for (String[] end : new String[][] {{l.deviceA(), brA}, {l.deviceB(), brB}}) {
        c.add(List.of("ip", "link", "set", "dev", end[0], "addrgenmode", "none"));
        c.add(List.of("ip", "link", "set", "dev", end[0], "master", end[1]));
        c.add(List.of("tc", "qdisc", "replace", "dev", end[0], "root", "handle", "1:", "htb", "default", "1"));
        c.add(List.of("tc", "class", "replace", "dev", end[0], "parent", "1:", "classid", "1:1", "htb",
            "rate", l.rateBps() + "bit", "ceil", l.rateBps() + "bit", "quantum", String.valueOf(quantum(l.rateBps()))));
      }
    }
    for (Segment.Bridge b : s.bridges()) {
      c.add(List.of("ip", "link", "set", "dev", b.device(), "up"));
    }
    for (Segment.Link l : s.links()) {
      c.add(List.of("ip", "link", "set", "dev", l.deviceA(), "up"));
      c.add(List.of("ip", "link", "set", "dev", l.deviceB(), "up"));
    }
    return c;
  }

  /**
   * The commands that build a routed segment: per site a bridge with the overlay's MTU; per
   * pair of sites and end a VXLAN device (created in the site's underlay namespace with the
   * site's endpoint as its local address and the peer's as its remote, the pair's UDP port, no
   * learning, then moved here), enslaved to the site's bridge as an isolated port (no bridge
   * forwards tunnel to tunnel: the full mesh needs no spanning tree), the overlay's MTU, htb at
   * the pair's rate on its egress; then everything up.
   */
  static List<List<String>> overlayCommands(Segment s) {
    Segment.Overlay o = s.overlay();
    List<List<String>> c = new ArrayList<>();
    for (Segment.Bridge b : s.bridges()) {
      c.add(List.of("ip", "link", "add", "name", b.device(), "type", "bridge"));
      c.add(List.of("ip", "link", "set", "dev", b.device(), "addrgenmode", "none"));
      c.add(List.of("ip", "link", "set", "dev", b.device(), "mtu", String.valueOf(o.mtu())));
    }
    for (Segment.Vtep v : o.vteps()) {
      List<String> add = new ArrayList<>(List.of("ip", "link", "add", "name", v.device(), "type", "vxlan",
          "id", String.valueOf(o.vni()), "local", v.endpoint(), "remote", v.peerEndpoint(),
          "dstport", String.valueOf(v.port()), "nolearning"));
      if (!v.netns().isEmpty()) {
        add.addAll(1, List.of("-n", v.netns()));
        c.add(add);
        // Into the namespace of the bridges (this process's: pid 1's on the testbed); the device
        // keeps its UDP socket in the site's namespace.
        c.add(List.of("ip", "-n", v.netns(), "link", "set", "dev", v.device(), "netns", "1"));
      } else {
        c.add(add);
      }
      c.add(List.of("ip", "link", "set", "dev", v.device(), "addrgenmode", "none"));
      c.add(List.of("ip", "link", "set", "dev", v.device(), "mtu", String.valueOf(o.mtu())));
      c.add(List.of("ip", "link", "set", "dev", v.device(), "master", s.bridgeOf(v.site()).orElseThrow()));
      c.add(List.of("bridge", "link", "set", "dev", v.device(), "isolated", "on"));
      c.add(List.of("tc", "qdisc", "replace", "dev", v.device(), "root", "handle", "1:", "htb", "default", "1"));
      c.add(List.of("tc", "class", "replace", "dev", v.device(), "parent", "1:", "classid", "1:1", "htb",
          "rate", v.rateBps() + "bit", "ceil", v.rateBps() + "bit", "quantum", String.valueOf(quantum(v.rateBps()))));
    }
    for (Segment.Bridge b : s.bridges()) {
      c.add(List.of("ip", "link", "set", "dev", b.device(), "up"));
    }
    for (Segment.Vtep v : o.vteps()) {
      c.add(List.of("ip", "link", "set", "dev", v.device(), "up"));
    }
    return c;
  }

  /**
   * The devices teardown removes, in order: links in reverse (end a, then end b, which is
   * normally gone with its peer), then bridges in reverse.
   */
  public static List<String> teardownOrder(Segment s) {
    List<String> order = new ArrayList<>();
    List<Segment.Link> links = new ArrayList<>(s.links());
    Collections.reverse(links);
    for (Segment.Link l : links) {
      order.add(l.deviceA());
      order.add(l.deviceB());
    }
    if (s.overlay() != null) {
      List<Segment.Vtep> vteps = new ArrayList<>(s.overlay().vteps());
      Collections.reverse(vteps);
      vteps.forEach(v -> order.add(v.device()));
    }
    List<Segment.Bridge> bridges = new ArrayList<>(s.bridges());
    Collections.reverse(bridges);
    bridges.forEach(b -> order.add(b.device()));
    return order;
  }

  /** htb quantum in bytes: what the default r2q of 10 gives, within [one frame, 200000] (above, the kernel warns). */
  static long quantum(long rateBps) {
    return Math.max(1514, Math.min(200_000, rateBps / 8 / 10));
  }

  private void teardownRecorded(Segment s) {
    List<String> problems = new ArrayList<>();
    for (String dev : teardownOrder(s)) {
      String p = ensureGone("", dev);
      if (p != null) {
        problems.add(p);
      }
    }
    if (s.overlay() != null) {
      // A build that failed between creating a VXLAN device and moving it left it in the site's
      // underlay namespace.
      for (Segment.Vtep v : s.overlay().vteps()) {
        if (!v.netns().isEmpty() && netnsExists(v.netns())) {
          String p = ensureGone(v.netns(), v.device());
          if (p != null) {
            problems.add(p);
          }
        }
      }
    }
    if (!problems.isEmpty()) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "testbed network: tearing down the segment of reservation "
          + s.reservationId() + " left " + String.join("; ", problems) + " (record kept in " + file(s.tag()) + ")");
    }
    try {
      Files.deleteIfExists(file(s.tag()));
    } catch (IOException e) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "testbed network: cannot delete " + file(s.tag()) + ": " + e);
    }
  }

  /** Removes {@code dev} (in namespace {@code netns}; empty: this one) if present; null when it is gone, else why not. */
  private String ensureGone(String netns, String dev) {
    if (!exists(netns, dev)) {
      return null;
    }
    HostCommand.Result del = runner.run(ip(netns, "link", "del", "dev", dev), timeout);
    if (del.ok() || !exists(netns, dev)) {
      return null;
    }
    return "device " + dev + (netns.isEmpty() ? "" : " in netns " + netns) + ": " + del.describe();
  }

  private boolean netnsExists(String netns) {
    return Files.exists(Path.of("/run/netns", netns));
  }

  private static List<String> ip(String netns, String... args) {
    List<String> argv = new ArrayList<>(List.of("ip"));
    if (!netns.isEmpty()) {
      argv.add("-n");
      argv.add(netns);
    }
    argv.addAll(List.of(args));
    return argv;
  }

  private boolean exists(String netns, String dev) {
    HostCommand.Result r = runner.run(ip(netns, "-o", "link", "show", "dev", dev), timeout);
    if (r.ok()) {
      return true;
    }
    if (r.stderr().contains("does not exist")) {
      return false;
    }
    // Cannot tell (ip failed otherwise): try to delete; the delete's error will say why.
    return true;
  }

  private Path file(String tag) {
    return stateDir.resolve(tag + ".json");
  }

  private Optional<StateFile> read(Path f) {
    if (!Files.exists(f)) {
      return Optional.empty();
    }
    try {
      return Optional.of(JSON.readValue(f.toFile(), StateFile.class));
    } catch (IOException e) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "testbed network: state file " + f
          + " is unreadable (" + e.getMessage() + "); remove the devices it names by hand, then the file");
    }
  }

  private void write(StateFile sf) {
    Path f = file(sf.segment().tag());
    try {
      Files.createDirectories(stateDir);
      Path tmp = stateDir.resolve(sf.segment().tag() + ".json.tmp");
      JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), sf);
      try {
        Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "testbed network: cannot write " + f + ": " + e);
    }
  }
}
