package org.lambdagrid.it;

import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.lambdagrid.crm.pilot.PilotHandle;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.crm.pilot.PilotStartException;
import org.lambdagrid.crm.pilot.PilotStarter;
import org.lambdagrid.nodemanager.NodeManager;
import org.lambdagrid.nodemanager.NodeManagerConfig;
import org.lambdagrid.nodemanager.PilotIdentity;
import org.lambdagrid.nodemanager.driver.DriverContext;
import org.lambdagrid.nodemanager.driver.GuestDriver;
import org.lambdagrid.nodemanager.driver.GuestDrivers;

/**
 * Starts real {@link NodeManager}s in this JVM, each with the fake guest driver, dialling the
 * CRM over the in-process transport named by the launch's endpoint host. Fake failures are set
 * per cluster through {@code fakeConfig} (keys of the fake driver: fail_at, hang_at, only_on).
 */
final class InProcessPilotStarter implements PilotStarter {
  private final Path stateDir;
  private final Map<String, Object> fakeConfig;

  InProcessPilotStarter(Path stateDir, Map<String, Object> fakeConfig) {
    this.stateDir = stateDir;
    this.fakeConfig = fakeConfig;
  }

  record Handle(PilotLaunch launch, NodeManager nodeManager, ManagedChannel channel)
      implements PilotHandle {
    @Override
    public String describe() {
      return "in-process NodeManager " + launch.hostname() + " (" + nodeManager.state() + ")";
    }
  }

  @Override
  public PilotHandle start(PilotLaunch launch) throws PilotStartException {
    Path dir = stateDir.resolve(launch.jobId() + "-" + launch.hostname());
    NodeManagerConfig config = NodeManagerConfig.of("fake", fakeConfig, dir)
        .withConnectTimeout(Duration.ofSeconds(5));
    GuestDriver driver = GuestDrivers.create("fake", new DriverContext(fakeConfig, dir));
    ManagedChannel channel =
        InProcessChannelBuilder.forName(launch.crmPilotEndpoint().host()).build();
    NodeManager nm = new NodeManager(config, driver, channel,
        new PilotIdentity(launch.jobId(), launch.nodeIndex(), launch.credential()));
    try {
      nm.start();
    } catch (Exception e) {
      channel.shutdownNow();
      throw new PilotStartException("NodeManager " + launch.hostname() + " did not start: " + e);
    }
    return new Handle(launch, nm, channel);
  }

  @Override
  public void stop(PilotHandle handle) {
    Handle h = (Handle) handle;
    h.nodeManager().close();
    h.channel().shutdownNow();
  }
}
