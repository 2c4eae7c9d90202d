package org.lambdagrid.crm.site;

import static org.lambdagrid.proto.v1.NodeState.NODE_CONNECTED;
import static org.lambdagrid.proto.v1.NodeState.NODE_DONE;
import static org.lambdagrid.proto.v1.NodeState.NODE_EXECUTING;
import static org.lambdagrid.proto.v1.NodeState.NODE_FAILED;
import static org.lambdagrid.proto.v1.NodeState.NODE_KEYED;
import static org.lambdagrid.proto.v1.NodeState.NODE_LAUNCHING;
import static org.lambdagrid.proto.v1.NodeState.NODE_LOST;
import static org.lambdagrid.proto.v1.NodeState.NODE_READY;
import static org.lambdagrid.proto.v1.NodeState.NODE_SET_UP;
import static org.lambdagrid.proto.v1.NodeState.NODE_STOPPED;

import org.lambdagrid.common.StateMachine;
import org.lambdagrid.proto.v1.NodeState;

/**
 * The life of one node of a share, as the CRM sees it.
 *
 * <pre>
 * LAUNCHING -> CONNECTED -> SET_UP -> KEYED -> READY -> EXECUTING -> DONE -> STOPPED
 *      \            \           \         \        \          \        \
 *       +------------+-----------+---------+--------+----------+--------+--> LOST -> STOPPED
 *
 * CONNECTED .. EXECUTING -> FAILED (a command failed on the pilot; guest torn down) -> STOPPED
 * </pre>
 *
 * <p>Every state may also go straight to STOPPED (release). READY -> DONE is allowed for nodes
 * that never run the command. LOST and STOPPED absorb late replies: callers ignore moves out of
 * them instead of failing.
 */
public final class NodeStates {
  public static final StateMachine<NodeState> MACHINE = StateMachine.builder(NodeState.class)
      .allow(NODE_LAUNCHING, NODE_CONNECTED, NODE_LOST, NODE_STOPPED)
      .allow(NODE_CONNECTED, NODE_SET_UP, NODE_FAILED, NODE_LOST, NODE_STOPPED)
      .allow(NODE_SET_UP, NODE_KEYED, NODE_FAILED, NODE_LOST, NODE_STOPPED)
      .allow(NODE_KEYED, NODE_READY, NODE_FAILED, NODE_LOST, NODE_STOPPED)
      .allow(NODE_READY, NODE_EXECUTING, NODE_DONE, NODE_FAILED, NODE_LOST, NODE_STOPPED)
      .allow(NODE_EXECUTING, NODE_DONE, NODE_FAILED, NODE_LOST, NODE_STOPPED)
      .allow(NODE_DONE, NODE_LOST, NODE_STOPPED)
      .allow(NODE_FAILED, NODE_LOST, NODE_STOPPED)
      .allow(NODE_LOST, NODE_STOPPED)
      .terminal(NODE_STOPPED)
      .build();

  private NodeStates() {}

  /** True if {@code state} is {@code target} or later on the main line (LOST/STOPPED: false). */
  public static boolean reached(NodeState state, NodeState target) {
    return state != NODE_LOST && state != NODE_STOPPED && state != NODE_FAILED
        && state.getNumber() >= target.getNumber();
  }
}
