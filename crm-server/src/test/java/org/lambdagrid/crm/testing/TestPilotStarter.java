package org.lambdagrid.crm.testing;

import io.grpc.Channel;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.lambdagrid.crm.pilot.PilotHandle;
import org.lambdagrid.crm.pilot.PilotLaunch;
import org.lambdagrid.crm.pilot.PilotStartException;
import org.lambdagrid.crm.pilot.PilotStarter;

/**
 * A {@link PilotStarter} for tests: records every launch and stop, and (when given a channel to
 * the CRM) starts an in-JVM {@link TestPilot} per launch, configured by a hook. Failures are set
 * per node: refuse to start, or start a pilot that "dies" before dialling in.
 */
public final class TestPilotStarter implements PilotStarter {
  private final Supplier<Channel> channel;
  private final List<PilotLaunch> launches = new CopyOnWriteArrayList<>();
  private final List<PilotLaunch> stops = new CopyOnWriteArrayList<>();
  private final Map<Integer, TestPilot> pilots = new ConcurrentHashMap<>();
  private final Map<Integer, String> failStart = new ConcurrentHashMap<>();
  private final Set<Integer> dieBeforeDialling = ConcurrentHashMap.newKeySet();
  private final Set<Integer> neverDial = ConcurrentHashMap.newKeySet();
  private final Map<Integer, String> launchProblems = new ConcurrentHashMap<>();
  private final AtomicInteger launchChecks = new AtomicInteger();
  private volatile Consumer<TestPilot> configure = p -> { };

  /** @param channel to the CRM's PilotService, or null to only record launches */
  public TestPilotStarter(Supplier<Channel> channel) {
    this.channel = channel;
  }

  /** Configures each test pilot before it connects (e.g. {@code p -> p.silentOn(SETUP)}). */
  public TestPilotStarter configure(Consumer<TestPilot> hook) {
    this.configure = hook;
    return this;
  }

  public TestPilotStarter failStart(int node, String message) {
    failStart.put(node, message);
    return this;
  }

  /** The node's launcher "exits" at once: isAlive() is false and no pilot dials in. */
  public TestPilotStarter dieBeforeDialling(int node) {
    dieBeforeDialling.add(node);
    return this;
  }

  /** The node's pilot stays alive but never dials in. */
  public TestPilotStarter neverDial(int node) {
    neverDial.add(node);
    return this;
  }

  /**
   * The node's pilot never dials in and {@link #launchProblem} reports this (as a batch system
   * starter reports a pilot stuck in its queue).
   */
  public TestPilotStarter stuck(int node, String problem) {
    neverDial.add(node);
    launchProblems.put(node, problem);
    return this;
  }

  @Override
  public String launchProblem(PilotHandle handle) {
    launchChecks.incrementAndGet();
    String p = launchProblems.get(handle.launch().nodeIndex());
    return p != null ? p : PilotStarter.super.launchProblem(handle);
  }

  @Override
  public PilotHandle start(PilotLaunch launch) throws PilotStartException {
    launches.add(launch);
    String fail = failStart.get(launch.nodeIndex());
    if (fail != null) {
      throw new PilotStartException(fail);
    }
    Handle h = new Handle(launch);
    if (dieBeforeDialling.contains(launch.nodeIndex())) {
      h.alive = false;
      return h;
    }
    if (channel != null && !neverDial.contains(launch.nodeIndex())) {
      TestPilot p = new TestPilot(channel.get(), launch);
      configure.accept(p);
      pilots.put(launch.nodeIndex(), p);
      p.connect();
    }
    return h;
  }

  @Override
  public void stop(PilotHandle handle) {
    Handle h = (Handle) handle;
    if (!h.alive) {
      return;
    }
    h.alive = false;
    stops.add(h.launch);
    TestPilot p = pilots.get(h.launch.nodeIndex());
    if (p != null) {
      p.hangUp();
    }
  }

  @Override
  public boolean isAlive(PilotHandle handle) {
    return ((Handle) handle).alive;
  }

  public List<PilotLaunch> launches() {
    return List.copyOf(launches);
  }

  public List<PilotLaunch> stops() {
    return List.copyOf(stops);
  }

  /** How often a phase asked for launch problems: more than 0 once one waits at its barrier. */
  public int launchChecks() {
    return launchChecks.get();
  }

  /** The test pilot of a node index (of the last launch for it), or null. */
  public TestPilot pilot(int node) {
    return pilots.get(node);
  }

  private static final class Handle implements PilotHandle {
    final PilotLaunch launch;
    volatile boolean alive = true;

    Handle(PilotLaunch launch) {
      this.launch = launch;
    }

    @Override
    public PilotLaunch launch() {
      return launch;
    }

    @Override
    public String describe() {
      return "test pilot " + launch.hostname() + (alive ? ", running" : ", exited with code 1");
    }
  }
}
