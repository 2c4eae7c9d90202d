package org.lambdagrid.nodemanager.driver;

import java.nio.file.Path;

/**
 * A driver's reference to one guest. The driver persists what it built under {@code stateDir}
 * so that {@link GuestDriver#destroy} works from recorded state, also after a crash.
 *
 * @param id unique name of the guest on this node; kernel objects are named after it ("lg-...")
 * @param spec what SETUP asked for
 * @param stateDir the guest's directory under the driver's state directory
 */
public record GuestHandle(String id, GuestSpec spec, Path stateDir) {}
