package org.lambdagrid.common;

/**
 * How the protocol's enum values are named to people: without their prefix
 * ({@code JOB_RUNNING} is RUNNING, {@code PHASE_SET_KEYS} SET_KEYS, {@code NODE_SET_UP} SET_UP,
 * {@code RESERVATION_ACTIVE} ACTIVE). Every lambdagrid.v1 enum value is PREFIX_NAME.
 */
public final class ProtoNames {
  private ProtoNames() {}

  /** The value's name after its first '_' (the whole name if it has none). */
  public static String shortName(Enum<?> value) {
    String n = value.name();
    int i = n.indexOf('_');
    return i < 0 ? n : n.substring(i + 1);
  }
}
