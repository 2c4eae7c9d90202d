package org.lambdagrid.crm.overlay;

import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.net.CommandRunner;
import org.lambdagrid.common.net.JsonRecords;
import org.lambdagrid.common.net.LinkCommands;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A routed site's ends of its reservations' VXLAN overlays, built by its CRM on its host: per
 * reservation the bridge the GRC named and, per peer site, one VXLAN tunnel (created in the
 * site's underlay namespace, crm.yaml {@code overlay.netns}, with the site's endpoint as local
 * address, then moved to the namespace the bridges live in), enslaved to the bridge as an
 * isolated port, with the overlay's MTU and {@code htb} at the pair's rate on its egress
 * ({@link LinkCommands}, the same command lines the GRC's testbed network uses).
 *
 * <p>Lifecycle (driven by the site's two-phase commit, {@code SiteServiceImpl}): {@link #record}
 * at Prepare checks the plan against this site and writes it to {@code <dir>/<id>.json}
 * ({@code built: false}) before the hold is taken; {@link #build} at Commit creates the devices
 * and marks the record built; {@link #remove} at Abort, Release and for expired holds
 * ({@link #sweep}) removes the devices (those already gone are skipped) and then the record. A
 * build that fails removes what it made and keeps the record (a retried commit builds again);
 * a CRM killed half-way finds the record at start ({@link #recover}): the devices of holds that
 * are not live are removed, those of committed holds are built (again). Only recorded names are
 * ever removed, and the record is written before the first command.
 *
 * <p>Thread-safe: every method holds this object's lock, also while it runs {@code ip} and
 * {@code tc} (a build is a few dozen commands, each bounded by the timeout). It is never called
 * with the site's reservation lock held.
 */
public final class SiteOverlay {
  private static final Logger log = LoggerFactory.getLogger(SiteOverlay.class);
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  /** The record: the plan, and whether every command of its build ran. */
  record StateFile(int version, boolean built, OverlayPlan plan) {}

  static final int VERSION = 1;

  private final String site;
  private final String endpoint;
  private final String netns;
  private final JsonRecords<StateFile> records;
  private final CommandRunner runner;
  private final Duration timeout;
  /** Ids recorded by a prepare still taking its hold: the sweep leaves them alone. */
  private final java.util.Set<String> preparing = new java.util.HashSet<>();

  /**
   * {@code endpoint} and {@code netns} are crm.yaml {@code overlay.endpoint} and
   * {@code overlay.netns} (empty: this process's namespace); {@code dir} holds the records
   * (created if missing, owned by this process).
   */
  public SiteOverlay(String site, String endpoint, String netns, Path dir, CommandRunner runner,
      Duration timeout) {
    this.site = site;
    this.endpoint = endpoint;
    this.netns = netns == null ? "" : netns;
    this.records = new JsonRecords<>(dir, StateFile.class, "overlay");
    this.runner = runner;
    this.timeout = timeout;
  }

  /**
   * Records {@code p} for its reservation (Prepare). Returns whether it is new (false: the same
   * plan was recorded already). INVALID_ARGUMENT when {@code p.localEndpoint()} is not this
   * site's endpoint; ALREADY_EXISTS naming the field when the reservation has another plan
   * here, or another recorded reservation uses its VNI or one of its device names. Runs no
   * command; a refusal records nothing.
   */
  public synchronized boolean record(OverlayPlan p) {
    if (!p.localEndpoint().equals(endpoint)) {
      throw Errors.invalid("overlay.local_endpoint", p.localEndpoint(), "is not the endpoint of site '" + site
          + "' (crm.yaml overlay.endpoint " + endpoint + ")");
    }
    Optional<StateFile> old = read(p.reservationId());
    if (old.isPresent()) {
      if (old.get().plan().equals(p)) {
        return false;
      }
      throw Errors.alreadyExists("overlay: reservation " + p.reservationId() + " already has another overlay"
          + " plan on site '" + site + "' (VNI " + old.get().plan().vni() + "); refusing VNI " + p.vni());
    }
    for (OverlayPlan o : recordedAll()) {
      if (o.vni() == p.vni()) {
        throw Errors.alreadyExists("overlay.vni: " + p.vni() + " of reservation " + p.reservationId()
            + " is already used on site '" + site + "' by reservation " + o.reservationId()
            + "; each live reservation needs its own VNI");
      }
      for (String d : p.devices()) {
        if (o.devices().contains(d)) {
          throw Errors.alreadyExists("overlay: device " + d + " of reservation " + p.reservationId()
              + " is already recorded on site '" + site + "' for reservation " + o.reservationId());
        }
      }
    }
    write(new StateFile(VERSION, false, p));
    preparing.add(p.reservationId());
    return true;
  }

  /** The prepare that {@link #record}ed {@code reservationId} took its hold or gave up. */
  public synchronized void settled(String reservationId) {
    preparing.remove(reservationId);
  }

  /**
   * Builds the recorded overlay of {@code reservationId} (Commit); nothing when none is recorded
   * (the reservation is not routed) or it is built already. A record left unbuilt by a crash is
   * cleaned first. On a failed command removes what it made, keeps the record, and fails
   * INTERNAL quoting the command and its stderr.
   */
  public synchronized void build(String reservationId) {
    Optional<StateFile> sf = read(reservationId);
    if (sf.isEmpty() || sf.get().built()) {
      return;
    }
    OverlayPlan p = sf.get().plan();
    removeDevices(p); // what an interrupted build left (nothing, normally)
    for (List<String> argv : buildCommands(p, netns)) {
      HostCommand.Result r = runner.run(argv, timeout);
      if (!r.ok()) {
        String cleanup;
        try {
          removeDevices(p);
          cleanup = "what was built is removed";
        } catch (RuntimeException e) {
          cleanup = "cleaning up failed too (" + e.getMessage() + ")";
        }
        throw new Errors.RequestException(Status.Code.INTERNAL, "overlay: building the overlay of reservation "
            + reservationId + " on site '" + site + "' failed: " + r.describe() + "; " + cleanup);
      }
    }
    write(new StateFile(VERSION, true, p));
    log.info("reservation {}: overlay built on site '{}' (VNI {}, bridge {}, {} tunnel(s))", reservationId, site,
        p.vni(), p.bridge(), p.tunnels().size());
  }

  /**
   * Removes the overlay recorded for {@code reservationId}: its devices (those already gone are
   * skipped), then the record. Idempotent; nothing recorded is success. INTERNAL naming every
   * device it could not remove (the record is then kept for a retry).
   */
  public synchronized void remove(String reservationId) {
    if (reservationId == null || !OverlayPlan.ID.matcher(reservationId).matches()) {
      return; // never recorded under such a name
    }
    Optional<StateFile> sf = read(reservationId);
    if (sf.isEmpty()) {
      return;
    }
    removeDevices(sf.get().plan());
    records.delete(key(reservationId));
  }

  /** The plan recorded for {@code reservationId}, built or not. */
  public synchronized Optional<OverlayPlan> recorded(String reservationId) {
    return read(reservationId).map(StateFile::plan);
  }

  /** Whether the overlay of {@code reservationId} is recorded as built. */
  public synchronized boolean built(String reservationId) {
    return read(reservationId).map(StateFile::built).orElse(false);
  }

  /** Every recorded plan, in reservation-id order. */
  public synchronized List<OverlayPlan> recordedAll() {
    return records.readAll().stream().map(StateFile::plan).toList();
  }

  /**
   * Removes the overlays of every recorded reservation {@code live} says is not live (an
   * expired or ended hold, or one a crash left unrecorded). Call periodically and at start.
   *
   * @return how many could not be removed yet (logged; tried again next time)
   */
  public int sweep(Predicate<String> live) {
    int left = 0;
    List<OverlayPlan> all;
    synchronized (this) {
      all = recordedAll().stream().filter(p -> !preparing.contains(p.reservationId())).toList();
    }
    for (OverlayPlan p : all) {
      if (!live.test(p.reservationId())) {
        try {
          remove(p.reservationId());
          log.info("reservation {}: its hold is not live; overlay removed from site '{}'", p.reservationId(), site);
        } catch (RuntimeException e) {
          log.warn("{}; trying again later", e.getMessage());
          left++;
        }
      }
    }
    return left;
  }

  /**
   * At start, after the holds are recovered: removes the overlays of holds that are not
   * {@code live} and builds those of {@code committed} ones that are not built (a crash during
   * Commit). Failures are logged (a retried commit or the next sweep tries again).
   */
  public void recover(Predicate<String> live, Predicate<String> committed) {
    sweep(live);
    for (OverlayPlan p : recordedAll()) {
      if (committed.test(p.reservationId())) {
        try {
          build(p.reservationId());
        } catch (RuntimeException e) {
          log.warn("restart: {}", e.getMessage());
        }
      }
    }
  }

  /**
   * The commands that build {@code p} with the underlay in {@code netns}: the bridge (MTU, no
   * addresses), each tunnel ({@link LinkCommands#vxlan}), then everything up.
   */
  public static List<List<String>> buildCommands(OverlayPlan p, String netns) {
    List<List<String>> c = new ArrayList<>(LinkCommands.bridge(p.bridge(), p.mtu()));
    for (OverlayPlan.Tunnel t : p.tunnels()) {
      c.addAll(LinkCommands.vxlan(netns, t.device(), p.vni(), p.localEndpoint(), t.peerEndpoint(), t.port(),
          p.mtu(), p.bridge(), t.rateBps()));
    }
    c.add(LinkCommands.up(p.bridge()));
    p.tunnels().forEach(t -> c.add(LinkCommands.up(t.device())));
    return c;
  }

  /** Tunnels (also any still in the underlay namespace: a build cut between add and move), then the bridge. */
  private void removeDevices(OverlayPlan p) {
    List<String> problems = new ArrayList<>();
    boolean inNetns = !netns.isEmpty() && LinkCommands.netnsExists(netns);
    for (OverlayPlan.Tunnel t : p.tunnels()) {
      add(problems, LinkCommands.ensureGone(runner, timeout, "", t.device()));
      if (inNetns) {
        add(problems, LinkCommands.ensureGone(runner, timeout, netns, t.device()));
      }
    }
    add(problems, LinkCommands.ensureGone(runner, timeout, "", p.bridge()));
    if (!problems.isEmpty()) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "overlay: removing the overlay of reservation "
          + p.reservationId() + " from site '" + site + "' left " + String.join("; ", problems)
          + " (record kept in " + file(p.reservationId()) + ")");
    }
  }

  private static void add(List<String> problems, String p) {
    if (p != null) {
      problems.add(p);
    }
  }

  private Path file(String reservationId) {
    return records.file(key(reservationId));
  }

  private static String key(String reservationId) {
    if (!OverlayPlan.ID.matcher(reservationId).matches()) {
      throw Errors.invalid("reservation_id", reservationId, "is not 1-128 of A-Z a-z 0-9 _ . - (not starting with . _ -)");
    }
    return reservationId;
  }

  private Optional<StateFile> read(String reservationId) {
    return records.read(key(reservationId));
  }

  private void write(StateFile sf) {
    records.write(key(sf.plan().reservationId()), sf);
  }
}
