package org.lambdagrid.nodemanager.driver.namespaces;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestStatus;

/** GET_STATUS: what of a guest is there now, from its record and the kernel. Changes nothing. */
final class GuestInspection {
  private GuestInspection() {}

  /**
   * Built means the netns exists and init runs. Leftovers are every recorded object that still
   * exists: processes, the netns, the host-side interface, cgroups, the state directory.
   */
  static GuestStatus of(GuestHandle guest) {
    List<String> left = new ArrayList<>();
    boolean built = false;
    boolean sshdRunning = false;
    if (Files.exists(guest.stateDir().resolve(GuestRecord.FILE))) {
      try {
        GuestRecord rec = GuestRecord.load(guest.stateDir());
        for (String key : List.of(GuestRecord.INIT, GuestRecord.HOLDER, GuestRecord.SSHD)) {
          GuestRecord.Proc p = rec.proc(key);
          if (p != null && p.alive()) {
            left.add(key + " process " + p.pid());
          }
        }
        GuestRecord.Proc init = rec.proc(GuestRecord.INIT);
        GuestRecord.Proc sshd = rec.proc(GuestRecord.SSHD);
        String ns = NetworkStep.ownNetns(rec);
        if (ns != null) {
          left.add("network namespace " + ns);
        }
        String link = NetworkStep.ownLink(rec);
        if (link != null) {
          left.add("interface " + link);
        }
        NetworkStep.refusals(rec).forEach(r -> left.add(r + "; destroy will refuse it"));
        left.addAll(CgroupStep.leftovers(rec, CgroupFs.KERNEL));
        built = ns != null && init != null && init.alive();
        sshdRunning = sshd != null && sshd.alive();
      } catch (IOException | RuntimeException e) {
        left.add(GuestRecord.unreadable(guest.stateDir(), e));
      }
    }
    if (Files.exists(guest.stateDir())) {
      left.add("state directory " + guest.stateDir());
    }
    return new GuestStatus(built, sshdRunning, left);
  }
}
