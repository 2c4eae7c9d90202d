package org.lambdagrid.nodemanager;

import io.grpc.ManagedChannel;
import java.util.HashMap;
import java.util.Map;
import org.lambdagrid.common.Channels;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.security.Role;
import org.lambdagrid.common.security.TlsConfig;

/**
 * Where a pilot gets its channel to the CRM. A NodeManager of its own (sudo) opens one per pilot;
 * the node agent shares one per CRM and TLS identity among all its pilots, so a host starting
 * dozens of pilots makes one TLS connection to each CRM, not one per pilot (each pilot still
 * authenticates itself with its own credential in its hello, on its own stream).
 *
 * <p>Thread-safe.
 */
public abstract class CrmChannels {
  /** A channel held by one pilot until {@link #close}. */
  public interface Lease extends AutoCloseable {
    ManagedChannel channel();

    @Override
    void close();
  }

  /** A new channel per pilot, shut down when its lease closes. */
  public static CrmChannels perPilot() {
    return new CrmChannels() {
      @Override
      public Lease open(String source, Endpoint crm, TlsConfig tls, String crmSite) {
        ManagedChannel c = Channels.forEndpoint(source, crm, tls, Role.CRM, crmSite);
        return new Lease() {
          @Override
          public ManagedChannel channel() {
            return c;
          }

          @Override
          public void close() {
            Channels.close(c);
          }
        };
      }
    };
  }

  /** One channel per (CRM, TLS files, CRM site), shut down when its last lease closes. */
  public static CrmChannels shared() {
    return new Shared();
  }

  /** A channel to {@code crm} as {@link Channels#forEndpoint} makes it, for one pilot. */
  public abstract Lease open(String source, Endpoint crm, TlsConfig tls, String crmSite);

  private static final class Shared extends CrmChannels {
    private record Key(Endpoint crm, TlsConfig tls, String crmSite) {}

    private static final class Entry {
      final ManagedChannel channel;
      int leases;

      Entry(ManagedChannel channel) {
        this.channel = channel;
      }
    }

    private final Map<Key, Entry> channels = new HashMap<>();

    @Override
    public Lease open(String source, Endpoint crm, TlsConfig tls, String crmSite) {
      Key key = new Key(crm, tls, crmSite);
      Entry e;
      synchronized (channels) {
        e = channels.get(key);
        if (e == null || e.channel.isShutdown()) {
          e = new Entry(Channels.forEndpoint(source, crm, tls, Role.CRM, crmSite));
          channels.put(key, e);
        }
        e.leases++;
      }
      Entry held = e;
      return new Lease() {
        private boolean closed;

        @Override
        public ManagedChannel channel() {
          return held.channel;
        }

        @Override
        public void close() {
          boolean last;
          synchronized (channels) {
            if (closed) {
              return;
            }
            closed = true;
            last = --held.leases == 0;
            if (last) {
              channels.remove(key, held);
            }
          }
          if (last) {
            Channels.close(held.channel);
          }
        }
      };
    }
  }
}
