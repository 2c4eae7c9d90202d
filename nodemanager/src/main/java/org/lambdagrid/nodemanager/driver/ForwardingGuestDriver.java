package org.lambdagrid.nodemanager.driver;

import java.util.List;

/**
 * A driver that does what another does; a decorator (the node agent's metrics, tests) overrides
 * what it changes.
 */
public class ForwardingGuestDriver implements GuestDriver {
  private final GuestDriver d;

  public ForwardingGuestDriver(GuestDriver d) {
    this.d = d;
  }

  @Override
  public String name() {
    return d.name();
  }

  @Override
  public Capabilities capabilities() {
    return d.capabilities();
  }

  @Override
  public List<String> checkHost() {
    return d.checkHost();
  }

  @Override
  public GuestHandle build(GuestSpec spec) throws GuestException {
    return d.build(spec);
  }

  @Override
  public GuestKeys publicKeys(GuestHandle guest) throws GuestException {
    return d.publicKeys(guest);
  }

  @Override
  public void installTrust(GuestHandle guest, GuestTrust trust) throws GuestException {
    d.installTrust(guest, trust);
  }

  @Override
  public void start(GuestHandle guest) throws GuestException {
    d.start(guest);
  }

  @Override
  public RunningCommand exec(GuestHandle guest, ExecRequest request, OutputSink sink)
      throws GuestException {
    return d.exec(guest, request, sink);
  }

  @Override
  public void stop(GuestHandle guest) {
    d.stop(guest);
  }

  @Override
  public List<String> destroy(GuestHandle guest) {
    return d.destroy(guest);
  }

  @Override
  public GuestStatus inspect(GuestHandle guest) {
    return d.inspect(guest);
  }

  @Override
  public LimitEvents limitEvents(GuestHandle guest) {
    return d.limitEvents(guest);
  }

  @Override
  public List<GuestHandle> recover() {
    return d.recover();
  }
}
