package org.lambdagrid.nodemanager.driver.namespaces;

import org.lambdagrid.nodemanager.driver.GuestSpec;

/**
 * What a {@link GuestStep} builds from: the guest's record (its id and state directory), what
 * SETUP asked for, the checked user, and the bridge to join (null when attached by macvlan).
 */
record NewGuest(GuestRecord record, GuestSpec spec, GuestUser user, String bridge) {}
