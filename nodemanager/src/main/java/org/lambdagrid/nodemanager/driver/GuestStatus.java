package org.lambdagrid.nodemanager.driver;

import java.util.List;

/**
 * What {@link GuestDriver#inspect} found.
 *
 * @param built the guest's network and file system exist
 * @param sshdRunning its sshd is running
 * @param leftovers kernel objects or processes recorded for this guest that still exist
 */
public record GuestStatus(boolean built, boolean sshdRunning, List<String> leftovers) {}
