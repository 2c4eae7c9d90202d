package org.lambdagrid.grc.scale;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;

/**
 * N {@link SimulatedSite}s in this JVM, each its own gRPC server on an ephemeral loopback port
 * (the GRC addresses a site by its CRM endpoint, one channel per site, as with real CRMs), all
 * sharing one acceptor thread and two event-loop threads and answering on the event loop
 * (every answer is immediate). Site i is {@code site-NNNN} (4 digits) with one published pool:
 * {@code 10.i.0.0/16} for up to 200 sites, else the i-th /20 of 10.0.0.0/8 (up to 4096 sites).
 */
final class SimulatedGrid implements AutoCloseable {
  final List<SimulatedSite> sites = new ArrayList<>();
  final List<Server> servers = new ArrayList<>();
  private final EventLoopGroup boss = new NioEventLoopGroup(1);
  private final EventLoopGroup workers = new NioEventLoopGroup(2);

  SimulatedGrid(int n, int capacity, KeyPool keys) throws IOException {
    if (n < 2 || n > 4096) {
      throw new IllegalArgumentException("--sites: " + n + " is not between 2 and 4096");
    }
    for (int i = 0; i < n; i++) {
      SimulatedSite s = new SimulatedSite(String.format("site-%04d", i), capacity, keys);
      Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
          .channelType(NioServerSocketChannel.class).bossEventLoopGroup(boss)
          .workerEventLoopGroup(workers).directExecutor().addService(s).build().start();
      sites.add(s);
      servers.add(server);
    }
  }

  String range(int i) {
    long base = sites.size() <= 200 ? (10L << 24) + ((long) i << 16) : (10L << 24) + ((long) i << 12);
    return new Ipv4Cidr(base, sites.size() <= 200 ? 16 : 20).toString();
  }

  RegisterSiteRequest registration(int i) {
    return RegisterSiteRequest.newBuilder().setName(sites.get(i).name)
        .setCrmEndpoint("127.0.0.1:" + servers.get(i).getPort())
        .setNodeCapacity(sites.get(i).capacity)
        .addRanges(AddressRange.newBuilder().setCidr(range(i))).setSlotsPerNode(1).build();
  }

  /**
   * Registers every site (threads callers in parallel, each its own blocking call, as N CRMs
   * would); returns each registration's latency in nanoseconds.
   */
  long[] register(String grc, int threads) throws InterruptedException {
    ManagedChannel ch = NettyChannelBuilder.forTarget(grc).usePlaintext().build();
    long[] lat = new long[sites.size()];
    try {
      var stub = SiteRegistryServiceGrpc.newBlockingStub(ch);
      Parallel.run(sites.size(), threads, i -> {
        long t0 = System.nanoTime();
        stub.withDeadlineAfter(30, TimeUnit.SECONDS).registerSite(registration(i));
        lat[i] = System.nanoTime() - t0;
      });
    } finally {
      ch.shutdownNow();
    }
    return lat;
  }

  List<String> violations() {
    List<String> out = new ArrayList<>();
    sites.forEach(s -> out.addAll(s.violations));
    return out;
  }

  @Override
  public void close() throws InterruptedException {
    servers.forEach(Server::shutdownNow);
    for (Server s : servers) {
      s.awaitTermination(5, TimeUnit.SECONDS);
    }
    boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
    workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
  }
}
