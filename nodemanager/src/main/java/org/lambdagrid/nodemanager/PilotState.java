package org.lambdagrid.nodemanager;

import org.lambdagrid.common.StateMachine;

/**
 * The life of this node as its NodeManager sees it (the protocol's NodeState is the CRM's view
 * of it). Each change is pushed to the CRM as a {@code NodeNotification} ({@link #toProto}).
 *
 * <pre>
 * CONNECTING -> CONNECTED -> SET_UP -> KEYED -> READY -> EXECUTING -> DONE
 *      |            |           |         |        |          |         |
 *      |            +-----------+---------+--------+----------+---------+--> FAILED
 *      |            |           |         |        |          |         |       |
 *      +------------+-----------+---------+--------+----------+---------+-------+--> STOPPED
 * </pre>
 *
 * FAILED: a command failed; the guest is already torn down and the node waits for SHUTDOWN.
 * STOPPED: the guest is torn down and the NodeManager is ending (terminal).
 */
public enum PilotState {
  CONNECTING, CONNECTED, SET_UP, KEYED, READY, EXECUTING, DONE, FAILED, STOPPED;

  public static final StateMachine<PilotState> MACHINE = StateMachine.builder(PilotState.class)
      .allow(CONNECTING, CONNECTED, STOPPED)
      .allow(CONNECTED, SET_UP, FAILED, STOPPED)
      .allow(SET_UP, KEYED, FAILED, STOPPED)
      .allow(KEYED, READY, FAILED, STOPPED)
      .allow(READY, EXECUTING, FAILED, STOPPED)
      .allow(EXECUTING, DONE, FAILED, STOPPED)
      .allow(DONE, FAILED, STOPPED)
      .allow(FAILED, STOPPED)
      .terminal(STOPPED)
      .build();

  /** The state on the wire. CONNECTING is never sent. */
  public org.lambdagrid.proto.v1.NodeState toProto() {
    return switch (this) {
      case CONNECTING -> org.lambdagrid.proto.v1.NodeState.NODE_LAUNCHING;
      case CONNECTED -> org.lambdagrid.proto.v1.NodeState.NODE_CONNECTED;
      case SET_UP -> org.lambdagrid.proto.v1.NodeState.NODE_SET_UP;
      case KEYED -> org.lambdagrid.proto.v1.NodeState.NODE_KEYED;
      case READY -> org.lambdagrid.proto.v1.NodeState.NODE_READY;
      case EXECUTING -> org.lambdagrid.proto.v1.NodeState.NODE_EXECUTING;
      case DONE -> org.lambdagrid.proto.v1.NodeState.NODE_DONE;
      case FAILED -> org.lambdagrid.proto.v1.NodeState.NODE_FAILED;
      case STOPPED -> org.lambdagrid.proto.v1.NodeState.NODE_STOPPED;
    };
  }
}
