package org.lambdagrid.common.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntSupplier;
import java.util.random.RandomGenerator;

/**
 * TCP ports for tests that must know a server's port before the server binds it: a daemon in its
 * own process told {@code listen: 127.0.0.1:PORT}, a daemon restarted on the same port, or a port
 * that must stay unreachable. (A server in this JVM should bind port 0 and ask for its port.)
 *
 * <p>Why not {@code new ServerSocket(0)}, closed before the server starts: that port comes from
 * the kernel's ephemeral range ({@code /proc/sys/net/ipv4/ip_local_port_range}), the range the
 * kernel also draws the local port of every outgoing connection from (Maven, gRPC clients, other
 * tests), so any {@code connect()} on the machine can take it between the pick and the bind. The
 * kernel never gives a port outside that range to a socket that did not ask for it: only a server
 * that binds it explicitly can take it, and ports here are drawn at random from thousands.
 *
 * <p>{@link #pick} returns a port in {@value #LOWEST}..65535 outside the ephemeral range, that
 * was free on 127.0.0.1 when checked (a bind with {@code SO_REUSEADDR}, as the daemons' servers
 * bind, so a listener there or on the wildcard address refuses it, a lingering TIME_WAIT
 * connection does not), and that no earlier call in this JVM returned (two ports picked before
 * either server starts differ). It is not reserved: a server elsewhere binding it explicitly
 * still could. After {@value #ATTEMPTS} refused candidates it throws IllegalStateException naming
 * the range and the last refusal. On a host whose ephemeral range leaves no port of
 * {@value #LOWEST}..65535 outside it (e.g. {@code 1024 65535}), it says so once on stderr and
 * hands out ports the kernel assigns, as {@code new ServerSocket(0)} would. Thread-safe.
 */
public final class FreePorts {
  /** Below this sit the fixed ports of the testbed and local services (5433, 6917, 73xx, 9443). */
  static final int LOWEST = 20_000;
  static final int ATTEMPTS = 50;
  static final Path RANGE_FILE = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
  /** Linux's default ephemeral range, taken when {@link #RANGE_FILE} is missing or malformed. */
  static final PortRange DEFAULT_EPHEMERAL = new PortRange(32768, 60999);

  private static final InetAddress LOOPBACK = loopback();

  /** Null: no port lies outside the ephemeral range, so candidates are kernel-assigned. */
  private final PortRange ephemeral;
  private final IntSupplier candidates;
  private final Set<Integer> handedOut = ConcurrentHashMap.newKeySet();

  /** Inclusive range of ports. */
  record PortRange(int low, int high) {
    boolean contains(int port) {
      return port >= low && port <= high;
    }

    int size() {
      return high - low + 1;
    }

    @Override
    public String toString() {
      return low + "-" + high;
    }
  }

  /** The one instance every test in this JVM shares (so its ports never repeat). */
  private static final class Shared {
    static final FreePorts INSTANCE;

    static {
      PortRange ephemeral = ephemeralRange(RANGE_FILE);
      if (outside(ephemeral).isEmpty()) {
        System.err.println("FreePorts: no port in " + LOWEST + "-65535 lies outside the ephemeral"
            + " range " + ephemeral + " (" + RANGE_FILE + "); using ports the kernel assigns, which"
            + " an outgoing connection may take before the server binds");
        INSTANCE = new FreePorts(null, FreePorts::kernelAssigned);
      } else {
        INSTANCE = new FreePorts(ephemeral, random(ephemeral, new Random())); // thread-safe
      }
    }
  }

  /** Tries the ports {@code candidates} yields (test seam; {@link #pick} draws at random). */
  FreePorts(PortRange ephemeral, IntSupplier candidates) {
    this.ephemeral = ephemeral;
    this.candidates = candidates;
  }

  /** A free loopback port outside the kernel's ephemeral range; see the class comment. */
  public static int pick() {
    return Shared.INSTANCE.next();
  }

  int next() {
    String refusal = "";
    for (int i = 0; i < ATTEMPTS; i++) {
      int port = candidates.getAsInt();
      if (ephemeral != null && (port < LOWEST || port > 65535 || ephemeral.contains(port))) {
        refusal = port + " is not in " + LOWEST + "-65535 outside the ephemeral range";
        continue;
      }
      if (handedOut.contains(port)) {
        refusal = port + " was returned before in this JVM";
        continue;
      }
      try (ServerSocket probe = new ServerSocket()) {
        probe.setReuseAddress(true);
        probe.bind(new InetSocketAddress(LOOPBACK, port));
      } catch (IOException e) {
        refusal = "127.0.0.1:" + port + ": " + e.getMessage();
        continue;
      }
      if (handedOut.add(port)) {
        return port;
      }
      refusal = port + " was returned before in this JVM";
    }
    throw new IllegalStateException("no free port on 127.0.0.1" + (ephemeral == null ? ""
        : " outside the ephemeral range " + ephemeral) + " after " + ATTEMPTS + " tries; the last: "
        + refusal);
  }

  /** A port the kernel assigns on 127.0.0.1 (the fallback; see the class comment). */
  static int kernelAssigned() {
    try (ServerSocket s = new ServerSocket(0, 1, LOOPBACK)) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException("cannot bind a port on 127.0.0.1: " + e.getMessage(), e);
    }
  }

  /**
   * The kernel's ephemeral range from {@code file} ("LOW\tHIGH"), or {@link #DEFAULT_EPHEMERAL}
   * when the file is missing, unreadable or not two ports with LOW <= HIGH. Never throws.
   */
  static PortRange ephemeralRange(Path file) {
    try {
      return parseRange(Files.readString(file)).orElse(DEFAULT_EPHEMERAL);
    } catch (IOException | RuntimeException e) {
      return DEFAULT_EPHEMERAL;
    }
  }

  static Optional<PortRange> parseRange(String text) {
    String[] fields = text.strip().split("\\s+");
    if (fields.length != 2) {
      return Optional.empty();
    }
    try {
      int low = Integer.parseInt(fields[0]);
      int high = Integer.parseInt(fields[1]);
      return low >= 1 && low <= high && high <= 65535
          ? Optional.of(new PortRange(low, high)) : Optional.empty();
    } catch (NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** The spans of {@value #LOWEST}..65535 outside {@code ephemeral}, lowest first; maybe none. */
  static List<PortRange> outside(PortRange ephemeral) {
    List<PortRange> spans = new ArrayList<>();
    if (ephemeral.low() > LOWEST) {
      spans.add(new PortRange(LOWEST, Math.min(65535, ephemeral.low() - 1)));
    }
    if (ephemeral.high() < 65535) {
      spans.add(new PortRange(Math.max(LOWEST, ephemeral.high() + 1), 65535));
    }
    return spans;
  }

  /**
   * Ports drawn uniformly from {@link #outside}; each draw throws IllegalStateException when
   * there are none.
   */
  static IntSupplier random(PortRange ephemeral, RandomGenerator random) {
    List<PortRange> spans = outside(ephemeral);
    int total = spans.stream().mapToInt(PortRange::size).sum();
    return () -> {
      if (total == 0) {
        throw new IllegalStateException("no port in " + LOWEST + "-65535 lies outside the"
            + " ephemeral range " + ephemeral + " (" + RANGE_FILE + "); tests cannot pick a port"
            + " that outgoing connections will not take");
      }
      int i = random.nextInt(total);
      for (PortRange span : spans) {
        if (i < span.size()) {
          return span.low() + i;
        }
        i -= span.size();
      }
      throw new AssertionError("unreachable");
    };
  }

  private static InetAddress loopback() {
    try {
      return InetAddress.getByAddress("localhost", new byte[] {127, 0, 0, 1});
    } catch (UnknownHostException e) {
      throw new AssertionError(e); // only for an address of the wrong length
    }
  }
}
