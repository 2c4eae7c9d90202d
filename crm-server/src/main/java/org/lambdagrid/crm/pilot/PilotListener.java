package org.lambdagrid.crm.pilot;

import org.lambdagrid.proto.v1.CommandExit;
import org.lambdagrid.proto.v1.NodeNotification;
import org.lambdagrid.proto.v1.OutputChunk;

/**
 * Receives what an accepted pilot pushes up its stream. Called on gRPC threads, in stream order
 * for one pilot; implementations must not block.
 */
public interface PilotListener {
  void onNotification(NodeNotification notification);

  void onOutput(OutputChunk chunk);

  void onExit(CommandExit exit);

  /**
   * The stream ended (the pilot hung up, broke, or the CRM closed it). Called exactly once, after
   * every pending command future was failed.
   *
   * @param why e.g. "pilot disconnected: UNAVAILABLE: io exception"
   */
  void onDisconnected(String why);
}
