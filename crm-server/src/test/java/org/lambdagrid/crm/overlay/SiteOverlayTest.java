package org.lambdagrid.crm.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Errors;
import org.lambdagrid.common.net.CommandRunner;
import org.lambdagrid.common.net.FakeKernel;
import org.lambdagrid.common.net.JsonRecords;
import org.lambdagrid.proto.v1.OverlayTunnel;
import org.lambdagrid.proto.v1.ReservationOverlay;
import org.slf4j.LoggerFactory;

public class SiteOverlayTest {
  @TempDir Path dir;
  final FakeKernel kernel = new FakeKernel();
  private final List<Runnable> detach = new ArrayList<>();

  SiteOverlay alpha() {
    return new SiteOverlay("alpha", "172.31.255.2", "lg-site-alpha", dir, kernel, Duration.ofSeconds(1));
  }

  /** alpha's end of a three-site reservation: tunnels to bravo (90 Mbit/s) and charlie (40). */
  public static ReservationOverlay.Builder alphaEnd(int vni, String tag) {
    return ReservationOverlay.newBuilder().setVni(vni).setMtu(1450).setBridge("lgn" + tag + "b0")
        .setLocalEndpoint("172.31.255.2")
        .addTunnels(OverlayTunnel.newBuilder().setPeerSite("bravo").setPeerEndpoint("172.31.255.6").setPort(4789)
            .setRateBps(90_000_000).setDevice("lgn" + tag + "x0"))
        .addTunnels(OverlayTunnel.newBuilder().setPeerSite("charlie").setPeerEndpoint("172.31.255.10").setPort(4790)
            .setRateBps(40_000_000).setDevice("lgn" + tag + "x1"));
  }

  static OverlayPlan plan(String id, int vni, String tag) {
    return OverlayPlan.from(id, alphaEnd(vni, tag).build());
  }

  @Test
  void buildMakesTheBridgeAndATunnelPerPeerInTheUnderlayNamespaceShapedToThePairsRate() {
    SiteOverlay o = alpha();
    assertThat(o.record(plan("r1", 4096, "abc123"))).isTrue();
    assertThat(kernel.mutations()).isEmpty(); // Prepare records, builds nothing
    o.build("r1");
    List<String> m = kernel.mutations();
    assertThat(m).contains(
        "ip link add name lgnabc123b0 type bridge",
        "ip link set dev lgnabc123b0 mtu 1450",
        "ip -n lg-site-alpha link add name lgnabc123x0 type vxlan id 4096 local 172.31.255.2 remote 172.31.255.6"
            + " dstport 4789 nolearning",
        "ip -n lg-site-alpha link add name lgnabc123x1 type vxlan id 4096 local 172.31.255.2 remote 172.31.255.10"
            + " dstport 4790 nolearning",
        "ip -n lg-site-alpha link set dev lgnabc123x1 netns 1",
        "ip link set dev lgnabc123x1 mtu 1450",
        "ip link set dev lgnabc123x0 master lgnabc123b0",
        "bridge link set dev lgnabc123x0 isolated on",
        "tc class replace dev lgnabc123x0 parent 1: classid 1:1 htb rate 90000000bit ceil 90000000bit quantum 200000",
        "tc class replace dev lgnabc123x1 parent 1: classid 1:1 htb rate 40000000bit ceil 40000000bit quantum 200000");
    // Shaped and isolated before it goes up; no addresses anywhere.
    assertThat(m.indexOf("ip link set dev lgnabc123x1 up")).isGreaterThan(m.indexOf(
        "tc class replace dev lgnabc123x1 parent 1: classid 1:1 htb rate 40000000bit ceil 40000000bit quantum 200000"))
        .isGreaterThan(m.indexOf("bridge link set dev lgnabc123x1 isolated on"));
    assertThat(m).noneMatch(c -> c.contains("addr add"));
    assertThat(kernel.links).containsExactly("lgnabc123b0", "lgnabc123x0", "lgnabc123x1");
    assertThat(o.built("r1")).isTrue();
    // Commit again: nothing more runs.
    int before = kernel.commands.size();
    o.build("r1");
    assertThat(kernel.commands).hasSize(before);
    o.remove("r1");
    assertThat(kernel.links).isEmpty();
    assertThat(o.recordedAll()).isEmpty();
    o.remove("r1"); // idempotent
  }

  @Test
  void anUnshapedTunnelGetsNoQdiscAndANamespacelessSiteMakesItHere() {
    SiteOverlay o = new SiteOverlay("alpha", "172.31.255.2", "", dir, kernel, Duration.ofSeconds(1));
    ReservationOverlay.Builder b = alphaEnd(7, "abc123");
    b.setTunnels(1, b.getTunnels(1).toBuilder().setRateBps(0));
    o.record(OverlayPlan.from("r1", b.build()));
    o.build("r1");
    assertThat(kernel.mutations()).noneMatch(c -> c.startsWith("ip -n") || c.contains("netns"))
        .noneMatch(c -> c.startsWith("tc") && c.contains("lgnabc123x1"))
        .anyMatch(c -> c.startsWith("tc") && c.contains("lgnabc123x0"));
  }

  @Test
  void aVniAnotherReservationUsesHereIsRefusedNamingFieldAndValueAndNothingIsLeft() {
    SiteOverlay o = alpha();
    o.record(plan("r1", 4096, "abc123"));
    o.build("r1");
    int links = kernel.links.size();
    assertThatThrownBy(() -> o.record(plan("r2", 4096, "def456")))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.ALREADY_EXISTS))
        .hasMessageContaining("overlay.vni: 4096").hasMessageContaining("reservation r1");
    assertThat(o.recorded("r2")).isEmpty();
    assertThat(kernel.links).hasSize(links);
    // Another plan for the same reservation is refused too; the same one again is fine.
    assertThatThrownBy(() -> o.record(plan("r1", 4097, "abc123"))).hasMessageContaining("another overlay plan");
    assertThat(o.record(plan("r1", 4096, "abc123"))).isFalse();
  }

  @Test
  void anEndpointThatIsNotThisSitesIsRefusedNamingFieldAndValue() {
    SiteOverlay o = alpha();
    OverlayPlan p = OverlayPlan.from("r1", alphaEnd(4096, "abc123").setLocalEndpoint("172.31.255.99").build());
    assertThatThrownBy(() -> o.record(p))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT))
        .hasMessageContaining("overlay.local_endpoint").hasMessageContaining("172.31.255.99")
        .hasMessageContaining("172.31.255.2");
    assertThat(o.recordedAll()).isEmpty();
    assertThat(kernel.commands).isEmpty();
  }

  @Test
  void badPlansAreRefusedNamingTheField() {
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(0, "abc123").build())).hasMessageContaining("overlay.vni");
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(1 << 24, "abc123").build())).hasMessageContaining("overlay.vni");
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(5, "abc123").setMtu(1000).build()))
        .hasMessageContaining("overlay.mtu").hasMessageContaining("1000");
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(5, "abc123").setBridge("eth0").build()))
        .hasMessageContaining("overlay.bridge").hasMessageContaining("eth0");
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(5, "abc123").setLocalEndpoint("vtep.tokyo").build()))
        .hasMessageContaining("overlay.local_endpoint").hasMessageContaining("vtep.tokyo");
    ReservationOverlay.Builder b = alphaEnd(5, "abc123");
    b.setTunnels(1, b.getTunnels(1).toBuilder().setDevice("lgnabc123x0"));
    assertThatThrownBy(() -> OverlayPlan.from("r1", b.build())).hasMessageContaining("overlay.tunnels[1].device");
    ReservationOverlay.Builder c = alphaEnd(5, "abc123");
    c.setTunnels(0, c.getTunnels(0).toBuilder().setPort(70000));
    assertThatThrownBy(() -> OverlayPlan.from("r1", c.build())).hasMessageContaining("overlay.tunnels[0].port");
    ReservationOverlay.Builder d = alphaEnd(5, "abc123");
    d.setTunnels(0, d.getTunnels(0).toBuilder().setRateBps(-1));
    assertThatThrownBy(() -> OverlayPlan.from("r1", d.build())).hasMessageContaining("overlay.tunnels[0].rate_bps");
    assertThatThrownBy(() -> OverlayPlan.from("../x", alphaEnd(5, "abc123").build())).hasMessageContaining("reservation_id");
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(5, "abc123").clearTunnels().build()))
        .hasMessageContaining("overlay.tunnels");
  }

  @Test
  void aFailedBuildRemovesWhatItMadeKeepsTheRecordAndARetryBuilds() {
    SiteOverlay o = alpha();
    o.record(plan("r1", 4096, "abc123"));
    kernel.failWhen(argv -> argv.get(0).equals("bridge") && argv.contains("lgnabc123x1"));
    assertThatThrownBy(() -> o.build("r1"))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.INTERNAL))
        .hasMessageContaining("bridge link set dev lgnabc123x1 isolated on").hasMessageContaining("removed");
    assertThat(kernel.links).isEmpty();
    assertThat(o.recorded("r1")).isPresent();
    assertThat(o.built("r1")).isFalse();
    kernel.failWhen(argv -> false);
    o.build("r1");
    assertThat(kernel.links).hasSize(3);
  }

  @Test
  void sweepAndRecoverRemoveOverlaysOfHoldsThatAreNotLiveAndBuildCommittedOnes() {
    SiteOverlay o = alpha();
    recordAndBuild(o, plan("r1", 4096, "abc111"));
    o.record(plan("r2", 4097, "abc222"));
    o.settled("r2");
    o.record(plan("r3", 4098, "abc333")); // a prepare still taking its hold
    // The periodic sweep: r1's hold expired; r3's prepare is under way, so it is left alone.
    assertThat(o.sweep(id -> id.equals("r2"))).isZero();
    assertThat(o.recorded("r1")).isEmpty();
    assertThat(kernel.links).noneMatch(d -> d.startsWith("lgnabc111"));
    assertThat(o.recorded("r3")).isPresent();
    // A restart (the prepare of r3 died with the CRM, r2 is committed but was never built).
    SiteOverlay after = alpha();
    after.recover(id -> id.equals("r2"), "r2"::equals, List.of("r2"));
    assertThat(after.recorded("r3")).isEmpty();
    assertThat(after.built("r2")).isTrue();
    assertThat(kernel.links).containsExactly("lgnabc222b0", "lgnabc222x0", "lgnabc222x1");
    after.sweep(id -> false);
    assertThat(after.recordedAll()).isEmpty();
    assertThat(kernel.links).isEmpty();
  }

  @Test
  void onlyNamesOfTheGrcsFormAreAccepted() {
    // The site's underlay uplink, its bridge, a NodeManager link: never an overlay device.
    ReservationOverlay.Builder b = alphaEnd(5, "abc123");
    b.setTunnels(0, b.getTunnels(0).toBuilder().setDevice("lgrt-alpha"));
    assertThatThrownBy(() -> OverlayPlan.from("r1", b.build()))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.INVALID_ARGUMENT))
        .hasMessageContaining("overlay.tunnels[0].device").hasMessageContaining("lgrt-alpha");
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(5, "abc123").setBridge("lgbr-alpha").build()))
        .hasMessageContaining("overlay.bridge").hasMessageContaining("lgbr-alpha");
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(5, "abc123").setBridge("lgv12").build()))
        .hasMessageContaining("overlay.bridge");
    // A tunnel name where the bridge goes (and the other way round) is refused too.
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(5, "abc123").setBridge("lgnabc123x7").build()))
        .hasMessageContaining("overlay.bridge");
    assertThatThrownBy(() -> OverlayPlan.from("r1", alphaEnd(5, "ABC123").build())).hasMessageContaining("overlay.bridge");
  }

  @Test
  void aNameThatAlreadyExistsAtRecordIsRefusedAndNeverDeleted() {
    SiteOverlay o = alpha();
    kernel.links.add("lgnabc123x1"); // someone else's
    assertThatThrownBy(() -> o.record(plan("r1", 4096, "abc123")))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.ALREADY_EXISTS))
        .hasMessageContaining("overlay.tunnels[1].device").hasMessageContaining("lgnabc123x1");
    assertThat(o.recordedAll()).isEmpty();
    o.remove("r1");
    o.sweep(id -> false);
    assertThat(kernel.links).containsExactly("lgnabc123x1");
    assertThat(kernel.mutations()).isEmpty();
  }

  @Test
  void aNameThatAppearsBeforeTheBuildIsRefusedAndOnlyWhatThisCrmMadeIsRemoved() {
    SiteOverlay o = alpha();
    o.record(plan("r1", 4096, "abc123"));
    kernel.links.add("lgnabc123x1"); // appeared between Prepare and Commit
    assertThatThrownBy(() -> o.build("r1"))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.ALREADY_EXISTS))
        .hasMessageContaining("overlay.tunnels[1].device: lgnabc123x1");
    assertThat(kernel.links).containsExactly("lgnabc123x1"); // bridge and x0 (ours) removed, x1 kept
    // Abort: the record goes, the foreign device stays.
    o.remove("r1");
    assertThat(o.recordedAll()).isEmpty();
    assertThat(kernel.links).containsExactly("lgnabc123x1");
    assertThat(kernel.mutations()).noneMatch(c -> c.contains("del") && c.contains("lgnabc123x1"));
  }

  @Test
  void aDeviceWhoseAddFailsWithFileExistsIsNeverCleanedUp() {
    // Another process creates the name between the check and the add: ip link add says File exists.
    CommandRunner racing = (argv, t) -> {
      if (String.join(" ", argv).contains("link add name lgnabc123x1")) {
        kernel.links.add("lgnabc123x1");
      }
      return kernel.run(argv, t);
    };
    SiteOverlay o = new SiteOverlay("alpha", "172.31.255.2", "lg-site-alpha", dir, racing, Duration.ofSeconds(1));
    o.record(plan("r1", 4096, "abc123"));
    assertThatThrownBy(() -> o.build("r1")).hasMessageContaining("File exists");
    assertThat(kernel.links).containsExactly("lgnabc123x1");
    kernel.commands.clear();
    o.remove("r1");
    assertThat(kernel.links).containsExactly("lgnabc123x1");
    assertThat(kernel.mutations()).isEmpty();
  }

  @Test
  void theRecordListsTheDevicesThisCrmCreated() throws Exception {
    SiteOverlay o = alpha();
    o.record(plan("r1", 4096, "abc123"));
    o.build("r1");
    SiteOverlay.StateFile sf = new org.lambdagrid.common.net.JsonRecords<>(dir, SiteOverlay.StateFile.class, "t")
        .read("r1").orElseThrow();
    assertThat(sf.owned()).containsExactlyInAnyOrder(new SiteOverlay.Owned("lgnabc123b0", "", true),
        new SiteOverlay.Owned("lgnabc123x0", "", true), new SiteOverlay.Owned("lgnabc123x1", "", true));
  }

  @Test
  void anOwnedEntryItsPlanDoesNotMakeIsRefusedWithAWarningAndItsDeviceNeverRemoved() {
    SiteOverlay o = alpha();
    recordAndBuild(o, plan("r1", 4096, "abc111"));
    recordAndBuild(o, plan("r2", 4097, "abc222"));
    kernel.links.add("eth0");
    // While the CRM is down r1's record comes to claim the host's eth0, r2's bridge and tunnel,
    // and its own tunnel x1 only in a namespace this CRM never builds in.
    JsonRecords<SiteOverlay.StateFile> raw =
        new JsonRecords<>(dir, SiteOverlay.StateFile.class, "t");
    SiteOverlay.StateFile sf = raw.read("r1").orElseThrow();
    List<SiteOverlay.Owned> owned = new ArrayList<>(sf.owned().stream()
        .filter(e -> !e.device().equals("lgnabc111x1")).toList());
    owned.add(new SiteOverlay.Owned("eth0", "", true));
    owned.add(new SiteOverlay.Owned("lgnabc222b0", "", false));
    owned.add(new SiteOverlay.Owned("lgnabc222x0", "", true));
    owned.add(new SiteOverlay.Owned("lgnabc111x1", "lg-site-bravo", true));
    raw.write("r1", new SiteOverlay.StateFile(sf.version(), sf.built(), sf.plan(), owned));
    ListAppender<ILoggingEvent> log = overlayLog();

    SiteOverlay after = alpha();
    after.recover("r2"::equals, "r2"::equals, List.of("r2")); // r1's hold ended: teardown
    assertThat(after.recorded("r1")).isEmpty();
    assertThat(kernel.links).containsExactly("eth0", "lgnabc111x1", "lgnabc222b0", "lgnabc222x0",
        "lgnabc222x1");
    assertThat(kernel.mutations()).noneMatch(c -> c.contains("del") && (c.contains("eth0")
        || c.contains("lgnabc222") || c.contains("lgnabc111x1")));
    assertThat(kernel.commands).noneMatch(c -> c.contains("lg-site-bravo"));
    String file = dir.resolve("r1.json").toString();
    List<String> warnings = log.list.stream().filter(e -> e.getLevel() == Level.WARN)
        .map(ILoggingEvent::getFormattedMessage).toList();
    for (String entry : List.of("eth0", "lgnabc222b0", "lgnabc222x0",
        "lgnabc111x1 in netns lg-site-bravo")) {
      assertThat(warnings).filteredOn(w -> w.contains("device " + entry + " as created"))
          .singleElement().satisfies(w -> assertThat(w).contains(file, "reservation r1",
              "[lgnabc111b0, lgnabc111x0, lgnabc111x1]"));
    }
    // r2's own record is untouched: its teardown removes its devices as before.
    after.remove("r2");
    assertThat(kernel.links).containsExactly("eth0", "lgnabc111x1");
  }

  @Test
  void twoRecordsNamingOneDeviceRemoveNothingUntilTheOperatorRemovesTheDamagedOne()
      throws Exception {
    SiteOverlay o = alpha();
    recordAndBuild(o, plan("r2", 4097, "abc222"));
    JsonRecords<SiteOverlay.StateFile> raw =
        new JsonRecords<>(dir, SiteOverlay.StateFile.class, "t");
    SiteOverlay.StateFile r2 = raw.read("r2").orElseThrow();
    List<String> devices = List.of("lgnabc222b0", "lgnabc222x0", "lgnabc222x1");

    // r1's record made of r2's plan under r1's id, owning r2's devices: which is whose?
    raw.write("r1", new SiteOverlay.StateFile(r2.version(), true, plan("r1", 4097, "abc222"),
        r2.owned()));
    ListAppender<ILoggingEvent> log = overlayLog();
    for (String id : List.of("r1", "r2")) {
      assertThatThrownBy(() -> o.remove(id)).isInstanceOf(Errors.RequestException.class)
          .hasMessageContaining("is also named by record")
          .matches(e -> ((Errors.RequestException) e).code() == Status.Code.INTERNAL);
    }
    assertThat(o.sweep(id -> false)).isEqualTo(2);
    assertThat(o.sweep(id -> false)).isEqualTo(2);
    assertThat(log.list).as("each refusal logged once, at ERROR, however often it is retried")
        .filteredOn(e -> e.getFormattedMessage().contains("is also named by record")).hasSize(2)
        .allMatch(e -> e.getLevel() == Level.ERROR);
    assertThat(kernel.links).containsExactlyElementsOf(devices);
    assertThat(raw.read("r1")).isPresent();
    assertThat(raw.read("r2")).contains(r2);

    // r1's record holding r2's record unchanged (its plan says r2): never acted on as r1 or r2.
    raw.write("r1", r2);
    assertThatThrownBy(() -> o.remove("r1")).isInstanceOf(Errors.RequestException.class)
        .hasMessageContaining("holds the plan of reservation r2, not of r1");
    assertThat(o.recordedAll()).extracting(OverlayPlan::reservationId).containsExactly("r2");
    assertThat(o.sweep(id -> false)).as("r2's removal refused, counted").isEqualTo(1);
    assertThat(kernel.links).containsExactlyElementsOf(devices);
    assertThat(raw.read("r2")).contains(r2);

    // The operator removes the damaged file: r2 ends as usual.
    java.nio.file.Files.delete(dir.resolve("r1.json"));
    o.remove("r2");
    assertThat(kernel.links).isEmpty();
  }

  @Test
  void aSharedDeviceFoundAgainAfterTheOperatorFixedTheRecordsIsLoggedAgain() {
    SiteOverlay o = alpha();
    recordAndBuild(o, plan("r1", 4096, "abc111"));
    recordAndBuild(o, plan("r2", 4097, "abc222"));
    JsonRecords<SiteOverlay.StateFile> raw =
        new JsonRecords<>(dir, SiteOverlay.StateFile.class, "t");
    SiteOverlay.StateFile r2 = raw.read("r2").orElseThrow();
    ListAppender<ILoggingEvent> log = overlayLog();
    java.util.function.Supplier<List<String>> refusals = () -> log.list.stream()
        .filter(e -> e.getFormattedMessage().contains("is also named by record"))
        .map(e -> e.getLevel() + " " + e.getFormattedMessage().split(" ")[2]).toList();
    for (int time = 1; time <= 2; time++) {
      // r1's record damaged (r2's plan under r1's id): r1's hold ended, r2's is live.
      SiteOverlay.StateFile r1 = raw.read("r1").orElseThrow();
      raw.write("r1", new SiteOverlay.StateFile(r2.version(), true, plan("r1", 4097, "abc222"),
          r2.owned()));
      assertThat(o.sweep("r2"::equals)).isEqualTo(1);
      assertThat(o.sweep("r2"::equals)).isEqualTo(1);
      assertThat(refusals.get()).as("logged once per occurrence, time " + time)
          .hasSize(time).allMatch(m -> m.equals("ERROR lgnabc222b0"));
      // The operator puts r1's record back; the sweep removes r1; r1 is prepared again.
      raw.write("r1", r1);
      assertThat(o.sweep("r2"::equals)).isZero();
      assertThat(kernel.links).noneMatch(d -> d.startsWith("lgnabc111"));
      recordAndBuild(o, plan("r1", 4096, "abc111"));
    }
  }

  @Test
  void aRecordOneSweepRemovesNoLongerHoldsUpTheNextRemovalOfThatSweep() {
    SiteOverlay o = alpha();
    recordAndBuild(o, plan("r2", 4097, "abc222"));
    // r1: an unbuilt record that names r2's devices (damage) but owns none, removed first.
    new JsonRecords<>(dir, SiteOverlay.StateFile.class, "t").write("r1",
        new SiteOverlay.StateFile(SiteOverlay.VERSION, false, plan("r1", 4097, "abc222")));
    assertThat(o.sweep(id -> false)).isZero();
    assertThat(o.recordedAll()).isEmpty();
    assertThat(kernel.links).isEmpty();
  }

  @Test
  void aRecordWithoutAPlanIsSkippedAsUnreadable() throws Exception {
    SiteOverlay o = alpha();
    recordAndBuild(o, plan("r2", 4097, "abc222"));
    java.nio.file.Files.writeString(dir.resolve("r3.json"),
        "{\"version\": 2, \"built\": true, \"plan\": null, \"owned\": []}");
    assertThat(o.recordedAll()).extracting(OverlayPlan::reservationId).containsExactly("r2");
    o.remove("r2"); // not held up by r3's record
    assertThat(kernel.links).isEmpty();
  }

  /** {@code p} recorded by a Prepare that took its hold, then built (its Commit). */
  private static void recordAndBuild(SiteOverlay o, OverlayPlan p) {
    o.record(p);
    o.settled(p.reservationId());
    o.build(p.reservationId());
  }

  /** Captures what {@link SiteOverlay} logs until the test ends. */
  private ListAppender<ILoggingEvent> overlayLog() {
    Logger logger = (Logger) LoggerFactory.getLogger(SiteOverlay.class);
    ListAppender<ILoggingEvent> a = new ListAppender<>();
    a.start();
    logger.addAppender(a);
    detach.add(() -> logger.detachAppender(a));
    return a;
  }

  @AfterEach
  void detachAppenders() {
    detach.forEach(Runnable::run);
  }

  @Test
  void devicesRecordedInAnUnderlayNamespaceThatIsGoneAreGoneWithIt() {
    // E.g. a host reboot: the records survive on disk, the underlay namespace does not.
    String gone = "lgt-gone-" + java.util.UUID.randomUUID().toString().substring(0, 8);
    assertThat(org.lambdagrid.common.net.LinkCommands.netnsExists(gone)).isFalse();
    SiteOverlay o =
        new SiteOverlay("alpha", "172.31.255.2", gone, dir, kernel, Duration.ofSeconds(1));
    o.record(plan("r1", 4096, "abc123"));
    new org.lambdagrid.common.net.JsonRecords<>(dir, SiteOverlay.StateFile.class, "t").write("r1",
        new SiteOverlay.StateFile(SiteOverlay.VERSION, false, plan("r1", 4096, "abc123"), List.of(
            new SiteOverlay.Owned("lgnabc123x0", gone, true), // made there, never moved out
            new SiteOverlay.Owned("lgnabc123x1", "", false)))); // host or underlay: not confirmed
    kernel.missingNamespaces.add(gone);
    o.remove("r1");
    assertThat(o.recorded("r1")).isEmpty();
    assertThat(kernel.mutations()).isEmpty();
  }

  @Test
  void anUnreadableRecordIsSkippedNotFatal() throws Exception {
    SiteOverlay o = alpha();
    o.record(plan("r2", 4097, "abc222"));
    o.settled("r2");
    java.nio.file.Files.write(dir.resolve("r1.json"), new byte[0]); // a power loss before fsync existed
    SiteOverlay after = alpha();
    after.recover("r2"::equals, "r2"::equals, List.of("r2")); // does not throw
    assertThat(after.built("r2")).isTrue();
    assertThat(after.recordedAll()).extracting(OverlayPlan::reservationId).containsExactly("r2");
    assertThat(after.sweep(id -> false)).isZero();
    assertThat(dir.resolve("r1.json")).exists(); // kept for the operator
  }

  @Test
  void aCommitOfAnUnreadableRecordFailsNamingTheReservationWithTheReadErrorAsItsCause()
      throws Exception {
    SiteOverlay o = alpha();
    o.record(plan("r1", 4096, "abc111"));
    o.settled("r1");
    java.nio.file.Files.writeString(dir.resolve("r1.json"), "{\"version\": 2, \"built\": tru");
    ListAppender<ILoggingEvent> log = overlayLog();
    assertThatThrownBy(() -> o.build("r1")).isInstanceOfSatisfying(Errors.RequestException.class,
        e -> {
          assertThat(e.code()).isEqualTo(Status.Code.INTERNAL);
          assertThat(e).hasMessageStartingWith("overlay: reservation r1 on site 'alpha': record "
              + dir.resolve("r1.json") + " is unreadable (");
          assertThat(e.getCause()).as("the read's own error, for the log")
              .isInstanceOf(Errors.RequestException.class)
              .hasMessageStartingWith("overlay: record " + dir.resolve("r1.json"))
              .cause().as("and what the parser said").isInstanceOf(java.io.IOException.class);
        });
    assertThatThrownBy(() -> o.build("r1")).as("the GRC's retry").hasMessageContaining("r1.json");
    assertThat(log.list).as("logged once, with the cause's stack").singleElement()
        .satisfies(e -> {
          assertThat(e.getLevel()).isEqualTo(ch.qos.logback.classic.Level.ERROR);
          assertThat(e.getThrowableProxy().getCause().getCause().getClassName())
              .as("the parser's exception").endsWith("JsonParseException");
        });
    assertThat(kernel.links).isEmpty();
  }

  @Test
  void theSweepLeavesAReservationPreparedAgainAfterItReadTheRecords() {
    SiteOverlay o = alpha();
    OverlayPlan r1 = plan("r1", 4096, "abc111");
    recordAndBuild(o, r1);
    // live() is asked outside the lock: the GRC's retried Prepare of r1 lands in between.
    assertThat(o.sweep(id -> {
      o.record(r1);
      return false;
    })).isZero();
    assertThat(o.recorded("r1")).contains(r1);
    assertThat(kernel.links).anyMatch(d -> d.startsWith("lgnabc111"));
  }

  @Test
  void committedOverlaysWhoseDevicesAreGoneAtRecoveryAreRebuilt() {
    SiteOverlay o = alpha();
    recordAndBuild(o, plan("r1", 4096, "abc123"));
    kernel.links.clear(); // the host rebooted; the state dir survived
    SiteOverlay after = alpha();
    after.recover("r1"::equals, "r1"::equals, List.of("r1"));
    assertThat(kernel.links).containsExactly("lgnabc123b0", "lgnabc123x0", "lgnabc123x1");
    assertThat(after.built("r1")).isTrue();
    // Some gone: what is left is removed, then all built again.
    kernel.links.remove("lgnabc123x0");
    alpha().recover("r1"::equals, "r1"::equals, List.of("r1"));
    assertThat(kernel.links).containsExactly("lgnabc123b0", "lgnabc123x0", "lgnabc123x1");
    // All there: nothing runs.
    int before = kernel.commands.size();
    alpha().recover("r1"::equals, "r1"::equals, List.of("r1"));
    assertThat(kernel.commands.subList(before, kernel.commands.size())).allMatch(c -> c.contains("show"));
  }

  @Test
  void aRestartExpectsTheHoldsThatSayTheyHaveAnOverlayEndNotTheRecords() throws Exception {
    SiteOverlay o = alpha();
    o.record(plan("r1", 4096, "abc111"));
    o.settled("r1");
    o.record(plan("r2", 4097, "abc222"));
    o.settled("r2");
    java.nio.file.Files.delete(dir.resolve("r1.json")); // lost while the CRM was down
    SiteOverlay after = alpha();
    after.recover(id -> true, id -> false, List.of("r1", "r2"));
    assertThatThrownBy(() -> after.build("r1"))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.INTERNAL))
        .hasMessageContaining("reservation r1").hasMessageContaining("site 'alpha'")
        .hasMessageContaining(dir.resolve("r1.json").toString());
    after.build("r2");
    assertThat(kernel.links).containsExactly("lgnabc222b0", "lgnabc222x0", "lgnabc222x1");
    after.build("r3"); // a hold without an overlay end: nothing
    assertThat(kernel.links).hasSize(3);
    after.sweep(id -> !id.equals("r1")); // r1's hold ended: no longer expected
    after.build("r1");
    assertThat(after.recorded("r2")).isPresent();
  }

  @Test
  void aCommitWhoseExpectedRecordIsGoneFailsAndARetriedPrepareIsNotSwept() {
    SiteOverlay o = alpha();
    assertThat(o.record(plan("r1", 4096, "abc123"))).isTrue();
    assertThat(o.record(plan("r1", 4096, "abc123"))).isFalse(); // a retried prepare, concurrently
    o.settled("r1"); // the first one gave up
    o.sweep(id -> false); // the second still takes its hold: its record stays
    assertThat(o.recorded("r1")).isPresent();
    o.settled("r1");
    o.expect("r1");
    o.remove("r1"); // a racing abort removed it
    assertThatThrownBy(() -> o.build("r1"))
        .isInstanceOfSatisfying(Errors.RequestException.class, e -> assertThat(e.code()).isEqualTo(Status.Code.INTERNAL))
        .hasMessageContaining("r1").hasMessageContaining("retries the Commit");
    o.forget("r1");
    o.build("r1"); // not routed (any more): nothing
    assertThat(kernel.links).isEmpty();
  }
}
