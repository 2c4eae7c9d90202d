package org.lambdagrid.nodemanager.driver;

import java.util.List;

/**
 * Builds and runs one OS-level guest per job on this node. The NodeManager owns exactly one
 * driver instance, chosen by name in its config ({@link GuestDrivers}).
 *
 * <p>Call order for one job: {@link #checkHost} once at start-up, then {@link #build} (SETUP),
 * {@link #publicKeys} (GET_KEYS), {@link #installTrust} (SET_KEYS), {@link #start} (RUN),
 * {@link #exec} (EXEC, at most once), and always {@link #destroy} at the end, whatever happened
 * before. {@link #stop} and {@link #destroy} must succeed on a half-built guest, on a guest that
 * is already gone, and when called twice. Calls for one guest are made from one thread at a
 * time; a driver may serve several guests.
 */
public interface GuestDriver {

  /** The name this driver is chosen by in the NodeManager config, e.g. "namespaces". */
  String name();

  /** What this driver can do, declared as data. */
  Capabilities capabilities();

  /**
   * Says why this host cannot run this driver, in plain words ("the namespaces driver must run
   * as root"), or returns an empty list if it can. Called before anything is built; must not
   * change the host.
   */
  List<String> checkHost();

  /**
   * SETUP: builds the guest (network with exactly one interface holding {@code spec.address()},
   * file system view, private ~/.ssh) and generates a fresh host key pair and user key pair in
   * it. On failure undoes what it did and throws; the handle of a partly built guest is still
   * recorded so that {@link #destroy} can finish the job after a crash.
   */
  GuestHandle build(GuestSpec spec) throws GuestException;

  /** GET_KEYS: the guest's public host and user keys, OpenSSH one-line format. Idempotent. */
  GuestKeys publicKeys(GuestHandle guest) throws GuestException;

  /** SET_KEYS: writes hostfile, known_hosts, authorized_keys and hosts entries. Idempotent. */
  void installTrust(GuestHandle guest, GuestTrust trust) throws GuestException;

  /** RUN: starts the guest's sshd; returns once it accepts connections. Idempotent. */
  void start(GuestHandle guest) throws GuestException;

  /**
   * EXEC: starts the user's command inside the guest as {@code request.user()}, never as root.
   * Output goes to {@code sink} from a driver thread; the returned handle reports the exit.
   */
  RunningCommand exec(GuestHandle guest, ExecRequest request, OutputSink sink)
      throws GuestException;

  /** Stops every process in the guest (command, sshd). Idempotent; never throws for "gone". */
  void stop(GuestHandle guest);

  /**
   * Removes everything the guest owns (processes, namespaces, links, mounts, directories) in
   * reverse order of building. Idempotent; works on half-built guests. Returns the problems it
   * could not fix (empty when everything is gone).
   */
  List<String> destroy(GuestHandle guest);

  /** What is there now, from the recorded state and the kernel. */
  GuestStatus inspect(GuestHandle guest);

  /**
   * How often the guest's processes ran into the limits SETUP gave it ({@link GuestSpec#cpus},
   * {@link GuestSpec#memoryBytes}) since it was built: the NodeManager reports what grew, so a
   * job the kernel killed for its memory limit says so instead of dying of a bare signal. Called
   * about once a second while a guest with a memory limit is up, and once when the command
   * exits; cheap (a file read) and safe to call at any time, also on a guest that is gone.
   * Never throws. Drivers without {@link Capabilities#resourceLimits} keep the default.
   */
  default LimitEvents limitEvents(GuestHandle guest) {
    return LimitEvents.NONE;
  }

  /**
   * Guests this driver recorded under its state directory that are still (partly) there and
   * whose owning NodeManager is gone (e.g. it crashed), plus this instance's own. Guests of
   * another live NodeManager sharing the state directory (another process, or another pilot in
   * the same node agent process) are not returned. The NodeManager destroys the returned guests
   * at start-up.
   */
  List<GuestHandle> recover();
}
