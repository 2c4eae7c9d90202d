package org.lambdagrid.nodemanager.agent;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a host's users, who may all connect to the agent's socket, can hold of it: a connection
 * that never sends its request is closed with an error once the request timeout passes, and
 * connections beyond the limit are refused at once, so no one runs the agent out of threads.
 */
class NodeAgentLimitsTest {
  @TempDir Path dir;
  private NodeAgent agent;
  private final List<SocketChannel> clients = new ArrayList<>();

  @AfterEach
  void stop() throws Exception {
    for (SocketChannel c : clients) {
      c.close();
    }
    if (agent != null) {
      agent.close();
    }
  }

  private Path start(NodeAgent.Limits limits) throws IOException {
    Path socket = dir.resolve("run/agent.sock");
    agent = NodeAgent.bind(socket, null, limits);
    Thread t = new Thread(agent::serve, "agent-serve");
    t.setDaemon(true);
    t.start();
    return socket;
  }

  private SocketChannel connect(Path socket) throws IOException {
    SocketChannel c = SocketChannel.open(java.net.UnixDomainSocketAddress.of(socket));
    clients.add(c);
    return c;
  }

  /** Everything the agent sends until it closes the connection (waits at most 30 s). */
  private static String readAll(SocketChannel c) throws Exception {
    return CompletableFuture.supplyAsync(() -> {
      StringBuilder out = new StringBuilder();
      ByteBuffer b = ByteBuffer.allocate(4096);
      try {
        while (c.read(b) >= 0) {
          out.append(StandardCharsets.UTF_8.decode(b.flip()));
          b.clear();
        }
      } catch (IOException e) {
        out.append("[").append(e).append("]");
      }
      return out.toString();
    }).get(30, TimeUnit.SECONDS);
  }

  @Test
  void aConnectionThatSendsNothingIsClosedAfterTheRequestTimeout() throws Exception {
    Path socket = start(new NodeAgent.Limits(8, Duration.ofMillis(300)));
    SocketChannel silent = connect(socket);
    assertThat(readAll(silent)).startsWith("nodemanager: request: ")
        .contains("(the request must arrive within 300ms)")
        .endsWith(NodeAgent.EXIT_LINE + " 2\n");
  }

  @Test
  void connectionsBeyondTheLimitAreRefusedAtOnceAndTheOthersStillServed() throws Exception {
    Path socket = start(new NodeAgent.Limits(2, Duration.ofMinutes(5)));
    SocketChannel a = connect(socket);
    connect(socket);
    SocketChannel third = connect(socket);
    assertThat(readAll(third)).isEqualTo("nodemanager: node agent: 2 pilots are running on this"
        + " host already; try again later\n" + NodeAgent.EXIT_LINE + " 2\n");
    // The first two are still being served: a bad request gets its answer.
    a.write(ByteBuffer.wrap("hello\n".getBytes(StandardCharsets.UTF_8)));
    assertThat(readAll(a)).startsWith("nodemanager: request: expected 'pilot CRM JOB NODE")
        .endsWith(NodeAgent.EXIT_LINE + " 2\n");
  }
}
