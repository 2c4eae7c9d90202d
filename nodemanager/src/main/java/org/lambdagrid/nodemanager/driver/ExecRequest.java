package org.lambdagrid.nodemanager.driver;

import java.util.List;
import java.util.Map;

/**
 * The user's command. The driver adds {@code LAMBDAGRID_HOSTFILE} and {@code LAMBDAGRID_NODES}.
 *
 * @param argv command and arguments; argv[0] is looked up on PATH
 * @param env added to the command's environment
 * @param workingDirectory absolute path on the shared file system
 * @param user login name; the command runs with this user's uid, gid and groups
 */
public record ExecRequest(
    List<String> argv, Map<String, String> env, String workingDirectory, String user) {
  public ExecRequest {
    argv = List.copyOf(argv);
    env = Map.copyOf(env);
  }
}
