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
 * are not live are removed, those of committed holds are built (again). Only devices the record
 * says this CRM created are ever removed (each is written to the record before its
 * {@code ip link add}, confirmed after), and of those only the names its plan makes, on the host
 * or in the underlay namespace: any other entry of a record read back is refused and logged
 * ({@link #vetted}); a name of the plan that already exists is refused
 * (ALREADY_EXISTS) at record and at build and never touched. Committed reservations whose
 * devices are gone at start (a host reboot) are built again.
 *
 * <p>Which holds have an overlay end is not taken from the records: the hold says so itself,
 * recorded in the same ledger write as the hold at Prepare ({@code SiteReservations.Held#overlay}).
 * A Commit of such a hold whose record is missing or unreadable fails INTERNAL naming the
 * reservation, the site and the record file, instead of building nothing: in process
 * ({@link #expect} after the hold is taken) and after a restart ({@link #recover} expects every
 * live hold the ledger says has an overlay end, whether or not its record survived). A
 * committed hold whose record is lost at start is logged at ERROR naming the reservation and
 * the file; its overlay cannot be built again (the plan was only in the record). Its hold is
 * <em>kept</em>, not ended: the site does not end a committed hold on its own, since the GRC
 * still counts it committed and only the GRC can tell the user; the operator releases the
 * reservation through the GRC, and until then a retried Commit of it fails INTERNAL as above.
 *
 * <p>Thread-safe: every method holds this object's lock, also while it runs {@code ip} and
 * {@code tc} (a build is a few dozen commands, each bounded by the timeout). It is never called
 * with the site's reservation lock held.
 */
public final class SiteOverlay {
  private static final Logger log = LoggerFactory.getLogger(SiteOverlay.class);
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  /**
   * The record: the plan, whether every command of its build ran, and the devices this CRM
   * created for it ({@code owned}; null in a version-1 record: none).
   */
  record StateFile(int version, boolean built, OverlayPlan plan, List<Owned> owned) {
    /** A record without a plan or with a malformed reservation id is unreadable (IllegalArgumentException). */
    StateFile {
      if (plan == null || plan.reservationId() == null
          || !OverlayPlan.ID.matcher(plan.reservationId()).matches()) {
        throw new IllegalArgumentException("the record has no plan or no valid reservation id");
      }
      owned = owned == null ? List.of() : List.copyOf(owned);
    }

    StateFile(int version, boolean built, OverlayPlan plan) {
      this(version, built, plan, List.of());
    }
  }

  /**
   * A device this CRM created: {@code device} in namespace {@code netns} (empty: the host's).
   * Written before the {@code ip link add} (or the move to the host) with {@code confirmed}
   * false, rewritten confirmed once it succeeded; an add that failed with "File exists" is
   * dropped (a name that existed already is never taken for ours), one that failed otherwise
   * (a timeout may have created it) stays unconfirmed. An unconfirmed entry (a crash cut the command) is
   * looked for in the host and the underlay namespace: its name was checked free in both just
   * before.
   */
  record Owned(String device, String netns, boolean confirmed) {}

  static final int VERSION = 2;

  private final String site;
  private final String endpoint;
  private final String netns;
  private final JsonRecords<StateFile> records;
  private final CommandRunner runner;
  private final Duration timeout;
  /** Ids recorded by prepares still taking their hold (how many): the sweep leaves them alone. */
  private final java.util.Map<String, Integer> preparing = new java.util.HashMap<>();
  /** Ids whose hold was taken with an overlay end ({@link #expect}): Commit needs their record. */
  private final java.util.Set<String> expected = new java.util.HashSet<>();
  /** Live holds {@link #recover} found expected but without a readable record; until they end. */
  private final java.util.Set<String> lostAtStart = java.util.concurrent.ConcurrentHashMap.newKeySet();
  /** What was logged once already: entries {@link #vetted} refused, misfiled records. */
  private final java.util.Set<String> reported = new java.util.HashSet<>();
  /**
   * Ids whose removal {@link #refuseShared} refused (logged once): dropped when a check of it
   * passes or its record is gone, so the same damage found again is logged again.
   */
  private final java.util.Set<String> refusedShared = new java.util.HashSet<>();

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
   * plan was recorded already). Either way the caller calls {@link #settled} once its hold is
   * taken or refused: until then the sweep leaves the record alone. INVALID_ARGUMENT when
   * {@code p.localEndpoint()} is not this site's endpoint; ALREADY_EXISTS naming the field when
   * the reservation has another plan here, another recorded reservation uses its VNI or one of
   * its device names, or one of its names already exists on the host or in the underlay
   * namespace (a device this CRM did not make: never touched). Runs only {@code ip link show};
   * a refusal records nothing.
   */
  public synchronized boolean record(OverlayPlan p) {
    if (!p.localEndpoint().equals(endpoint)) {
      throw Errors.invalid("overlay.local_endpoint", p.localEndpoint(), "is not the endpoint of site '" + site
          + "' (crm.yaml overlay.endpoint " + endpoint + ")");
    }
    Optional<StateFile> old = read(p.reservationId());
    if (old.isPresent()) {
      if (old.get().plan().equals(p)) {
        preparing.merge(p.reservationId(), 1, Integer::sum); // a retried prepare: the sweep waits for it too
        return false;
      }
      throw Errors.alreadyExists("overlay: reservation " + p.reservationId() + " already has another overlay"
          + " plan on site '" + site + "' (VNI " + old.get().plan().vni() + "); refusing VNI " + p.vni());
    }
    for (StateFile other : readAll().values()) {
      OverlayPlan o = other.plan();
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
    refuseExisting(p);
    write(new StateFile(VERSION, false, p));
    lostAtStart.remove(p.reservationId()); // recorded again
    preparing.merge(p.reservationId(), 1, Integer::sum);
    return true;
  }

  /**
   * A refused prepare's undo of the record it made ({@link #record} returned true): removed
   * unless another prepare of the same reservation is still under way (it may take the hold).
   * Called before that prepare's {@link #settled}.
   */
  public synchronized void removeUnclaimed(String reservationId) {
    if (preparing.getOrDefault(reservationId, 0) <= 1) {
      remove(reservationId);
    }
  }

  /** A prepare that {@link #record}ed {@code reservationId} took its hold or gave up. */
  public synchronized void settled(String reservationId) {
    preparing.computeIfPresent(reservationId, (k, n) -> n > 1 ? n - 1 : null);
  }

  /**
   * The hold of {@code reservationId} was taken with an overlay end: from now on its Commit
   * fails when the record is missing instead of building nothing. Kept until {@link #forget}.
   */
  public synchronized void expect(String reservationId) {
    expected.add(reservationId);
  }

  /** The hold of {@code reservationId} ended: see {@link #expect}. */
  public synchronized void forget(String reservationId) {
    expected.remove(reservationId);
    lostAtStart.remove(reservationId);
  }

  /**
   * How many live holds prepared with an overlay end had no readable record when this CRM
   * started (each logged at ERROR by {@link #recover}); each counts until its hold ends. Never
   * waits for the lock a build holds (the metrics page calls it).
   */
  public int recordsLostAtStart() {
    return lostAtStart.size();
  }

  /**
   * Builds the recorded overlay of {@code reservationId} (Commit); nothing when it is built
   * already or none is recorded and none is {@link #expect}ed (the reservation is not routed).
   * INTERNAL when an expected record is missing (an abort or sweep removed it: the GRC must
   * prepare again). What an interrupted build of this CRM left is cleaned first. Each device is
   * checked absent (host and underlay namespace) before it is added: ALREADY_EXISTS naming the
   * field and the device otherwise, which is then left alone. On a failed command removes what
   * it made, keeps the record, and fails INTERNAL quoting the command and its stderr.
   */
  public synchronized void build(String reservationId) {
    Optional<StateFile> rec;
    try {
      rec = read(reservationId);
    } catch (Errors.RequestException e) {
      if (e.code() != Status.Code.INTERNAL) {
        throw e;
      }
      Errors.RequestException wrapped = new Errors.RequestException(Status.Code.INTERNAL,
          "overlay: reservation " + reservationId + " on site '" + site + "': "
              + e.getMessage().replaceFirst("^overlay: ", ""), e);
      if (reported.add(reservationId + "\nunreadable")) { // the GRC retries: once, with the cause
        log.error("{}", wrapped.getMessage(), wrapped);
      }
      throw wrapped;
    }
    if (rec.isEmpty()) {
      if (expected.contains(reservationId)) {
        throw new Errors.RequestException(Status.Code.INTERNAL, "overlay: reservation " + reservationId
            + " was prepared with an overlay end on site '" + site + "' but its record "
            + file(reservationId) + " is gone (removed by an abort or the sweep, or lost while the CRM was"
            + " down); the GRC retries the Commit until its hold time passes, then ends the reservation");
      }
      return;
    }
    if (rec.get().built()) {
      return;
    }
    StateFile sf = removeOwned(rec.get()); // what an interrupted build left (nothing, normally)
    OverlayPlan p = sf.plan();
    for (List<String> argv : buildCommands(p, netns)) {
      String added = addedDevice(argv);
      String moved = movedDevice(argv);
      if (added != null) {
        try {
          refuseExisting(p, added, sf);
        } catch (Errors.RequestException e) {
          removeQuietly(sf);
          throw e;
        }
        sf = own(sf, new Owned(added, netnsOf(argv), false));
      } else if (moved != null) {
        sf = own(sf, new Owned(moved, "", false));
      }
      HostCommand.Result r = runner.run(argv, timeout);
      if (!r.ok()) {
        if (added != null && r.stderr().contains("File exists")) {
          sf = disown(sf, added); // someone else's: never removed
        } else if (moved != null) {
          sf = own(sf, new Owned(moved, netns, true)); // still in the underlay
        }
        String cleanup = removeQuietly(sf);
        throw new Errors.RequestException(Status.Code.INTERNAL, "overlay: building the overlay of reservation "
            + reservationId + " on site '" + site + "' failed: " + r.describe() + "; " + cleanup);
      }
      if (added != null) {
        sf = own(sf, new Owned(added, netnsOf(argv), true));
      } else if (moved != null) {
        sf = own(sf, new Owned(moved, "", true));
      }
    }
    write(new StateFile(VERSION, true, p, sf.owned()));
    log.info("reservation {}: overlay built on site '{}' (VNI {}, bridge {}, {} tunnel(s))", reservationId, site,
        p.vni(), p.bridge(), p.tunnels().size());
  }

  /**
   * Removes the overlay recorded for {@code reservationId}: the devices this CRM created for it
   * (those already gone are skipped; a device of the plan's names it did not create is never
   * touched), then the record. Idempotent; nothing recorded is success. INTERNAL naming every
   * device it could not remove (the record is then kept for a retry).
   */
  public synchronized void remove(String reservationId) {
    remove(reservationId, null);
  }

  /**
   * {@link #remove}, checking for shared devices ({@link #refuseShared}) against {@code others},
   * every readable record by key as the caller read it (null: read them now). For the sweep
   * (others not null) a reservation being prepared again since the sweep read is left alone.
   *
   * @return false if it was left alone so
   */
  private synchronized boolean remove(String reservationId,
      java.util.Map<String, StateFile> others) {
    if (reservationId == null || !OverlayPlan.ID.matcher(reservationId).matches()) {
      return true; // never recorded under such a name
    }
    if (others != null && preparing.containsKey(reservationId)) {
      return false;
    }
    Optional<StateFile> sf = read(reservationId);
    if (sf.isEmpty()) {
      refusedShared.remove(reservationId);
      return true;
    }
    removeOwned(sf.get(), others);
    records.delete(key(reservationId));
    return true;
  }

  /** The plan recorded for {@code reservationId}, built or not. */
  public synchronized Optional<OverlayPlan> recorded(String reservationId) {
    return read(reservationId).map(StateFile::plan);
  }

  /** Whether the overlay of {@code reservationId} is recorded as built. */
  public synchronized boolean built(String reservationId) {
    return read(reservationId).map(StateFile::built).orElse(false);
  }

  /**
   * Every readable recorded plan, in reservation-id order (an unreadable record, or one filed
   * under another reservation's id, is logged, naming the file, and skipped).
   */
  public synchronized List<OverlayPlan> recordedAll() {
    return filed(readAll());
  }

  /**
   * Every readable record by its key (file name), in key order, {@link #upgrade}d; unreadable
   * ones logged at ERROR and skipped. Includes misfiled ones (see {@link #filed}).
   */
  private java.util.Map<String, StateFile> readAll() {
    java.util.Map<String, StateFile> out = new java.util.LinkedHashMap<>();
    records.readAllByKey((f, e) -> log.error("overlay: skipping the unreadable record {} of site '{}': {}", f,
        site, e.getMessage())).forEach((key, sf) -> out.put(key, upgrade(sf)));
    return out;
  }

  /**
   * The plans of {@code all} ({@link #readAll}) but a record whose plan names another
   * reservation than its file (only damage makes one: {@link #write} files each by its plan's
   * id): logged at ERROR once per process and skipped, so the sweep and the restart never act
   * on it; {@link #record} still counts its VNI and names as taken.
   */
  private List<OverlayPlan> filed(java.util.Map<String, StateFile> all) {
    List<OverlayPlan> out = new ArrayList<>();
    all.forEach((key, sf) -> {
      if (key.equals(sf.plan().reservationId())) {
        out.add(sf.plan());
      } else if (reported.add(key + "\nmisfiled")) {
        log.error("overlay: record {} of site '{}' holds the plan of reservation {}, not of {}; it is"
            + " left alone (nothing built or removed from it) for the operator to inspect and remove",
            records.file(key), site, sf.plan().reservationId(), key);
      }
    });
    return out;
  }

  /**
   * Removes the overlays of every recorded reservation {@code live} says is not live (an
   * expired or ended hold, or one a crash left unrecorded), and stops {@link #expect}ing ids
   * that are not live. Call periodically and at start.
   *
   * @return how many could not be removed yet (logged; tried again next time)
   */
  public int sweep(Predicate<String> live) {
    int left = 0;
    // Read once: each removal checks for shared devices against these, less what it removed.
    java.util.Map<String, StateFile> read;
    List<OverlayPlan> all;
    synchronized (this) {
      read = readAll();
      refusedShared.retainAll(read.keySet());
      all = filed(read).stream().filter(p -> !preparing.containsKey(p.reservationId())).toList();
    }
    for (OverlayPlan p : all) {
      if (!live.test(p.reservationId())) {
        try {
          if (!remove(p.reservationId(), read)) {
            continue; // a Prepare of it came after this sweep read: not ended after all
          }
          read.remove(p.reservationId());
          forget(p.reservationId());
          log.info("reservation {}: its hold is not live; overlay removed from site '{}'", p.reservationId(), site);
        } catch (RuntimeException e) {
          if (!refusedAsShared(p.reservationId())) { // that one is logged once, at ERROR
            log.warn("{}; trying again later", e.getMessage());
          }
          left++;
        }
      }
    }
    // Ended holds whose record was already gone; live() is asked outside this lock.
    List<String> ended;
    synchronized (this) {
      ended = new ArrayList<>(expected);
    }
    ended.removeIf(live);
    synchronized (this) {
      expected.removeAll(ended);
    }
    lostAtStart.removeAll(ended); // a concurrent set; its ids are all expected (recover)
    return left;
  }

  /**
   * At start, after the holds are recovered: removes the overlays of holds that are not
   * {@code live}, {@link #expect}s every id of {@code withOverlay} (the live holds the ledger
   * says were prepared with an overlay end) and every live recorded one (holds recorded before
   * the ledger kept that), and builds those of {@code committed} ones that are not built (a
   * crash during Commit) or whose devices are gone (a host reboot: the record says built, the
   * kernel has nothing). An expected hold whose record is missing or unreadable is logged at
   * ERROR naming the reservation and the file: a prepared one's Commit will fail, a committed
   * one's overlay cannot be built again (its hold is kept; see the class comment). Failures are
   * logged (a retried commit or the next sweep tries again); an unreadable record is logged and
   * skipped.
   */
  public void recover(Predicate<String> live, Predicate<String> committed, java.util.Collection<String> withOverlay) {
    sweep(live);
    for (String id : withOverlay) {
      if (!live.test(id)) {
        continue; // expired since the list was made: the sweep removed its record
      }
      expect(id);
      String lost = lost(id);
      if (lost == null) {
        continue;
      }
      lostAtStart.add(id);
      if (committed.test(id)) {
        log.error("restart: reservation {} is committed with an overlay end on site '{}' but its record {} {}: its"
            + " overlay cannot be built again (the plan was only in the record), so its guests here have no link to"
            + " its other sites; the hold is kept and a retried Commit fails; release the reservation through the"
            + " GRC (grc cancel " + id + ")", id, site, file(id), lost);
      } else {
        log.error("restart: reservation {} was prepared with an overlay end on site '{}' but its record {} {}: its"
            + " Commit will fail (INTERNAL); the GRC retries it until its hold time passes, then ends the reservation",
            id, site, file(id), lost);
      }
    }
    for (OverlayPlan p : recordedAll()) {
      String id = p.reservationId();
      if (!live.test(id)) {
        continue;
      }
      expect(id);
      if (committed.test(id)) {
        try {
          rebuildIfGone(id);
          build(id);
        } catch (RuntimeException e) {
          log.warn("restart: {}", e.getMessage());
        }
      }
    }
  }

  /** Why the record of {@code reservationId} cannot be read ("is missing", "is unreadable (...)"); null: it can. */
  private synchronized String lost(String reservationId) {
    try {
      return read(reservationId).isPresent() ? null : "is missing";
    } catch (Errors.RequestException e) {
      return "is unreadable (" + e.getMessage() + ")";
    }
  }

  /** A built record some of whose devices are missing becomes unbuilt (what is left removed). */
  private synchronized void rebuildIfGone(String reservationId) {
    Optional<StateFile> sf = read(reservationId);
    if (sf.isEmpty() || !sf.get().built()) {
      return;
    }
    List<String> missing = new ArrayList<>();
    for (Owned o : sf.get().owned()) {
      if (!exists(o.netns(), o.device())) {
        missing.add(o.device());
      }
    }
    if (sf.get().owned().isEmpty() || !missing.isEmpty()) {
      log.warn("restart: the overlay of reservation {} on site '{}' is recorded built but {} missing (host rebooted?);"
          + " building it again", reservationId, site, missing.isEmpty() ? "its devices are" : missing + " are");
      StateFile left = removeOwned(sf.get());
      write(new StateFile(VERSION, false, left.plan(), left.owned()));
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

  /**
   * Removes the devices {@code sf} says this CRM created (tunnels first, then the bridge),
   * rewriting the record without each one that is gone; returns the record left. INTERNAL
   * naming every device it could not remove (the record keeps them).
   */
  private StateFile removeOwned(StateFile sf) {
    return removeOwned(sf, null);
  }

  /** {@link #removeOwned}, {@link #refuseShared} checking against {@code others} (null: read now). */
  private StateFile removeOwned(StateFile sf, java.util.Map<String, StateFile> others) {
    refuseShared(sf, others);
    List<String> problems = new ArrayList<>();
    List<Owned> order = new ArrayList<>(sf.owned());
    String bridge = sf.plan().bridge();
    order.sort(java.util.Comparator.comparing(o -> o.device().equals(bridge)));
    for (Owned o : order) {
      List<String> where = o.confirmed() ? List.of(o.netns()) : List.of("", netns);
      boolean gone = true;
      for (String ns : where.stream().distinct().toList()) {
        String problem = LinkCommands.ensureGone(runner, timeout, ns, o.device());
        if (problem != null) {
          problems.add(problem);
          gone = false;
        }
      }
      if (gone) {
        sf = disown(sf, o.device());
      }
    }
    if (!problems.isEmpty()) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "overlay: removing the overlay of reservation "
          + sf.plan().reservationId() + " from site '" + site + "' left " + String.join("; ", problems)
          + " (record kept in " + file(sf.plan().reservationId()) + ")");
    }
    return sf;
  }

  /**
   * INTERNAL, before anything is removed, when a device {@code sf} owns is also named by another
   * record's plan: {@link #record} never lets two records share a name, so one of them is
   * damaged (e.g. a plan copied from one record into another) and this CRM cannot tell which
   * reservation the device is; both records stay for the operator.
   */
  private void refuseShared(StateFile sf, java.util.Map<String, StateFile> others) {
    assert Thread.holdsLock(this);
    String id = sf.plan().reservationId();
    String why = shared(sf, others);
    if (why == null) {
      refusedShared.remove(id); // not shared (any more): a recurrence is logged again
      return;
    }
    if (refusedShared.add(id)) {
      log.error("{}", why);
    }
    throw new Errors.RequestException(Status.Code.INTERNAL, why);
  }

  /** Why {@link #refuseShared} refuses {@code sf}; null: it does not. */
  private String shared(StateFile sf, java.util.Map<String, StateFile> others) {
    if (sf.owned().isEmpty()) {
      return null;
    }
    String id = sf.plan().reservationId();
    // Silently: unreadable records are reported by the sweep and the restart.
    var all = others != null ? others : records.readAllByKey((f, x) -> { });
    for (var e : all.entrySet()) {
      if (e.getKey().equals(id)) {
        continue;
      }
      for (Owned o : sf.owned()) {
        if (e.getValue().plan().devices().contains(o.device())) {
          return "overlay: device " + o.device() + " of reservation " + id + " (record "
              + file(id) + ") is also named by record " + records.file(e.getKey()) + " on site '"
              + site + "': one of them is damaged; nothing is removed for either until the"
              + " operator removes the wrong one";
        }
      }
    }
    return null;
  }

  /** Whether {@link #refuseShared} refused (and logged) the removal of {@code id} already. */
  private synchronized boolean refusedAsShared(String id) {
    return refusedShared.contains(id);
  }

  /** Removes what {@code sf} owns; says how that went. */
  private String removeQuietly(StateFile sf) {
    try {
      removeOwned(sf);
      return "what was built is removed";
    } catch (RuntimeException e) {
      return "cleaning up failed too (" + e.getMessage() + ")";
    }
  }

  /** ALREADY_EXISTS naming the field of the first device of {@code p} present on the host or in the underlay. */
  private void refuseExisting(OverlayPlan p) {
    for (String d : p.devices()) {
      refuseExisting(p, d, null);
    }
  }

  private void refuseExisting(OverlayPlan p, String device, StateFile sf) {
    if (sf != null && sf.owned().stream().anyMatch(o -> o.device().equals(device))) {
      return;
    }
    for (String ns : netns.isEmpty() ? List.of("") : List.of("", netns)) {
      if (exists(ns, device)) {
        String field = device.equals(p.bridge()) ? "overlay.bridge" : "overlay.tunnels["
            + p.tunnels().stream().map(OverlayPlan.Tunnel::device).toList().indexOf(device) + "].device";
        throw Errors.alreadyExists(field + ": " + device + " of reservation " + p.reservationId()
            + " already exists on site '" + site + "'" + (ns.isEmpty() ? " (host)" : " (netns " + ns + ")")
            + " and was not made by this CRM; refusing to use it");
      }
    }
  }

  /**
   * Whether {@code dev} is in {@code ns} ({@link LinkCommands#lookUp}: a missing underlay
   * namespace means absent); INTERNAL when ip cannot tell.
   */
  private boolean exists(String ns, String dev) {
    LinkCommands.Lookup l = LinkCommands.lookUp(runner, timeout, ns, dev);
    if (l.presence() == LinkCommands.Presence.UNKNOWN) {
      throw new Errors.RequestException(Status.Code.INTERNAL, "overlay: cannot tell whether device " + dev
          + " exists on site '" + site + "': " + l.show().describe());
    }
    return l.presence() == LinkCommands.Presence.PRESENT;
  }

  /** {@code sf} with {@code o} (replacing any entry of its device), written. */
  private StateFile own(StateFile sf, Owned o) {
    List<Owned> l = new ArrayList<>(sf.owned().stream().filter(x -> !x.device().equals(o.device())).toList());
    l.add(o);
    StateFile n = new StateFile(VERSION, sf.built(), sf.plan(), l);
    write(n);
    return n;
  }

  /** {@code sf} without {@code device}, written. */
  private StateFile disown(StateFile sf, String device) {
    StateFile n = new StateFile(VERSION, sf.built(), sf.plan(),
        sf.owned().stream().filter(x -> !x.device().equals(device)).toList());
    write(n);
    return n;
  }

  /** The device {@code ip [-n ns] link add name DEV ...} creates, else null. */
  private static String addedDevice(List<String> argv) {
    int i = argv.indexOf("link");
    return i >= 0 && argv.size() > i + 3 && argv.get(i + 1).equals("add") && argv.get(i + 2).equals("name")
        ? argv.get(i + 3) : null;
  }

  /** The device {@code ip -n ns link set dev DEV netns 1} moves to the host, else null. */
  private static String movedDevice(List<String> argv) {
    int n = argv.size();
    return n > 5 && argv.get(n - 2).equals("netns") && argv.get(n - 1).equals("1") && argv.get(n - 4).equals("dev")
        ? argv.get(n - 3) : null;
  }

  private static String netnsOf(List<String> argv) {
    return argv.size() > 2 && argv.get(1).equals("-n") ? argv.get(2) : "";
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

  /**
   * The record of {@code reservationId} as read back ({@link #upgrade}d), its {@code owned}
   * {@link #vetted}: every path that removes or cleans devices reads it here.
   */
  private Optional<StateFile> read(String reservationId) {
    Optional<StateFile> sf = records.read(key(reservationId)).map(SiteOverlay::upgrade);
    if (sf.isPresent() && !reservationId.equals(sf.get().plan().reservationId())) {
      // Only damage makes this (write() keys every record by its plan's id): never act on it.
      throw new Errors.RequestException(Status.Code.INTERNAL, "overlay: record "
          + file(reservationId) + " of site '" + site + "' holds the plan of reservation "
          + sf.get().plan().reservationId() + ", not of " + reservationId + "; it is left alone"
          + " (nothing built or removed from it) for the operator to inspect and remove");
    }
    return sf.map(x -> vetted(file(reservationId), x));
  }

  /**
   * {@code sf} (read back from {@code f}) without the owned entries its plan cannot have made,
   * so they are never removed: a device not among the plan's {@link OverlayPlan#ownableDevices}
   * (e.g. {@code eth0}, the site's uplink, or another reservation's device), or in a namespace
   * other than the host's or {@code overlay.netns} (where a build makes its devices). Each is
   * logged at WARN, once per process, naming the file, the entry and the expected names. The
   * file itself is not rewritten here; the next write of the record leaves the entry out.
   */
  private StateFile vetted(Path f, StateFile sf) {
    List<String> expected = sf.plan().ownableDevices();
    List<Owned> kept = new ArrayList<>();
    for (Owned o : sf.owned()) {
      String ns = o.netns() == null ? "" : o.netns();
      boolean ours = expected.contains(o.device()) && (ns.isEmpty() || ns.equals(netns));
      if (ours) {
        kept.add(new Owned(o.device(), ns, o.confirmed()));
      } else if (reported.add(f + "\n" + o)) {
        log.warn("overlay: record {} of site '{}' lists device {}{} as created by this CRM, but"
                + " for reservation {} it may remove only {} (the devices its plan makes, on the"
                + " host{}): entry refused, the device is never removed by this CRM",
            f, site, o.device(), ns.isEmpty() ? "" : " in netns " + ns,
            sf.plan().reservationId(), expected, netns.isEmpty() ? "" : " or in netns " + netns);
      }
    }
    return kept.equals(sf.owned()) ? sf : new StateFile(sf.version(), sf.built(), sf.plan(), kept);
  }

  /**
   * A version-1 record (no {@code owned}) that says built: its devices were made by this CRM
   * from the record, so they are taken as owned, in the host. An unbuilt one owns nothing.
   */
  private static StateFile upgrade(StateFile sf) {
    if (sf.version() >= VERSION || !sf.built()) {
      return sf;
    }
    return new StateFile(VERSION, true, sf.plan(),
        sf.plan().devices().stream().map(d -> new Owned(d, "", true)).toList());
  }

  private void write(StateFile sf) {
    records.write(key(sf.plan().reservationId()), sf);
  }
}
