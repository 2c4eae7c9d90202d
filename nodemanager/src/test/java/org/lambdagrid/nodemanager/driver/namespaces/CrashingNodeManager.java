package org.lambdagrid.nodemanager.driver.namespaces;

import java.nio.file.Path;
import java.util.List;
import org.lambdagrid.nodemanager.driver.GuestHandle;
import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * Test helper run in a child JVM: builds and starts one guest, prints its id, then waits to be
 * SIGKILLed, like a NodeManager that dies in the middle of a job.
 *
 * <p>Arguments: stateDir bridge hostname address/prefix user
 */
public final class CrashingNodeManager {
  private CrashingNodeManager() {}

  public static void main(String[] args) throws Exception {
    NamespacesDriverConfig config = NamespacesDriverConfig.bridge(args[1])
        .withStateDir(Path.of(args[0]));
    NamespacesDriver driver = new NamespacesDriver(config);
    String[] addr = args[3].split("/");
    GuestHandle g = driver.build(new GuestSpec("crash", args[2], addr[0],
        Integer.parseInt(addr[1]), List.of(), args[4]));
    driver.start(g);
    System.out.println("GUEST " + g.id());
    System.out.flush();
    Thread.sleep(600_000);
  }
}
