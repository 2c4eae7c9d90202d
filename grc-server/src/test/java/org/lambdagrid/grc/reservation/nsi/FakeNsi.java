package org.lambdagrid.grc.reservation.nsi;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.lambdagrid.nsi.NsiConnection;
import org.lambdagrid.nsi.NsiException;
import org.lambdagrid.nsi.NsiProvider;
import org.lambdagrid.nsi.NsiRequester;

/**
 * An NSI provider in memory with the CS 2.0 state machines the GRC drives (ReserveHeld,
 * ReserveStart, Provisioned/Released, Created/Terminated), a per-port capacity, and hooks to
 * refuse, stay silent or see what the GRC had recorded when a request arrived.
 */
final class FakeNsi implements NsiProvider {
  static final String NSA = "urn:ogf:network:fake.net:2026:nsa";

  static final class Conn {
    final String id;
    final String gri;
    final NsiRequester.Circuit circuit;
    String reservation = "ReserveHeld";
    String provision = "Released";
    String lifecycle = "Created";

    Conn(String id, String gri, NsiRequester.Circuit circuit) {
      this.id = id;
      this.gri = gri;
      this.circuit = circuit;
    }

    @Override
    public String toString() {
      return reservation + "/" + provision + "/" + lifecycle;
    }
  }

  final Map<String, Conn> conns = new LinkedHashMap<>();
  final List<String> calls = new ArrayList<>();
  long capacityMbps = 1000;
  /** Refuse reserves whose destination STP contains this. */
  String refuseDest;
  /** Throw "no confirmation" after the acknowledgment (the provider never confirms). */
  boolean silent;
  /** Runs after the id is handed out and before the confirmation (sees the GRC's record). */
  Runnable beforeConfirm = () -> {};
  /** Runs when a terminate arrives (e.g. to keep the GRC waiting). */
  volatile Runnable onTerminate = () -> {};
  /** Runs when a reserve arrives, before anything (sees the GRC's record). */
  Runnable onReserve = () -> {};
  /**
   * Runs when a reserve arrives, outside this fake's lock (so a reserve kept waiting here does
   * not keep other requests out, as with a real provider).
   */
  volatile Consumer<NsiRequester.Circuit> arriving = c -> {};
  /** This many provisions fail (the provider does not confirm them). */
  int failProvisions;
  /** Every request after this is set fails as if the provider could not be reached. */
  volatile boolean unreachable;
  private int next = 1;

  @Override
  public String providerNsa() {
    return NSA;
  }

  @Override
  public String reserve(NsiRequester.Circuit c, Consumer<String> onId) {
    arriving.accept(c);
    return reserve0(c, onId);
  }

  private synchronized String reserve0(NsiRequester.Circuit c, Consumer<String> onId) {
    onReserve.run();
    calls.add("reserve " + c.sourceStp() + " " + c.destStp() + " " + c.capacityMbps());
    if (c.capacityMbps() > capacityMbps) {
      throw new NsiException("NSI provider " + NSA + " refused reserve: Port cannot provide "
          + c.capacityMbps() + " Mbps [00705]", true, null);
    }
    if (refuseDest != null && c.destStp().contains(refuseDest)) {
      throw new NsiException("NSI provider " + NSA + " refused reserve: STP unavailable [00704]",
          true, null);
    }
    String id = "FAKE-" + next++;
    conns.put(id, new Conn(id, c.globalReservationId(), c));
    if (onId != null) {
      onId.accept(id);
    }
    beforeConfirm.run();
    if (silent) {
      throw new NsiException("NSI provider " + NSA + ": reserve (connection " + id
          + "): no confirmation within 1 s");
    }
    return id;
  }

  private Conn get(String op, String id) {
    calls.add(op + " " + id);
    if (unreachable) {
      throw new NsiException("NSI provider " + NSA + ": " + op + " of connection " + id
          + " failed: unreachable");
    }
    Conn c = conns.get(id);
    if (c == null) {
      throw new NsiException("NSI provider " + NSA + " refused " + op + ": no connection " + id);
    }
    return c;
  }

  @Override
  public synchronized void commit(String id) {
    Conn c = get("commit", id);
    if (!c.reservation.equals("ReserveHeld")) {
      throw new NsiException("NSI provider " + NSA + " refused commit: " + c.reservation);
    }
    c.reservation = "ReserveStart";
  }

  @Override
  public synchronized void abort(String id) {
    Conn c = get("abort", id);
    if (!c.reservation.equals("ReserveHeld")) {
      throw new NsiException("NSI provider " + NSA + " refused abort: " + c.reservation);
    }
    c.reservation = "ReserveStart";
    c.lifecycle = "Aborted";
  }

  @Override
  public synchronized void provision(String id) {
    Conn c = get("provision", id);
    if (failProvisions > 0) {
      failProvisions--;
      throw new NsiException("NSI provider " + NSA + ": provision of connection " + id
          + ": no confirmation within 1 s");
    }
    c.provision = "Provisioned";
  }

  @Override
  public synchronized void release(String id) {
    get("release", id).provision = "Released";
  }

  @Override
  public void terminate(String id) {
    onTerminate.run();
    terminate0(id);
  }

  private synchronized void terminate0(String id) {
    get("terminate", id).lifecycle = "Terminated";
  }

  @Override
  public synchronized List<NsiConnection> query(List<String> ids, List<String> gris) {
    calls.add("query " + ids + " " + gris);
    if (unreachable) {
      throw new NsiException("NSI provider " + NSA + ": querySummarySync failed: unreachable");
    }
    List<NsiConnection> out = new ArrayList<>();
    for (Conn c : conns.values()) {
      if (ids.contains(c.id) || gris.contains(c.gri)) {
        out.add(new NsiConnection(c.id, c.gri, c.reservation, c.provision, c.lifecycle,
            c.provision.equals("Provisioned")));
      }
    }
    return out;
  }

  /** Connections not terminated. */
  synchronized List<String> live() {
    return conns.values().stream().filter(c -> !c.lifecycle.equals("Terminated"))
        .map(c -> c.id + " " + c).toList();
  }
}
