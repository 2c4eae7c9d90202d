package org.lambdagrid.nodemanager;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.security.TlsConfig;

class CrmChannelsTest {
  private static final TlsConfig INSECURE = new TlsConfig(null, null, null, true);
  private static final Endpoint A = new Endpoint("127.0.0.1", 7101);
  private static final Endpoint B = new Endpoint("127.0.0.1", 7102);

  @Test
  void theAgentsPilotsShareOneChannelPerCrmUntilTheLastOneEnds() {
    CrmChannels shared = CrmChannels.shared();
    CrmChannels.Lease a1 = shared.open("t", A, INSECURE, null);
    CrmChannels.Lease a2 = shared.open("t", A, INSECURE, null);
    CrmChannels.Lease b1 = shared.open("t", B, INSECURE, null);
    assertThat(a2.channel()).isSameAs(a1.channel());
    assertThat(b1.channel()).isNotSameAs(a1.channel());
    a1.close();
    a1.close(); // idempotent: does not release a2's hold
    assertThat(a2.channel().isShutdown()).isFalse();
    a2.close();
    assertThat(a2.channel().isShutdown()).isTrue();
    CrmChannels.Lease a3 = shared.open("t", A, INSECURE, null);
    assertThat(a3.channel()).isNotSameAs(a1.channel());
    assertThat(a3.channel().isShutdown()).isFalse();
    a3.close();
    b1.close();
  }

  @Test
  void aPilotOfItsOwnHasItsOwnChannel() {
    CrmChannels own = CrmChannels.perPilot();
    CrmChannels.Lease a1 = own.open("t", A, INSECURE, null);
    CrmChannels.Lease a2 = own.open("t", A, INSECURE, null);
    assertThat(a2.channel()).isNotSameAs(a1.channel());
    a1.close();
    assertThat(a1.channel().isShutdown()).isTrue();
    assertThat(a2.channel().isShutdown()).isFalse();
    a2.close();
  }
}
