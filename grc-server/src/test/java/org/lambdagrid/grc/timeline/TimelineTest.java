package org.lambdagrid.grc.timeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcServer;
import org.lambdagrid.grc.testing.FakeSites;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.GridServiceGrpc;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.NodeState;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.RegisterSiteRequest;
import org.lambdagrid.proto.v1.ReservationSpec;
import org.lambdagrid.proto.v1.ReserveRequest;
import org.lambdagrid.proto.v1.SiteRegistryServiceGrpc;
import org.lambdagrid.proto.v1.SubmitJobRequest;

/** The timeline's JSON, built from a GRC running in process with fake sites. */
class TimelineTest {
  private final FakeSites fakes = new FakeSites();
  private GrcServer server;
  private ManagedChannel channel;
  private GridServiceGrpc.GridServiceBlockingStub grid;

  @AfterEach
  void tearDown() {
    if (channel != null) {
      channel.shutdownNow();
    }
    if (server != null) {
      server.close();
    }
  }

  /** Sites a and b (4 nodes each) joined through core by 1 Gbit/s links. */
  private void startGrc() throws Exception {
    fakes.add("a");
    fakes.add("b");
    String name = InProcessServerBuilder.generateName();
    GrcConfig config = new GrcConfig(null, GrcConfig.PhaseTimeouts.all("2s"), "2s", "200ms",
        null, null).withTopology(new GrcConfig.TopologyConfig(List.of("a", "b", "core"),
            List.of(new GrcConfig.LinkConfig("a", "core", "1G"),
                new GrcConfig.LinkConfig("b", "core", "1G"))), null);
    server = new GrcServer(config, Clock.systemUTC(), fakes.factory(),
        InProcessServerBuilder.forName(name).directExecutor()).start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    var sites = SiteRegistryServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(30, TimeUnit.SECONDS);
    grid = GridServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    for (String s : new String[] {"a", "b"}) {
      sites.registerSite(RegisterSiteRequest.newBuilder().setName(s)
          .setCrmEndpoint(FakeSites.endpoint(s)).setNodeCapacity(4)
          .addRanges(AddressRange.newBuilder().setCidr("10.10.0.0/16")).build());
    }
  }

  private String reserve(int nodesA, int nodesB, long bps) {
    ReservationSpec.Builder spec = ReservationSpec.newBuilder().setUser("alice")
        .putSiteNodes("a", nodesA).setDuration(ProtoTime.toProto(Duration.ofMinutes(10)))
        .setPrebuild(false);
    if (nodesB > 0) {
      spec.putSiteNodes("b", nodesB);
    }
    if (bps > 0) {
      spec.setBandwidthBps(bps);
    }
    return grid.reserve(ReserveRequest.newBuilder().setSpec(spec).build()).getReservation()
        .getId();
  }

  private ObjectNode around() {
    return server.timeline().snapshot(Timeline.around(Instant.now(), Duration.ofMinutes(30)));
  }

  private static JsonNode byId(JsonNode array, String id) {
    for (JsonNode n : array) {
      if (n.path("id").asText().equals(id) || n.path("name").asText().equals(id)) {
        return n;
      }
    }
    throw new AssertionError(id + " is not in " + array);
  }

  private static List<String> states(JsonNode phases) {
    List<String> out = new ArrayList<>();
    phases.forEach(p -> out.add(p.get("state").asText()));
    return out;
  }

  @Test
  void showsSitesLinksAReservationsShareOfEachLink_andAJobFromItsStartToItsEnd()
      throws Exception {
    startGrc();
    fakes.get("a").holdExit();
    String rid = reserve(2, 1, 200_000_000L);
    await().atMost(Duration.ofSeconds(10)).until(() ->
        byId(around().get("reservations"), rid).get("state").asText().equals("ACTIVE"));

    ObjectNode t = around();
    assertThat(t.get("to").asLong() - t.get("from").asLong()).isEqualTo(30 * 60_000L);
    assertThat(t.get("now").asLong()).isBetween(t.get("from").asLong(), t.get("to").asLong());
    assertThat(byId(t.get("sites"), "a").get("nodes").asInt()).isEqualTo(4);
    assertThat(byId(t.get("sites"), "a").get("nodesReservedNow").asInt()).isEqualTo(2);
    assertThat(byId(t.get("sites"), "b").get("nodesReservedNow").asInt()).isEqualTo(1);
    JsonNode link = byId(t.get("links"), "a<->core");
    assertThat(link.get("capacityBps").asLong()).isEqualTo(1_000_000_000L);
    assertThat(link.get("reservedNowBps").asLong()).isEqualTo(200_000_000L);
    JsonNode r = byId(t.get("reservations"), rid);
    assertThat(r.get("user").asText()).isEqualTo("alice");
    assertThat(r.get("end").asLong() - r.get("start").asLong()).isEqualTo(10 * 60_000L);
    assertThat(r.get("siteNodes").toString()).isEqualTo("{\"a\":2,\"b\":1}");
    assertThat(r.get("linkBps").toString())
        .isEqualTo("{\"a<->core\":200000000,\"b<->core\":200000000}");
    assertThat(r.has("endedAt")).isFalse();
    assertThat(t.get("jobs")).isEmpty();

    String jid = grid.submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
        .setReservationId(rid).addArgv("sleep").addArgv("3").setWorkingDirectory("/tmp")
        .setUser("alice")).build()).getJob().getId();
    await().atMost(Duration.ofSeconds(10)).until(() -> server.coordinator().get(jid).getState()
        == JobState.JOB_RUNNING);
    JsonNode running = byId(around().get("jobs"), jid);
    assertThat(running.get("state").asText()).isEqualTo("RUNNING");
    assertThat(running.get("reservation").asText()).isEqualTo(rid);
    assertThat(running.get("sites").toString()).isEqualTo("{\"a\":2,\"b\":1}");
    assertThat(running.get("command").asText()).isEqualTo("sleep 3");
    assertThat(running.has("started")).isTrue();
    assertThat(running.has("ended")).isFalse();
    assertThat(byId(around().get("reservations"), rid).get("jobs").toString())
        .isEqualTo("[\"" + jid + "\"]");

    JsonNode view = server.timeline().job(jid).orElseThrow();
    assertThat(states(view.get("phases")))
        .containsExactly("PENDING", "SETTING_UP", "EXCHANGING", "STARTING", "RUNNING");
    JsonNode open = view.get("phases").get(4);
    assertThat(open.get("phase").asText()).isEqualTo("EXEC");
    assertThat(open.has("end")).as("the running phase is open").isFalse();
    assertThat(view.get("phases").get(1).get("nodeEvents").asInt())
        .as("node events during SETTING_UP").isPositive();

    String host = server.coordinator().get(jid).getFirstNode();
    fakes.get("a").exit(jid, host, 0);
    await().atMost(Duration.ofSeconds(10)).until(() -> server.coordinator().get(jid).getState()
        == JobState.JOB_SUCCEEDED);
    JsonNode done = byId(around().get("jobs"), jid);
    assertThat(done.get("state").asText()).isEqualTo("SUCCEEDED");
    assertThat(done.get("ended").asLong()).isGreaterThanOrEqualTo(done.get("started").asLong());
    assertThat(done.get("exitCode").asInt()).isZero();
    JsonNode phases = server.timeline().job(jid).orElseThrow().get("phases");
    assertThat(states(phases)).containsExactly("PENDING", "SETTING_UP", "EXCHANGING",
        "STARTING", "RUNNING", "SUCCEEDED");
    for (int i = 0; i < phases.size() - 1; i++) {
      JsonNode p = phases.get(i);
      assertThat(p.get("end").asLong()).isEqualTo(phases.get(i + 1).get("start").asLong());
      assertThat(p.get("durationMs").asLong())
          .isEqualTo(p.get("end").asLong() - p.get("start").asLong());
    }

    // A span an hour ahead holds neither the ended job nor the reservation (it ends in 10 min).
    ObjectNode later = server.timeline().snapshot(Timeline.between(
        Instant.now().plus(Duration.ofHours(1)), Instant.now().plus(Duration.ofHours(2))));
    assertThat(later.get("reservations")).isEmpty();
    assertThat(later.get("jobs")).isEmpty();
    assertThat(later.get("sites")).hasSize(2);
  }

  @Test
  void aReservationMadeForOneJobEndsWhenTheJobDoes() throws Exception {
    startGrc();
    String jid = grid.submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
        .putSiteNodes("b", 1).addArgv("hostname").setWorkingDirectory("/tmp")
        .setUser("bob")).build()).getJob().getId();
    await().atMost(Duration.ofSeconds(10)).until(() -> server.coordinator().get(jid).getState()
        == JobState.JOB_SUCCEEDED);
    await().atMost(Duration.ofSeconds(10)).until(() ->
        around().get("reservations").get(0).get("state").asText().equals("ENDED"));
    ObjectNode t = around();
    JsonNode job = byId(t.get("jobs"), jid);
    JsonNode r = t.get("reservations").get(0);
    assertThat(job.get("reservation").asText()).isEqualTo(r.get("id").asText());
    assertThat(r.get("endedAt").asLong()).isEqualTo(job.get("ended").asLong());
    assertThat(r.get("linkBps")).isEmpty();
    assertThat(job.get("user").asText()).isEqualTo("bob");
  }

  @Test
  void answersAtMostTheNewestItems_andCountsTheRest() throws Exception {
    startGrc();
    String first = reserve(1, 0, 0);
    String second = reserve(1, 0, 0);
    String third = reserve(1, 0, 0);
    Timeline two = new Timeline(Clock.systemUTC(), server.registry(), server.coAllocator(),
        server.reservations(), server.coordinator(), 2);
    ObjectNode t = two.snapshot(Timeline.around(Instant.now(), Duration.ofHours(1)));
    List<String> ids = new ArrayList<>();
    t.get("reservations").forEach(r -> ids.add(r.get("id").asText()));
    assertThat(ids).containsExactlyInAnyOrder(third, second).doesNotContain(first);
    assertThat(t.get("more").get("reservations").asInt()).isEqualTo(1);
    assertThat(t.get("more").get("jobs").asInt()).isZero();
  }

  @Test
  void answersAtMostTheNewestJobs_andCountsTheRest_withoutSnapshottingThem() throws Exception {
    startGrc();
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      String jid = grid.submitJob(SubmitJobRequest.newBuilder().setSpec(JobSpec.newBuilder()
          .putSiteNodes("a", 1).addArgv("true").setWorkingDirectory("/tmp").setUser("carol"))
          .build()).getJob().getId();
      await().atMost(Duration.ofSeconds(10)).until(() -> server.coordinator().get(jid)
          .getState() == JobState.JOB_SUCCEEDED);
      ids.add(jid);
      Thread.sleep(5); // distinct creation times: newest first is well defined
    }
    Timeline two = new Timeline(Clock.systemUTC(), server.registry(), server.coAllocator(),
        server.reservations(), server.coordinator(), 2);
    ObjectNode t = two.snapshot(Timeline.around(Instant.now(), Duration.ofHours(1)));
    List<String> shown = new ArrayList<>();
    t.get("jobs").forEach(j -> shown.add(j.get("id").asText()));
    assertThat(shown).containsExactly(ids.get(2), ids.get(1));
    assertThat(t.get("more").get("jobs").asInt()).isEqualTo(1);
    for (JsonNode j : t.get("jobs")) {
      assertThat(j.get("ended").asLong()).isGreaterThanOrEqualTo(j.get("started").asLong());
      assertThat(j.get("reservation").asText()).startsWith("r-");
      assertThat(j.get("sites").toString()).isEqualTo("{\"a\":1}");
    }
    // A span before any of them holds none, counts none.
    ObjectNode before = two.snapshot(Timeline.between(Instant.now().minus(Duration.ofHours(2)),
        Instant.now().minus(Duration.ofHours(1))));
    assertThat(before.get("jobs")).isEmpty();
    assertThat(before.get("more").get("jobs").asInt()).isZero();
  }

  @Test
  void anUnknownJobHasNoView() throws Exception {
    startGrc();
    assertThat(server.timeline().job("j-00000000")).isEmpty();
  }

  @Test
  void spansArePositiveAndAtMostSevenDays() {
    Instant now = Instant.parse("2030-01-01T00:00:00Z");
    Timeline.Span s = Timeline.around(now, Duration.ofMinutes(20));
    assertThat(s.from()).isEqualTo(now.minus(Duration.ofMinutes(5)));
    assertThat(s.to()).isEqualTo(now.plus(Duration.ofMinutes(15)));
    assertThatThrownBy(() -> Timeline.around(now, Duration.ZERO))
        .hasMessageContaining("must be positive");
    assertThatThrownBy(() -> Timeline.around(now, Duration.ofDays(8)))
        .hasMessageContaining("at most 7 days");
    assertThatThrownBy(() -> Timeline.between(now, now.minusSeconds(1)))
        .hasMessageContaining("must be positive");
  }

  @Test
  void phasesRunFromOneJobStateToTheNext_countingNodeEvents_theCurrentOneOpen() {
    Instant t0 = Instant.parse("2030-01-01T00:00:00Z");
    List<Event> events = List.of(
        jobEvent(t0, JobState.JOB_PENDING, Phase.PHASE_UNSPECIFIED),
        jobEvent(t0.plusMillis(100), JobState.JOB_SETTING_UP, Phase.PHASE_SETUP),
        Event.newBuilder().setTime(ProtoTime.toProto(t0.plusMillis(150)))
            .setNodeState(NodeState.NODE_CONNECTED).setPhase(Phase.PHASE_LAUNCH).build(),
        Event.newBuilder().setTime(ProtoTime.toProto(t0.plusMillis(180)))
            .setNodeState(NodeState.NODE_SET_UP).setPhase(Phase.PHASE_SETUP).build(),
        jobEvent(t0.plusMillis(400), JobState.JOB_EXCHANGING, Phase.PHASE_KEYS));
    JsonNode p = Timeline.phases(events, t0.plusMillis(1000));
    assertThat(states(p)).containsExactly("PENDING", "SETTING_UP", "EXCHANGING");
    assertThat(p.get(0).get("durationMs").asLong()).isEqualTo(100);
    assertThat(p.get(1).get("durationMs").asLong()).isEqualTo(300);
    assertThat(p.get(1).get("nodeEvents").asInt()).isEqualTo(2);
    assertThat(p.get(1).get("phase").asText()).isEqualTo("SETUP");
    assertThat(p.get(2).has("end")).isFalse();
    assertThat(p.get(2).get("durationMs").asLong()).as("so far").isEqualTo(600);

    List<Event> failed = new ArrayList<>(events);
    failed.add(jobEvent(t0.plusMillis(700), JobState.JOB_FAILED, Phase.PHASE_KEYS));
    JsonNode f = Timeline.phases(failed, t0.plusMillis(5000));
    assertThat(f.get(2).get("durationMs").asLong()).isEqualTo(300);
    assertThat(f.get(3).get("state").asText()).isEqualTo("FAILED");
    assertThat(f.get(3).get("durationMs").asLong()).isZero();
  }

  private static Event jobEvent(Instant t, JobState s, Phase p) {
    return Event.newBuilder().setTime(ProtoTime.toProto(t)).setJobState(s).setPhase(p).build();
  }
}
