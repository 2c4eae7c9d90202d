package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.common.HostCommand;
import org.lambdagrid.common.security.HostTools;

/**
 * Why this host cannot run the namespaces driver with a config, in plain words: root, kernel
 * features, host tools, the bridge or parent interface, the state directory. Changes nothing.
 */
final class HostCheck {
  private HostCheck() {}

  /** The host tools the driver runs, each with the package that has it. */
  private static final String[][] TOOLS = {
      {"ip", "iproute2"}, {"unshare", "util-linux"}, {"nsenter", "util-linux"},
      {"setpriv", "util-linux"}, {"mount", "mount"}, {"chroot", "coreutils"},
      {"hostname", "hostname"}, {"getent", "libc-bin"}, {"bash", "bash"}};

  /** Everything that is missing; empty when the driver can run. */
  static List<String> problems(NamespacesDriverConfig config) {
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
    String self = Long.toString(ProcessHandle.current().pid());
    if (!Files.exists(Path.of("/proc", self, "task", self, "children"))) {
      problems.add("the kernel has no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN), which"
          + " the driver reads to find a guest's processes");
    }
    if (!Files.isExecutable(Path.of(config.sshdPath()))) {
      problems.add("no OpenSSH server at " + config.sshdPath()
          + " (install openssh-server or set namespaces.sshd)");
    }
    for (String[] tool : TOOLS) {
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
}
