package org.lambdagrid.grc.site;

import java.time.Duration;
import java.util.List;
import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.ExecSpec;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.NodeKeys;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.SetupNodesRequest;
import org.lambdagrid.proto.v1.TrustBundle;

/**
 * The GRC's view of one site's CRM ({@code SiteService}), one method per RPC. The production
 * implementation is {@link org.lambdagrid.grc.grpc.GrpcSiteClient}; tests use a fake.
 *
 * <p>Failures are thrown as {@link io.grpc.StatusRuntimeException} (or
 * {@link org.lambdagrid.common.Errors.RequestException}); the status description is the CRM's,
 * which for a phase failure names the node and the phase. Phase methods are called from a GRC
 * worker thread and may block up to their timeout (plus a margin the implementation chooses);
 * an interrupt must abandon the call. Implementations are thread-safe.
 */
public interface SiteClient extends AutoCloseable {

  /** Two-phase commit, phase one: holds nodes and the sub-range. Idempotent by reservation id. */
  void prepare(PrepareRequest request);

  /** Phase two, success. Idempotent. */
  void commit(String reservationId);

  /** Phase two, failure. Idempotent; unknown ids succeed. */
  void abort(String reservationId);

  /** Ends the reservation at the CRM, tearing down any share bound to it. Idempotent. */
  void release(String reservationId, String reason);

  /** Binds the job's share to the committed reservation. Idempotent by job id at the CRM. */
  void openShare(String jobId, String reservationId, String user);

  /** Tears the share down. Idempotent; must succeed for an unknown or released job. */
  void releaseShare(String jobId, String reason);

  /** PHASE_LAUNCH + PHASE_SETUP; returns the site's nodes with their addresses. */
  List<NodeEntry> setupNodes(SetupNodesRequest request);

  /** PHASE_KEYS. */
  List<NodeKeys> collectKeys(String jobId, Duration timeout);

  /** PHASE_SET_KEYS. */
  void installTrust(String jobId, TrustBundle bundle, Duration timeout);

  /**
   * PHASE_SET_KEYS with the bundle also given serialized ({@code bundle.toByteString()}), made
   * once per job for every site: a client that sends bytes sends these instead of serializing
   * the bundle again (a 10,000-node bundle is megabytes, and every site gets it).
   */
  default void installTrust(String jobId, TrustBundle bundle, com.google.protobuf.ByteString
      serialized, Duration timeout) {
    installTrust(jobId, bundle, timeout);
  }

  /** PHASE_RUN. */
  void startGuests(String jobId, Duration timeout);

  /** PHASE_EXEC on one node; the exit arrives on {@link #watchShare}. */
  void execCommand(String jobId, String hostname, ExecSpec exec, Duration timeout);

  /**
   * Opens the share's event stream. Callbacks arrive on a transport thread, one at a time and in
   * order; they must not block. Returns a handle whose {@code close()} stops watching
   * (idempotent).
   */
  AutoCloseable watchShare(String jobId, ShareListener listener);

  @Override
  void close();

  /** Opens the client of site {@code site}'s CRM at {@code crm}. */
  @FunctionalInterface
  interface Factory {
    SiteClient open(String site, org.lambdagrid.common.Endpoint crm);
  }

  /** Receives one share's stream. */
  interface ShareListener {
    /**
     * Whether the update stamped {@code (incarnation, seq)} is new to this listener; the client
     * drops it otherwise (a watch again replays the CRM's history). Unstamped: empty, 0.
     */
    default boolean fresh(String incarnation, long seq) {
      return true;
    }

    void onEvent(Event event);

    void onOutput(OutputChunk chunk);

    void onExit(CommandExit exit);

    /** The stream ended; {@code error} is null when the CRM completed it normally. */
    void onClosed(Throwable error);
  }
}
