package org.lambdagrid.grc.scale;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.proto.v1.AbortRequest;
import org.lambdagrid.proto.v1.AbortResponse;
import org.lambdagrid.proto.v1.CollectKeysRequest;
import org.lambdagrid.proto.v1.CollectKeysResponse;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.CommitResponse;
import org.lambdagrid.proto.v1.ExecCommandRequest;
import org.lambdagrid.proto.v1.ExecCommandResponse;
import org.lambdagrid.proto.v1.InstallTrustRequest;
import org.lambdagrid.proto.v1.InstallTrustResponse;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.OpenShareRequest;
import org.lambdagrid.proto.v1.OpenShareResponse;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.PrepareResponse;
import org.lambdagrid.proto.v1.ReleaseRequest;
import org.lambdagrid.proto.v1.ReleaseResponse;
import org.lambdagrid.proto.v1.ReleaseShareRequest;
import org.lambdagrid.proto.v1.ReleaseShareResponse;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.SetupNodesResponse;
import org.lambdagrid.proto.v1.SiteServiceGrpc;
import org.lambdagrid.proto.v1.StartGuestsRequest;
import org.lambdagrid.proto.v1.StartGuestsResponse;
import org.lambdagrid.proto.v1.WatchShareRequest;
import org.lambdagrid.proto.v1.WatchShareResponse;

/**
 * A benchmark's CRM: SiteService over real gRPC, answering at once, with no pilots and no
 * guests (never a path a user runs as a CRM). It keeps the two-phase-commit holds like a CRM
 * (prepared, committed, aborted, released; a prepare that would overbook the site in its window
 * is refused and counted as a violation: the GRC's own calendars must never ask for it). Node i
 * of a share is {@code <site>-<i>} with the i-th usable address of the reservation's sub-range
 * and keys from a shared pool of real ed25519 keys ({@link KeyPool}). The trust bundle each
 * InstallTrust brings is checked (one entry per node of the job) and its serialized size
 * counted. After ExecCommand the share's watchers get exit code 0. Thread-safe.
 */
final class SimulatedSite extends SiteServiceGrpc.SiteServiceImplBase {
  private enum HoldState { PREPARED, COMMITTED, ENDED }

  private static final class Hold {
    final PrepareRequest req;
    volatile HoldState state = HoldState.PREPARED;

    Hold(PrepareRequest req) {
      this.req = req;
    }
  }

  private static final class Share {
    final String reservationId;
    final List<WatchShareResponse> history = new ArrayList<>();
    final List<StreamObserver<WatchShareResponse>> watchers = new ArrayList<>();
    List<NodeEntry> nodes = List.of();
    boolean released;

    Share(String reservationId) {
      this.reservationId = reservationId;
    }
  }

  final String name;
  final int capacity;
  private final KeyPool keys;
  private final Map<String, Hold> holds = new ConcurrentHashMap<>();
  private final Map<String, Share> shares = new ConcurrentHashMap<>();
  private final String incarnation = Long.toHexString(System.nanoTime());
  final AtomicLong trustBytes = new AtomicLong();
  final AtomicLong trustCalls = new AtomicLong();
  final List<String> violations = java.util.Collections.synchronizedList(new ArrayList<>());

  SimulatedSite(String name, int capacity, KeyPool keys) {
    this.name = name;
    this.capacity = capacity;
    this.keys = keys;
  }

  private static long ms(com.google.protobuf.Timestamp t) {
    return ProtoTime.fromProto(t).toEpochMilli();
  }

  /** Nodes held (prepared or committed) at the busiest instant of [start, end), without {@code id}. */
  private synchronized int peak(long start, long end, String except) {
    List<long[]> edges = new ArrayList<>();
    for (Map.Entry<String, Hold> e : holds.entrySet()) {
      Hold h = e.getValue();
      if (h.state == HoldState.ENDED || e.getKey().equals(except)) {
        continue;
      }
      long s = Math.max(start, ms(h.req.getStart()));
      long f = Math.min(end, ms(h.req.getEnd()));
      if (s < f) {
        edges.add(new long[] {s, h.req.getNodeCount()});
        edges.add(new long[] {f, -h.req.getNodeCount()});
      }
    }
    edges.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
    int cur = 0;
    int max = 0;
    for (long[] e : edges) {
      cur += (int) e[1];
      max = Math.max(max, cur);
    }
    return max;
  }

  @Override
  public void prepare(PrepareRequest req, StreamObserver<PrepareResponse> out) {
    synchronized (this) {
      Hold h = holds.get(req.getReservationId());
      if (h != null) {
        if (h.state == HoldState.ENDED) {
          out.onError(Status.ABORTED.withDescription("reservation " + req.getReservationId()
              + " was aborted or released").asRuntimeException());
          return;
        }
        out.onNext(PrepareResponse.getDefaultInstance());
        out.onCompleted();
        return;
      }
      int used = peak(ms(req.getStart()), ms(req.getEnd()), req.getReservationId());
      if (used + req.getNodeCount() > capacity) {
        violations.add("site " + name + ": prepare " + req.getReservationId() + " of "
            + req.getNodeCount() + " nodes with " + used + " of " + capacity + " held");
        out.onError(Status.FAILED_PRECONDITION.withDescription("too few free nodes")
            .asRuntimeException());
        return;
      }
      holds.put(req.getReservationId(), new Hold(req));
    }
    out.onNext(PrepareResponse.getDefaultInstance());
    out.onCompleted();
  }

  @Override
  public void commit(CommitRequest req, StreamObserver<CommitResponse> out) {
    Hold h = holds.get(req.getReservationId());
    if (h == null) {
      out.onError(Status.NOT_FOUND.withDescription("never prepared here").asRuntimeException());
      return;
    }
    if (h.state == HoldState.ENDED) {
      out.onError(Status.FAILED_PRECONDITION.withDescription("aborted").asRuntimeException());
      return;
    }
    h.state = HoldState.COMMITTED;
    out.onNext(CommitResponse.getDefaultInstance());
    out.onCompleted();
  }

  @Override
  public void abort(AbortRequest req, StreamObserver<AbortResponse> out) {
    Hold h = holds.get(req.getReservationId());
    if (h != null && h.state == HoldState.COMMITTED) {
      out.onError(Status.FAILED_PRECONDITION.withDescription("committed: use Release")
          .asRuntimeException());
      return;
    }
    if (h == null) {
      holds.putIfAbsent(req.getReservationId(), new Hold(PrepareRequest.newBuilder()
          .setReservationId(req.getReservationId()).build()));
      h = holds.get(req.getReservationId());
    }
    h.state = HoldState.ENDED;
    out.onNext(AbortResponse.getDefaultInstance());
    out.onCompleted();
  }

  @Override
  public void release(ReleaseRequest req, StreamObserver<ReleaseResponse> out) {
    Hold h = holds.get(req.getReservationId());
    if (h != null) {
      h.state = HoldState.ENDED;
    }
    shares.forEach((job, s) -> {
      if (s.reservationId.equals(req.getReservationId())) {
        end(s);
      }
    });
    out.onNext(ReleaseResponse.getDefaultInstance());
    out.onCompleted();
  }

  /** The committed holds now: reservation id -> node count. */
  Map<String, Integer> committed() {
    Map<String, Integer> out = new java.util.TreeMap<>();
    holds.forEach((id, h) -> {
      if (h.state == HoldState.COMMITTED) {
        out.put(id, h.req.getNodeCount());
      }
    });
    return out;
  }

  @Override
  public void openShare(OpenShareRequest req, StreamObserver<OpenShareResponse> out) {
    Hold h = holds.get(req.getReservationId());
    if (h == null || h.state != HoldState.COMMITTED) {
      out.onError((h == null ? Status.NOT_FOUND : Status.FAILED_PRECONDITION)
          .withDescription("reservation " + req.getReservationId() + " is not committed here")
          .asRuntimeException());
      return;
    }
    shares.putIfAbsent(req.getJobId(), new Share(req.getReservationId()));
    out.onNext(OpenShareResponse.getDefaultInstance());
    out.onCompleted();
  }

  private Share share(String jobId, StreamObserver<?> out) {
    Share s = shares.get(jobId);
    if (s == null) {
      out.onError(Status.NOT_FOUND.withDescription("unknown job " + jobId).asRuntimeException());
    }
    return s;
  }

  @Override
  public void setupNodes(SetupNodesRequest req, StreamObserver<SetupNodesResponse> out) {
    Share s = share(req.getJobId(), out);
    if (s == null) {
      return;
    }
    Hold h = holds.get(s.reservationId);
    Ipv4Cidr range = Ipv4Cidr.parse(h.req.getRange().getCidr());
    List<NodeEntry> nodes = new ArrayList<>();
    for (int i = 0; i < h.req.getNodeCount(); i++) {
      nodes.add(NodeEntry.newBuilder().setSite(req.getSite()).setIndex(i)
          .setHostname(req.getSite() + "-" + i)
          .setAddress(Ipv4Cidr.formatAddress(range.hostAddress(i)))
          .setPrefixLength(range.prefixLength()).setSlots(Math.max(1, req.getSlotsPerNode()))
          .setLocalUser(req.getUser()).build());
    }
    synchronized (s) {
      s.nodes = nodes;
    }
    out.onNext(SetupNodesResponse.newBuilder().addAllNodes(nodes).build());
    out.onCompleted();
  }

  @Override
  public void collectKeys(CollectKeysRequest req, StreamObserver<CollectKeysResponse> out) {
    Share s = share(req.getJobId(), out);
    if (s == null) {
      return;
    }
    CollectKeysResponse.Builder b = CollectKeysResponse.newBuilder();
    List<NodeEntry> nodes;
    synchronized (s) {
      nodes = s.nodes;
    }
    for (NodeEntry n : nodes) {
      int k = (name + n.getIndex()).hashCode();
      b.addKeys(NodeKeys.newBuilder().setHostname(n.getHostname()).setAddress(n.getAddress())
          .setHostPublicKey(keys.host(k)).setUserPublicKey(keys.user(k)));
    }
    out.onNext(b.build());
    out.onCompleted();
  }

  @Override
  public void installTrust(InstallTrustRequest req, StreamObserver<InstallTrustResponse> out) {
    Share s = share(req.getJobId(), out);
    if (s == null) {
      return;
    }
    trustBytes.addAndGet(req.getSerializedSize());
    trustCalls.incrementAndGet();
    var bundle = req.getBundle();
    long entries = bundle.getNodesCount();
    long keyed = bundle.getKnownHosts().lines().count();
    if (entries == 0 || keyed != entries) {
      violations.add("site " + name + ": trust bundle for " + req.getJobId() + " has " + entries
          + " nodes and " + keyed + " known_hosts lines");
    }
    out.onNext(InstallTrustResponse.getDefaultInstance());
    out.onCompleted();
  }

  @Override
  public void startGuests(StartGuestsRequest req, StreamObserver<StartGuestsResponse> out) {
    if (share(req.getJobId(), out) == null) {
      return;
    }
    out.onNext(StartGuestsResponse.getDefaultInstance());
    out.onCompleted();
  }

  @Override
  public void execCommand(ExecCommandRequest req, StreamObserver<ExecCommandResponse> out) {
    Share s = share(req.getJobId(), out);
    if (s == null) {
      return;
    }
    out.onNext(ExecCommandResponse.getDefaultInstance());
    out.onCompleted();
    publish(s, WatchShareResponse.newBuilder().setExit(CommandExit.newBuilder()
        .setHostname(req.getHostname()).setExitCode(0)));
  }

  private void publish(Share s, WatchShareResponse.Builder b) {
    List<StreamObserver<WatchShareResponse>> to;
    WatchShareResponse r;
    synchronized (s) {
      r = b.setIncarnation(incarnation).setSeq(s.history.size() + 1).build();
      s.history.add(r);
      to = List.copyOf(s.watchers);
    }
    for (StreamObserver<WatchShareResponse> w : to) {
      try {
        synchronized (w) {
          w.onNext(r);
        }
      } catch (RuntimeException e) {
        // the watcher went away
      }
    }
  }

  @Override
  public void watchShare(WatchShareRequest req, StreamObserver<WatchShareResponse> out) {
    Share s = share(req.getJobId(), out);
    if (s == null) {
      return;
    }
    List<WatchShareResponse> replay;
    boolean done;
    synchronized (s) {
      replay = List.copyOf(s.history);
      done = s.released;
      if (!done) {
        s.watchers.add(out);
      }
    }
    ((ServerCallStreamObserver<WatchShareResponse>) out).setOnCancelHandler(() -> {
      synchronized (s) {
        s.watchers.remove(out);
      }
    });
    synchronized (out) {
      replay.forEach(out::onNext);
      if (done) {
        out.onCompleted();
      }
    }
  }

  @Override
  public void releaseShare(ReleaseShareRequest req, StreamObserver<ReleaseShareResponse> out) {
    Share s = shares.get(req.getJobId());
    if (s != null) {
      end(s);
    }
    out.onNext(ReleaseShareResponse.getDefaultInstance());
    out.onCompleted();
  }

  private void end(Share s) {
    List<StreamObserver<WatchShareResponse>> to;
    synchronized (s) {
      if (s.released) {
        return;
      }
      s.released = true;
      to = List.copyOf(s.watchers);
      s.watchers.clear();
    }
    for (StreamObserver<WatchShareResponse> w : to) {
      try {
        synchronized (w) {
          w.onCompleted();
        }
      } catch (RuntimeException e) {
        // gone
      }
    }
  }
}
