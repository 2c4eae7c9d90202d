package org.lambdagrid.grc.job;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.lambdagrid.common.ConfigLoader;
import org.lambdagrid.common.Ipv4Cidr;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.common.testing.StoreBackend;
import org.lambdagrid.common.testing.TestDatabase;
import org.lambdagrid.grc.GrcConfig;
import org.lambdagrid.grc.GrcState;
import org.lambdagrid.proto.v1.JobSpec;
import org.lambdagrid.proto.v1.JobState;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;

/**
 * A finished job's output leaves memory for the state database and is read back on demand. On
 * H2 (in memory) and on a real PostgreSQL (skipped without scripts/postgres-local).
 */
class JobOutputStoreTest {
  @TempDir Path dir;
  private GrcState state;
  private TestDatabase db;

  /** The GRC's state on {@code backend}: H2 in memory, or a fresh PostgreSQL database. */
  private void open(StoreBackend backend) {
    if (backend == StoreBackend.H2) {
      state = GrcState.inMemory("output-" + UUID.randomUUID());
      return;
    }
    db = TestDatabase.create(backend, dir, "grc");
    state = GrcState.open(ConfigLoader.parse("grc.yaml", db.stateYaml(), GrcConfig.class));
  }

  @AfterEach
  void close() {
    if (state != null) {
      state.close();
    }
    if (db != null) {
      db.close();
    }
  }

  private static JobRecord job(String id) {
    Instant now = Instant.now();
    return new JobRecord(id, JobSpec.newBuilder().setUser("alice").addArgv("yes")
        .setWorkingDirectory("/tmp").putSiteNodes("a", 1).build(), now, now,
        now.plusSeconds(3600), Map.of("a", Ipv4Cidr.parse("10.10.0.0/30")), 1 << 20);
  }

  private static OutputChunk chunk(OutputChunk.Stream s, String text) {
    return OutputChunk.newBuilder().setStream(s).setHostname("a-0")
        .setData(ByteString.copyFromUtf8(text)).build();
  }

  private static String text(List<OutputBuffer.Piece> pieces) {
    StringBuilder b = new StringBuilder();
    pieces.forEach(p -> b.append(p.chunk().getData().toStringUtf8()));
    return b.toString();
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void aFinishedJobsOutputIsEvictedToTheStoreAndNotLoadedAtStart(StoreBackend backend) {
    open(backend);
    JdbcJobStore store = new JdbcJobStore(state.database(), 1 << 20);
    JobRecord job = job("j-1");
    job.appendPending("reserved", Instant.now());
    store.add(job);
    StringBuilder expected = new StringBuilder();
    for (int i = 0; i < 5000; i++) {
      String line = "line " + i + "\n";
      job.output().append(chunk(i % 7 == 0 ? OutputChunk.Stream.STDERR
          : OutputChunk.Stream.STDOUT, line));
      expected.append(line);
    }
    assertThat(job.output().retainedChunks()).isPositive();
    job.finish(JobState.JOB_CANCELLED, Phase.PHASE_UNSPECIFIED, "done", null, Instant.now());
    assertThat(job.output().isEvicted()).isTrue();
    assertThat(job.output().retainedBytes()).isZero();
    assertThat(job.output().retainedChunks()).isZero();
    assertThat(text(job.output().readAll())).isEqualTo(expected.toString());
    // From the middle: the piece holding that offset, cut there.
    OutputBuffer.Page mid = job.output().read(7, 10, null);
    assertThat(mid.pieces().get(0).chunk().getData().toStringUtf8()).startsWith("line 1\n");

    // A restart: records come back, output stays in the database until read.
    JdbcJobStore again = new JdbcJobStore(state.database(), 1 << 20);
    JobRecord back = again.get("j-1").orElseThrow();
    assertThat(back.output().isEvicted()).isTrue();
    assertThat(back.output().retainedBytes()).isZero();
    assertThat(text(back.output().readAll())).isEqualTo(expected.toString());
    assertThat(back.output().source(true).next(10, () -> { })).isNotEmpty();
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void aDroppedBeginningStaysCountedInTheStore(StoreBackend backend) {
    open(backend);
    JdbcJobStore store = new JdbcJobStore(state.database(), 1024);
    JobRecord job = new JobRecord("j-2", job("j-2").spec(), Instant.now(), Instant.now(),
        Instant.now().plusSeconds(60), Map.of(), 1024);
    job.appendPending("reserved", Instant.now());
    store.add(job);
    for (int i = 0; i < 4000; i++) {
      job.output().append(chunk(OutputChunk.Stream.STDOUT, "z"));
    }
    long dropped = job.output().droppedBytes();
    assertThat(dropped).isPositive();
    job.finish(JobState.JOB_FAILED, Phase.PHASE_UNSPECIFIED, "failed", 1, Instant.now());
    List<OutputBuffer.Piece> all = new JdbcJobStore(state.database(), 1024).get("j-2").orElseThrow()
        .output().readAll();
    assertThat(all.get(0).dropped()).isEqualTo(dropped);
    assertThat(dropped + text(all).length()).isEqualTo(4000);
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(StoreBackend.class)
  void outputRecordedBeforeOffsetsIsNumberedOnce(StoreBackend backend) throws Exception {
    open(backend);
    JdbcJobStore store = new JdbcJobStore(state.database(), 1 << 20);
    JobRecord job = job("j-3");
    job.appendPending("reserved", Instant.now());
    store.add(job);
    job.finish(JobState.JOB_CANCELLED, Phase.PHASE_UNSPECIFIED, "done", null, Instant.now());
    // As the previous schema wrote it: chunks by seq, no offsets.
    state.database().transaction(c -> {
      Database.update(c, "INSERT INTO job_output (job_id, seq, chunk) VALUES (?, ?, ?)", "j-3",
          0, chunk(OutputChunk.Stream.STDOUT, "old ").toByteArray());
      Database.update(c, "INSERT INTO job_output (job_id, seq, chunk) VALUES (?, ?, ?)", "j-3",
          1, chunk(OutputChunk.Stream.STDERR, "output\n").toByteArray());
      return null;
    });
    JobRecord back = new JdbcJobStore(state.database(), 1 << 20).get("j-3").orElseThrow();
    List<OutputBuffer.Piece> all = back.output().readAll();
    assertThat(text(all)).isEqualTo("old output\n");
    assertThat(all.get(1).chunk().getStream()).isEqualTo(OutputChunk.Stream.STDERR);
    assertThat(back.output().read(4, 100, null).pieces()).hasSize(1);
  }
}
