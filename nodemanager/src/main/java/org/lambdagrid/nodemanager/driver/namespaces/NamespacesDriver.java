package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.lambdagrid.nodemanager.driver.Capabilities;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestKeys;
import org.lambdagrid.nodemanager.driver.GuestSpec;
import org.lambdagrid.nodemanager.driver.GuestStatus;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.lambdagrid.nodemanager.driver.LimitEvents;
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
 * <p>This class only orchestrates. SETUP checks ({@link SpecValidation}), creates the guest's
 * directory and record ({@link StateDir}), then runs the build steps ({@link GuestSteps}: files,
 * cgroups, keys, network, processes), each undone in reverse from the record alone on failure and
 * on destroy. RUN is {@link SshdStarter}, EXEC {@link ExecCommand}, SET_KEYS {@link TrustFiles},
 * GET_STATUS {@link GuestInspection}, the host check {@link HostCheck}.
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

  private final NamespacesDriverConfig config;
  private final StateDir stateDir;
  private final GuestSteps steps;
  private final SshdStarter sshd;
  /**
   * The user each guest of this instance was built for, as looked up at build: SET_KEYS and
   * EXEC use it instead of asking the passwd database (a getent process) again. A guest
   * recovered after a restart is looked up anew.
   */
  private final Map<String, GuestUser> users = new ConcurrentHashMap<>();

  public NamespacesDriver(NamespacesDriverConfig config) {
    this.config = Objects.requireNonNull(config, "config");
    this.stateDir = new StateDir(config);
    this.steps = GuestSteps.of(config);
    this.sshd = new SshdStarter(config);
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
    return new Capabilities(true, true, true, true);
  }

  @Override
  public List<String> checkHost() {
    return HostCheck.problems(config);
  }

  @Override
  public GuestHandle build(GuestSpec spec) throws GuestException {
    SpecValidation.validate(spec);
    String bridge = SpecValidation.bridgeFor(config, spec);
    GuestUser user = SpecValidation.userFor(spec);
    GuestRecord rec = stateDir.newGuest(spec, id -> IN_USE.put(id, this));
    try {
      steps.build(new NewGuest(rec, spec, user, bridge));
      sshd.recordStarted(rec, rec.handle()); // init started it; RUN waits until it listens
    } catch (GuestException | IOException | RuntimeException e) {
      String why = e instanceof GuestException ? e.getMessage() : e.toString();
      List<String> left = steps.undo(rec);
      throw new GuestException("building guest " + rec.id() + " (" + spec.hostname() + ") failed: "
          + why + (left.isEmpty() ? "; undone" : "; could not undo: " + left
              + " (recorded in " + rec.dir() + ", destroy will retry)"), e);
    }
    users.put(rec.id(), user);
    log.info("built guest {} ({} {}/{}) in netns {}{}", rec.id(), spec.hostname(), spec.address(),
        spec.prefixLength(), NetworkPlan.netns(rec.id()),
        spec.shape().limited() ? " with " + CgroupStep.describe(rec) : "");
    return rec.handle();
  }

  @Override
  public GuestKeys publicKeys(GuestHandle guest) throws GuestException {
    return KeysStep.publicKeys(guest);
  }

  @Override
  public void installTrust(GuestHandle guest, GuestTrust trust) throws GuestException {
    TrustFiles.install(guest, trust, userOf(guest));
  }

  @Override
  public void start(GuestHandle guest) throws GuestException {
    sshd.start(guest);
    log.info("guest {} sshd listening on {}:22", guest.id(), guest.spec().address());
  }

  @Override
  public RunningCommand exec(GuestHandle guest, ExecRequest request, OutputSink sink)
      throws GuestException {
    RunningCommand job = ExecCommand.start(guest, request, sink, config, userOf(guest));
    log.info("guest {} exec as {}: {}", guest.id(), request.user(), request.argv());
    return job;
  }

  @Override
  public void stop(GuestHandle guest) {
    GuestRecord rec;
    try {
      rec = GuestRecord.loadFor(guest);
      if (!ProcessesStep.stopInside(rec, config.killGrace())) {
        return;
      }
    } catch (GuestException e) {
      return;
    } catch (RuntimeException e) { // a damaged record: destroy reports it
      log.warn("guest {} not stopped: {}", guest.id(), e.getMessage());
      return;
    }
    sshd.reap(guest.id());
    log.info("guest {} stopped", guest.id());
  }

  /** The user {@code guest} was built for: as looked up at its build, or now. */
  private GuestUser userOf(GuestHandle guest) throws GuestException {
    GuestUser known = users.get(guest.id());
    return known != null ? known : GuestUser.lookup(guest.spec().user());
  }

  @Override
  public List<String> destroy(GuestHandle guest) {
    users.remove(guest.id());
    sshd.forget(guest.id());
    IN_USE.remove(guest.id());
    GuestRecord rec;
    try {
      if (!Files.exists(guest.stateDir().resolve(GuestRecord.FILE))) {
        if (Files.exists(guest.stateDir())) {
          return StateDir.remove(guest.stateDir());
        }
        return List.of();
      }
      rec = GuestRecord.load(guest.stateDir());
    } catch (IOException | RuntimeException e) {
      return List.of(GuestRecord.unreadable(guest.stateDir(), e));
    }
    List<String> left = steps.undo(rec);
    if (left.isEmpty()) {
      log.info("guest {} destroyed", guest.id());
    } else {
      log.warn("guest {} destroy left {}", guest.id(), left);
    }
    return left;
  }

  @Override
  public GuestStatus inspect(GuestHandle guest) {
    return GuestInspection.of(guest);
  }

  @Override
  public LimitEvents limitEvents(GuestHandle guest) {
    try {
      return CgroupStep.limitEvents(GuestRecord.load(guest.stateDir()), CgroupFs.KERNEL);
    } catch (IOException | RuntimeException e) {
      return LimitEvents.NONE;
    }
  }

  @Override
  public List<GuestHandle> recover() {
    return stateDir.recoverable(rec -> {
      NamespacesDriver user = IN_USE.get(rec.id());
      // Another pilot in this process (the node agent) is using it.
      return rec.ownedByThisProcess() && user != null && user != this;
    });
  }
}
