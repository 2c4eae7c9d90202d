package org.lambdagrid.grc.cli;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import org.lambdagrid.grc.local.LoginAnswer;

/**
 * The client half of the GRC's local login: connects to its Unix socket, reads the
 * {@link LoginAnswer} (the kernel tells the GRC who this process runs as). Errors are
 * one-line {@link UserError}s.
 */
final class LocalLoginClient {
  private LocalLoginClient() {}

  static LoginAnswer login(Path socket) {
    LoginAnswer a;
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      a = LoginAnswer.parse(Channels.newInputStream(ch));
    } catch (IOException e) {
      throw new UserError("cannot log in through the GRC's local socket " + socket + ": "
          + (e.getMessage() == null ? e.toString() : e.getMessage())
          + " (is the GRC running? otherwise use a certificate or --token)", 1);
    }
    if (!a.ok()) {
      throw new UserError("the GRC refused the local login on " + socket + ": "
          + a.error(), 1);
    }
    return a;
  }
}
