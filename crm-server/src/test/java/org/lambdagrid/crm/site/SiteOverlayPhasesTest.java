package org.lambdagrid.crm.site;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Endpoint;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.common.net.FakeKernel;
import org.lambdagrid.crm.overlay.SiteOverlay;
import org.lambdagrid.crm.overlay.SiteOverlayTest;
import org.lambdagrid.crm.testing.TestPilotStarter;
import org.lambdagrid.proto.v1.AbortRequest;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.CommitRequest;
import org.lambdagrid.proto.v1.PrepareRequest;
import org.lambdagrid.proto.v1.ReleaseRequest;

/** A routed site's SiteService: the overlay end of Prepare is recorded, built at Commit, removed at the end. */
class SiteOverlayPhasesTest {
  @TempDir Path dir;
  final FakeKernel kernel = new FakeKernel();
  final SiteShares shares = new SiteShares(
      new SiteSettings("alpha", 3, List.of(Ipv4Cidr.parse("10.10.0.0/16")), 1, Duration.ofSeconds(5),
          Duration.ofSeconds(1)),
      new TestPilotStarter(null), () -> new Endpoint("127.0.0.1", 7100), Clock.systemUTC());

  SiteOverlay overlay() {
    return new SiteOverlay("alpha", "172.31.255.2", "", dir, kernel, Duration.ofSeconds(1));
  }

  @AfterEach
  void close() {
    shares.close();
  }

  static PrepareRequest.Builder prepare(String id, int nodes, String range) {
    Instant t0 = Instant.now().plusSeconds(60);
    return PrepareRequest.newBuilder().setReservationId(id).setNodeCount(nodes)
        .setRange(AddressRange.newBuilder().setCidr(range)).setStart(ProtoTime.toProto(t0))
        .setEnd(ProtoTime.toProto(t0.plusSeconds(3600)));
  }

  /** The call's status: OK, or its error's. */
  @SuppressWarnings({"rawtypes", "unchecked"})
  static Status call(java.util.function.Consumer<StreamObserver> c) {
    AtomicReference<Status> st = new AtomicReference<>();
    c.accept(new StreamObserver<Object>() {
      @Override
      public void onNext(Object v) { }

      @Override
      public void onError(Throwable t) {
        st.set(Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {
        st.set(Status.OK);
      }
    });
    return st.get();
  }

  @Test
  void preparedIsRecordedCommittedIsBuiltReleasedIsRemoved() {
    SiteOverlay o = overlay();
    SiteServiceImpl svc = new SiteServiceImpl(shares, o);
    PrepareRequest req = prepare("r1", 2, "10.10.1.0/24").setOverlay(SiteOverlayTest.alphaEnd(4096, "abc123")).build();
    assertThat(call(out -> svc.prepare(req, out)).isOk()).isTrue();
    assertThat(o.recorded("r1")).isPresent();
    assertThat(kernel.links).isEmpty();
    assertThat(call(out -> svc.commit(CommitRequest.newBuilder().setReservationId("r1").build(), out)).isOk()).isTrue();
    assertThat(kernel.links).containsExactly("lgnabc123b0", "lgnabc123x0", "lgnabc123x1");
    assertThat(call(out -> svc.release(ReleaseRequest.newBuilder().setReservationId("r1").build(), out)).isOk())
        .isTrue();
    assertThat(kernel.links).isEmpty();
    assertThat(o.recordedAll()).isEmpty();
  }

  @Test
  void aRefusedPrepareLeavesNoRecordAndAnAbortRemovesOne() {
    SiteOverlay o = overlay();
    SiteServiceImpl svc = new SiteServiceImpl(shares, o);
    // More nodes than the site has: the hold is refused, so is the overlay end.
    Status st = call(out -> svc.prepare(prepare("r1", 9, "10.10.1.0/24")
        .setOverlay(SiteOverlayTest.alphaEnd(4096, "abc123")).build(), out));
    assertThat(st.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(o.recordedAll()).isEmpty();
    // A VNI clash is refused naming the field before anything is held.
    assertThat(call(out -> svc.prepare(prepare("r2", 1, "10.10.2.0/24")
        .setOverlay(SiteOverlayTest.alphaEnd(4096, "abc222")).build(), out)).isOk()).isTrue();
    Status clash = call(out -> svc.prepare(prepare("r3", 1, "10.10.3.0/24")
        .setOverlay(SiteOverlayTest.alphaEnd(4096, "abc333")).build(), out));
    assertThat(clash.getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
    assertThat(clash.getDescription()).contains("overlay.vni: 4096", "r2");
    assertThat(shares.reservations().state("r3")).isEmpty();
    assertThat(call(out -> svc.abort(AbortRequest.newBuilder().setReservationId("r2").build(), out)).isOk()).isTrue();
    assertThat(o.recordedAll()).isEmpty();
    assertThat(kernel.commands).noneMatch(c -> c.contains("add"));
  }

  @Test
  void aRepeatedPrepareThatAddsOrDropsTheOverlayEndIsRefusedAndLeavesTheFirstAsItWas() {
    SiteOverlay o = overlay();
    SiteServiceImpl svc = new SiteServiceImpl(shares, o);
    PrepareRequest plain = prepare("r1", 1, "10.10.1.0/24").build();
    assertThat(call(out -> svc.prepare(plain, out)).isOk()).isTrue();
    Status added = call(out -> svc.prepare(plain.toBuilder()
        .setOverlay(SiteOverlayTest.alphaEnd(4096, "abc123")).build(), out));
    assertThat(added.getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
    assertThat(added.getDescription()).contains("r1", "without an overlay end");
    assertThat(o.recordedAll()).as("the refused retry's record").isEmpty();
    assertThat(call(out -> svc.commit(CommitRequest.newBuilder().setReservationId("r1").build(), out)).isOk())
        .isTrue();
    assertThat(kernel.links).isEmpty();

    PrepareRequest routed = prepare("r2", 1, "10.10.2.0/24")
        .setOverlay(SiteOverlayTest.alphaEnd(4097, "abc222")).build();
    assertThat(call(out -> svc.prepare(routed, out)).isOk()).isTrue();
    Status dropped = call(out -> svc.prepare(routed.toBuilder().clearOverlay().build(), out));
    assertThat(dropped.getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
    assertThat(dropped.getDescription()).contains("r2", "with an overlay end");
    assertThat(o.recorded("r2")).as("the first prepare's record").isPresent();
    assertThat(call(out -> svc.commit(CommitRequest.newBuilder().setReservationId("r2").build(), out)).isOk())
        .isTrue();
    assertThat(kernel.links).contains("lgnabc222b0");
  }

  @Test
  void aSiteThatIsNotRoutedRefusesAnOverlayEndNamingTheSection() {
    SiteServiceImpl svc = new SiteServiceImpl(shares);
    Status st = call(out -> svc.prepare(prepare("r1", 1, "10.10.1.0/24")
        .setOverlay(SiteOverlayTest.alphaEnd(4096, "abc123")).build(), out));
    assertThat(st.getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(st.getDescription()).contains("overlay:");
    assertThat(shares.reservations().state("r1")).isEmpty();
  }

  @Test
  void aCommitWhoseOverlayRecordVanishedAfterThePrepareFailsInsteadOfBuildingNothing() {
    SiteOverlay o = overlay();
    SiteServiceImpl svc = new SiteServiceImpl(shares, o);
    PrepareRequest req = prepare("r1", 1, "10.10.1.0/24").setOverlay(SiteOverlayTest.alphaEnd(4096, "abc123")).build();
    assertThat(call(out -> svc.prepare(req, out)).isOk()).isTrue();
    o.remove("r1"); // what a sweep racing the prepare did
    Status st = call(out -> svc.commit(CommitRequest.newBuilder().setReservationId("r1").build(), out));
    assertThat(st.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(st.getDescription()).contains("r1", "retries the Commit");
    assertThat(call(out -> svc.release(ReleaseRequest.newBuilder().setReservationId("r1").build(), out)).isOk())
        .isTrue();
    // A reservation prepared without an overlay still commits with nothing to build.
    assertThat(call(out -> svc.prepare(prepare("r2", 1, "10.10.2.0/24").build(), out)).isOk()).isTrue();
    assertThat(call(out -> svc.commit(CommitRequest.newBuilder().setReservationId("r2").build(), out)).isOk()).isTrue();
    assertThat(kernel.links).isEmpty();
  }
}
