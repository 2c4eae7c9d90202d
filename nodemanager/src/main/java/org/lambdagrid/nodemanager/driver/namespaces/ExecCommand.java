package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.lambdagrid.common.PosixNames;
import org.lambdagrid.nodemanager.driver.ExecRequest;
import org.lambdagrid.nodemanager.driver.GuestException;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestTrust;
import org.lambdagrid.nodemanager.driver.OutputSink;

/**
 * EXEC: the user's command, started inside the guest as the user, never as root.
 *
 * <p>Thread-safe; holds no state.
 */
final class ExecCommand {
  private ExecCommand() {}


  /** Why {@code request} cannot run in {@code guest}, as an exception; pure. */
  static void check(GuestHandle guest, ExecRequest request) throws GuestException {
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
      if (!PosixNames.ENV_NAME.matcher(key).matches()) {
        throw new GuestException("environment variable name '" + key + "' is not valid");
      }
    }
  }

  /**
   * Checks the request, then starts it in the built guest as {@code user} (the guest's user,
   * whom {@link #check} requires the request to name); output goes to {@code sink}.
   */
  static JobProcess start(GuestHandle guest, ExecRequest request, OutputSink sink,
      NamespacesDriverConfig config, GuestUser user) throws GuestException {
    Objects.requireNonNull(sink, "sink");
    check(guest, request);
    GuestRecord rec = GuestRecord.loadFor(guest);
    GuestRecord.Proc init = rec.proc(GuestRecord.INIT);
    if (init == null || !init.alive()) {
      throw new GuestException("guest " + guest.id() + " is not built (no init process)");
    }
    Path etc = GuestLayout.etc(guest.stateDir());
    List<String> argv = CgroupStep.joined(rec, argv(init.pid(), user, config.guestPath(),
        SafeFiles.readOrEmpty(etc.resolve(GuestLayout.HOSTFILE)),
        SafeFiles.readOrEmpty(etc.resolve("hosts")), request));
    Process p;
    try {
      p = new ProcessBuilder(argv)
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .start();
    } catch (IOException e) {
      throw new GuestException("cannot start the job: " + e.getMessage(), e);
    }
    return new JobProcess(p, sink, config.killGrace());
  }

  /**
   * The command line that enters the guest and drops to the user: nsenter (all of the guest's
   * namespaces and its root), setpriv (uid, gid, supplementary groups, no capabilities in any
   * set, no_new_privs), env -i (a clean environment), sh (cd to the working directory as the
   * user, then exec the command, found on the guest PATH). {@code hostfile} and {@code hosts}
   * are the guest's root-owned copies (etc/), for LAMBDAGRID_NODES. Pure.
   */
  static List<String> argv(long initPid, GuestUser user, String guestPath, String hostfile,
      String hosts, ExecRequest request) {
    // Absolute paths, resolved on the host: the guest's root is the host's / (overlay), so the
    // same file runs inside it; no PATH lookup (root's or the job's) decides what root runs.
    List<String> argv = new ArrayList<>(List.of(Commands.tool("nsenter"), "--target",
        Long.toString(initPid), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd"));
    argv.addAll(user.asUser(Commands.tool("env"), "-i"));
    environment(user, guestPath, hostfile, hosts, request)
        .forEach((k, v) -> argv.add(k + "=" + v));
    argv.addAll(List.of("/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\"",
        request.workingDirectory()));
    argv.addAll(request.argv());
    return argv;
  }

  /** The job's whole environment, in order; the driver's LAMBDAGRID_* win over the request's. */
  static Map<String, String> environment(GuestUser user, String guestPath, String hostfile,
      String hosts, ExecRequest request) {
    Map<String, String> env = new LinkedHashMap<>();
    env.put("HOME", user.home().toString());
    env.put("USER", user.name());
    env.put("LOGNAME", user.name());
    env.put("SHELL", user.shell().isEmpty() ? "/bin/sh" : user.shell());
    env.put("PATH", guestPath);
    env.put("LANG", "C.UTF-8");
    env.putAll(request.env());
    env.put("LAMBDAGRID_HOSTFILE", GuestLayout.hostfileInGuest(user.home()).toString());
    env.put("LAMBDAGRID_NODES", new GuestTrust(hostfile, "", "", hosts).nodeNames());
    return env;
  }
}
