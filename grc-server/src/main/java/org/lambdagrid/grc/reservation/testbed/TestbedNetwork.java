package org.lambdagrid.grc.reservation.testbed;

import org.lambdagrid.common.net.CommandRunner;
import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.net.JsonRecords;
import org.lambdagrid.common.net.LinkCommands;

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

  /** The state file: the plan, and whether every command of the build ran. */
  record StateFile(int version, boolean complete, Segment segment) {}

  /** 2: an overlay has a tunnel per pair of sites (1 had one device per site). */
  static final int VERSION = 2;

  private final Path stateDir;
  private final JsonRecords<StateFile> records;
  private final CommandRunner runner;
  private final Duration timeout;

  /**
   * {@code stateDir} holds one JSON record per segment (created if missing); {@code timeout}
   * bounds each command.
   */
  public TestbedNetwork(Path stateDir, CommandRunner runner, Duration timeout) {
    this.stateDir = stateDir;
    this.records = new JsonRecords<>(stateDir, StateFile.class, "testbed network");
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
    return records.readAll().stream().map(StateFile::segment).toList();
  }

  /** The commands that build {@code s}, in order: devices down and shaped before any goes up. */
  public static List<List<String>> buildCommands(Segment s) {
    if (s.overlay() != null) {
      return overlayCommands(s);
    }
    List<List<String>> c = new ArrayList<>();
    for (Segment.Bridge b : s.bridges()) {
      c.addAll(LinkCommands.bridge(b.device(), 0));
    }
    for (Segment.Link l : s.links()) {
      String brA = s.bridgeOf(l.nodeA()).orElseThrow();
      String brB = s.bridgeOf(l.nodeB()).orElseThrow();
      c.add(List.of("ip", "link", "add", "name", l.deviceA(), "type", "veth", "peer", "name", l.deviceB()));
      for (String[] end : new String[][] {{l.deviceA(), brA}, {l.deviceB(), brB}}) {
        c.add(List.of("ip", "link", "set", "dev", end[0], "addrgenmode", "none"));
        c.add(List.of("ip", "link", "set", "dev", end[0], "master", end[1]));
        c.addAll(LinkCommands.htb(end[0], l.rateBps()));
      }
    }
    for (Segment.Bridge b : s.bridges()) {
      c.add(LinkCommands.up(b.device()));
    }
    for (Segment.Link l : s.links()) {
      c.add(List.of("ip", "link", "set", "dev", l.deviceA(), "up"));
      c.add(List.of("ip", "link", "set", "dev", l.deviceB(), "up"));
    }
    return c;
  }

  /**
   * A routed segment's commands: none. Each site's CRM builds its own bridge and tunnel ends
   * from the plan the GRC sends it in Prepare (crm-server {@code SiteOverlay}); the segment is
   * recorded here only so its VNI and tag stay taken while it lives.
   */
  static List<List<String>> overlayCommands(Segment s) {
    return List.of();
  }

  /**
   * The devices teardown removes, in order: links in reverse (end a, then end b, which is
   * normally gone with its peer), then bridges in reverse.
   */
  public static List<String> teardownOrder(Segment s) {
    List<String> order = new ArrayList<>();
    if (s.overlay() != null) {
      return order; // the sites' CRMs built (and remove) its devices
    }
    List<Segment.Link> links = new ArrayList<>(s.links());
    Collections.reverse(links);
    for (Segment.Link l : links) {
      order.add(l.deviceA());
      order.add(l.deviceB());
    }
    List<Segment.Bridge> bridges = new ArrayList<>(s.bridges());
    Collections.reverse(bridges);
    bridges.forEach(b -> order.add(b.device()));
    return order;
  }

  static long quantum(long rateBps) {
    return LinkCommands.quantum(rateBps);
  }

  private void teardownRecorded(Segment s) {
    List<String> problems = new ArrayList<>();
    for (String dev : teardownOrder(s)) {
      String p = ensureGone("", dev);
      if (p != null) {
        problems.add(p);
      }
    }
    if (!problems.isEmpty()) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "testbed network: tearing down the segment of reservation "
          + s.reservationId() + " left " + String.join("; ", problems) + " (record kept in " + file(s.tag()) + ")");
    }
    records.delete(s.tag());
  }

  /** Removes {@code dev} (in namespace {@code netns}; empty: this one) if present; null when it is gone, else why not. */
  private String ensureGone(String netns, String dev) {
    return LinkCommands.ensureGone(runner, timeout, netns, dev);
  }

  private Path file(String tag) {
    return records.file(tag);
  }

  private Optional<StateFile> read(Path f) {
    String name = f.getFileName().toString();
    return records.read(name.substring(0, name.length() - ".json".length()));
  }

  private void write(StateFile sf) {
    records.write(sf.segment().tag(), sf);
  }
}
