package org.lambdagrid.grc.cli;

/** A mistake the user can fix: printed as one line "grc: MESSAGE", then exit {@link #exitCode}. */
final class UserError extends RuntimeException {
  final int exitCode;

  UserError(String message, int exitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}
