package org.lambdagrid.nodemanager.driver;

/** Receives the command's output, in order per stream, from a driver thread. */
public interface OutputSink {
  /** @param stderr true for standard error, false for standard output */
  void output(boolean stderr, byte[] data);
}
