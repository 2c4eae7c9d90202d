package org.lambdagrid.grc.job;

import org.lambdagrid.proto.v1.Phase;

/** A phase failed on a site; the message names the site, the node (from the CRM) and the phase. */
final class PhaseFailure extends RuntimeException {
  final Phase phase;

  PhaseFailure(Phase phase, String message) {
    super(message);
    this.phase = phase;
  }
}
