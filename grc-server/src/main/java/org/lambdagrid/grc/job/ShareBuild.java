package org.lambdagrid.grc.job;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.PosixNames;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.reservation.ReservationRecord;
import org.lambdagrid.grc.support.CallErrors;
import org.lambdagrid.grc.site.SiteClients;
import org.lambdagrid.grc.site.SiteRegistry;
import org.lambdagrid.grc.site.TrustBundles;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.TrustBundle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds a share's guests on every site of a reservation, one barrier phase per call:
 * OpenShare, SetupNodes, CollectKeys (-> the trust bundle), InstallTrust, StartGuests; and
 * releases it (ReleaseShare). A job's
 * runner drives its own share through them, and so does a reservation that pre-builds its guests
 * ({@link Prebuilds}); every CRM call is idempotent, so a job that adopts pre-built guests runs
 * the same sequence and each phase returns at once.
 *
 * <p>Each phase calls every site in parallel ({@link SiteFanOut}) with its own timeout; the
 * first failure is a {@link PhaseFailure} naming the site and the phase. Stateless.
 */
final class ShareBuild {
  private static final Logger log = LoggerFactory.getLogger(ShareBuild.class);

  private final SiteRegistry registry;
  private final SiteClients clients;
  private final CoordinatorSettings settings;
  private final SiteFanOut fanOut;

  ShareBuild(SiteRegistry registry, SiteClients clients, CoordinatorSettings settings,
      SiteFanOut fanOut) {
    this.registry = registry;
    this.clients = clients;
    this.settings = settings;
    this.fanOut = fanOut;
  }

  /** Whose guests, where: the CRMs' share id, the reservation it is bound to, the guests' user. */
  record Target(String shareId, ReservationRecord reservation, String user) {
    List<String> sites() {
      return new ArrayList<>(reservation.siteNodes().keySet());
    }
  }

  /** OpenShare on every site: binds the share to the reservation's committed hold. */
  void open(Target t) throws InterruptedException {
    phase(Phase.PHASE_SETUP, settings.rpcTimeout(), t.sites(), s -> {
      clients.forSite(s).openShare(t.shareId(), t.reservation().id(), t.user());
      return Boolean.TRUE;
    });
  }

  /** LAUNCH + SETUP: every node's guest built; the nodes in hostfile order. */
  List<NodeEntry> setUp(Target t) throws InterruptedException {
    ReservationRecord r = t.reservation();
    Map<String, Ipv4Cidr> ranges = r.ranges();
    Map<String, List<NodeEntry>> bySite = phase(Phase.PHASE_SETUP, settings.setupTimeout(),
        t.sites(), s -> {
          SetupNodesRequest.Builder req = SetupNodesRequest.newBuilder().setJobId(t.shareId())
              .setSite(s).setUser(t.user())
              .setTimeout(ProtoTime.toProto(settings.setupTimeout()))
              .setSlotsPerNode(registry.require(s).slotsPerNode())
              .setBridge(r.bridges().getOrDefault(s, ""))
              .setCpus(r.spec().getCpus()).setMemoryBytes(r.spec().getMemoryBytes());
          ranges.forEach((other, range) -> {
            if (!other.equals(s)) {
              req.addPeerRanges(AddressRange.newBuilder().setCidr(range.toString()));
            }
          });
          List<NodeEntry> nodes = clients.forSite(s).setupNodes(req.build());
          int asked = r.siteNodes().get(s);
          if (nodes.size() != asked) {
            throw Errors.aborted("site '" + s + "' set up " + nodes.size() + " nodes, the"
                + " reservation holds " + asked);
          }
          return withLocalUsers(s, nodes, t.user());
        });
    return TrustBundles.order(bySite);
  }

  /**
   * The site's nodes, each with the local account its guest runs as: the CRM's answer, checked
   * (it goes into every guest's ssh config), or the job's grid user from a CRM that predates
   * {@code NodeEntry.local_user} (such a CRM runs guests as the grid user's own name).
   */
  static List<NodeEntry> withLocalUsers(String site, List<NodeEntry> nodes, String gridUser) {
    List<NodeEntry> out = new ArrayList<>(nodes.size());
    for (NodeEntry n : nodes) {
      String local = n.getLocalUser();
      if (local.isEmpty()) {
        out.add(n.toBuilder().setLocalUser(gridUser).build());
        continue;
      }
      if (!PosixNames.LOGIN.matcher(local).matches() || local.equals("root")) {
        throw Errors.aborted("site '" + site + "' reported local_user '" + local + "' for node "
            + n.getHostname() + ", which is not a login name a job may run as");
      }
      out.add(n);
    }
    return out;
  }

  /** KEYS: every node's public keys, aggregated into the bundle every node will trust. */
  TrustBundle collectKeys(Target t, List<NodeEntry> nodes) throws InterruptedException {
    Map<String, List<NodeKeys>> keys = phase(Phase.PHASE_KEYS, settings.keysTimeout(),
        t.sites(), s -> clients.forSite(s).collectKeys(t.shareId(), settings.keysTimeout()));
    try {
      return TrustBundles.build(nodes,
          keys.values().stream().flatMap(List::stream).collect(Collectors.toList()));
    } catch (Errors.RequestException e) {
      throw new PhaseFailure(Phase.PHASE_KEYS, e.getMessage());
    }
  }

  /** SET_KEYS: the bundle installed on every node. */
  void installTrust(Target t, TrustBundle bundle) throws InterruptedException {
    com.google.protobuf.ByteString once = bundle.toByteString(); // serialized once, not per site
    phase(Phase.PHASE_SET_KEYS, settings.trustTimeout(), t.sites(), s -> {
      clients.forSite(s).installTrust(t.shareId(), bundle, once, settings.trustTimeout());
      return Boolean.TRUE;
    });
  }

  /** RUN: returns when every guest's sshd accepts. */
  void startGuests(Target t) throws InterruptedException {
    phase(Phase.PHASE_RUN, settings.runTimeout(), t.sites(), s -> {
      clients.forSite(s).startGuests(t.shareId(), settings.runTimeout());
      return Boolean.TRUE;
    });
  }

  /**
   * ReleaseShare on every site in parallel, bounded by the RPC timeout; a site's failure is
   * logged, not thrown (the CRM's release is idempotent, so a later one may repeat it).
   *
   * @return whether every site confirmed
   */
  boolean release(String shareId, List<String> sites, String reason) {
    try {
      Map<String, Boolean> done = fanOut.callAll(sites,
          settings.rpcTimeout().plus(settings.callMargin()), s -> {
            try {
              clients.forSite(s).releaseShare(shareId, reason);
              return Boolean.TRUE;
            } catch (RuntimeException e) {
              log.warn("share {}: ReleaseShare on site '{}' failed: {}", shareId, s,
                  CallErrors.describe(e));
              return Boolean.FALSE;
            }
          });
      return !done.containsValue(Boolean.FALSE);
    } catch (SiteFanOut.SiteFailure f) {
      log.warn("share {}: releasing: {}", shareId, f.getMessage());
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * One barrier: the call on every site in parallel; returns when all answered. The first
   * failure (or the phase deadline) becomes a PhaseFailure naming the site and carrying the
   * CRM's description; the other calls are cancelled.
   */
  <T> Map<String, T> phase(Phase phase, Duration timeout, List<String> sites,
      Function<String, T> call) throws InterruptedException {
    try {
      return fanOut.callAll(sites, timeout.plus(settings.callMargin())
          .plus(settings.callMargin()), call);
    } catch (SiteFanOut.SiteFailure f) {
      String name = ProtoNames.shortName(phase);
      throw new PhaseFailure(phase, f.timedOut
          ? "site '" + f.site + "' did not finish phase " + name + " within " + timeout
          : "site '" + f.site + "' failed phase " + name + ": " + f.detail);
    }
  }
}
