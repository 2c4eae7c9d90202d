package org.lambdagrid.nsi;

import static org.assertj.core.api.Assertions.assertThat;

import jakarta.xml.ws.Holder;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.ogf.schemas.nsi._2013._12.framework.headers.CommonHeaderType;

/** Callbacks reach a request only from the configured provider, of the right type and connection. */
class NsiCallbackTest {
  private static final String PROVIDER = "urn:ogf:network:fake.net:2026:nsa";
  private static final String US = "urn:ogf:network:lambdagrid:2026:nsa:grc";

  @Test
  void aReplyCompletesARequestOnlyWithItsCallbackTypeAndConnection() {
    Replies r = new Replies();
    CompletableFuture<Replies.Reply> commit = r.expect("c1",
        Set.of("reserveCommitConfirmed", "reserveCommitFailed"), "CONN-1");
    assertThat(r.complete("c1", new Replies.Reply("terminateConfirmed", "CONN-1", null))).isFalse();
    assertThat(r.complete("c1", new Replies.Reply("reserveCommitConfirmed", "CONN-2", null)))
        .isFalse();
    assertThat(r.complete("c2", new Replies.Reply("reserveCommitConfirmed", "CONN-1", null)))
        .isFalse();
    assertThat(commit).isNotDone();
    assertThat(r.complete("c1", new Replies.Reply("reserveCommitFailed", "CONN-1", "no")))
        .isTrue();
    assertThat(commit.join().failure()).isEqualTo("no");

    // an error without a connection id is any request's
    CompletableFuture<Replies.Reply> term = r.expect("c3", Set.of("terminateConfirmed"), "CONN-1");
    assertThat(r.complete("c3", new Replies.Reply("error", null, "bad"))).isTrue();
    assertThat(term.join().callback()).isEqualTo("error");

    // reserve: any connection until the acknowledgment names it, then only that one
    CompletableFuture<Replies.Reply> res = r.expect("c4",
        Set.of("reserveConfirmed", "reserveFailed"), null);
    r.knownAs("c4", "CONN-9");
    assertThat(r.complete("c4", new Replies.Reply("reserveConfirmed", "CONN-8", null))).isFalse();
    assertThat(r.complete("c4", new Replies.Reply("reserveConfirmed", "CONN-9", null))).isTrue();
    assertThat(res.join().connectionId()).isEqualTo("CONN-9");
  }

  private static Holder<CommonHeaderType> header(String provider, String requester) {
    CommonHeaderType h = new CommonHeaderType();
    h.setCorrelationId("urn:uuid:1");
    h.setProviderNSA(provider);
    h.setRequesterNSA(requester);
    return new Holder<>(h);
  }

  @Test
  void callbacksWhoseHeaderIsNotOurProvidersAreDropped() {
    List<String> sunk = new ArrayList<>();
    List<String> events = new ArrayList<>();
    RequesterEndpoint e = new RequesterEndpoint(
        (corr, cb, id, failure) -> sunk.add(cb + " " + id), new NsiEvents() {
          @Override
          public void reserveTimeout(String connectionId, int timeoutSeconds) {
            events.add("reserveTimeout " + connectionId);
          }
        }, PROVIDER, US);
    e.reserveCommitConfirmed("CONN-1", header("urn:ogf:network:other.net:2026:nsa", US));
    e.reserveCommitConfirmed("CONN-1", header(PROVIDER, "urn:ogf:network:someone:else"));
    e.reserveCommitConfirmed("CONN-1", null);
    e.reserveTimeout("CONN-1", 1, null, 30, "CONN-1", PROVIDER,
        header("urn:ogf:network:other.net:2026:nsa", US));
    assertThat(sunk).isEmpty();
    assertThat(events).isEmpty();

    e.reserveCommitConfirmed("CONN-1", header(PROVIDER, US));
    e.reserveTimeout("CONN-1", 1, null, 30, "CONN-1", PROVIDER, header(PROVIDER, US));
    assertThat(sunk).containsExactly("reserveCommitConfirmed CONN-1");
    assertThat(events).containsExactly("reserveTimeout CONN-1");
  }
}
