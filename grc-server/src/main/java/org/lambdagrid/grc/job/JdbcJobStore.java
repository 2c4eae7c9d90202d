package org.lambdagrid.grc.job;

import com.google.protobuf.InvalidProtocolBufferException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.lambdagrid.common.store.Database;
import org.lambdagrid.grc.support.InMemoryRecords;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.Job;
import org.lambdagrid.proto.v1.NodeEntry;
import org.lambdagrid.proto.v1.OutputChunk;

/**
 * A {@link JobStore} that writes every job through to the GRC's state database: the record when
 * it is added, then (through {@link JobRecord#persistWith}) each state change, event and host
 * list as it happens, and the output once the job ended, after which the output leaves memory
 * ({@link OutputBuffer#evict}) and readers page through the database. At construction every
 * recorded job's record, events and host list are read back ({@link JobRecord#restore}); output
 * is not (a restored job's output is read on demand).
 *
 * <p>A job the store hands out after a restart may be non-terminal (the GRC died while it ran);
 * {@link JobCoordinator#failUnfinishedAfterRestart} ends those. Thread-safe.
 */
public final class JdbcJobStore extends InMemoryRecords<JobRecord> implements JobStore {
  private final Database db;
  private final long outputLimitBytes;
  /** The records themselves; this class adds the writes. */
  /** job id -> events already written (guarded by the job's monitor). */
  private final Map<String, Integer> writtenEvents = new ConcurrentHashMap<>();

  /** @param db the GRC's state database, with its tables created */
  public JdbcJobStore(Database db, long outputLimitBytes) {
    super("job");
    this.db = db;
    this.outputLimitBytes = outputLimitBytes;
    numberLegacyOutput();
    load();
  }

  @Override
  public void add(JobRecord job) {
    Job snapshot = job.toProto();
    List<Event> events = job.events();
    if (contains(job.id())) {
      throw new IllegalStateException("job id " + job.id() + " is already used");
    }
    db.transaction(c -> {
      Database.update(c, "INSERT INTO jobs (id, user_name, client_token, created_at, state, job,"
          + " nodes) VALUES (?, ?, ?, ?, ?, ?, ?)", job.id(), snapshot.getSpec().getUser(),
          snapshot.getSpec().getClientToken(), job.createdAt().toEpochMilli(),
          snapshot.getState().name(), snapshot.toByteArray(), null);
      insertEvents(c, job.id(), events, 0);
      return null;
    });
    writtenEvents.put(job.id(), events.size());
    super.add(job);
    job.persistWith(this::write);
  }

  /** Writes a job's current snapshot; called under the job's monitor after each change. */
  private void write(JobRecord job) {
    Job snapshot = job.toProto();
    List<Event> events = job.events();
    List<NodeEntry> nodes = job.nodes();
    boolean storeOutput = JobStates.MACHINE.isTerminal(snapshot.getState())
        && !job.output().isEvicted();
    List<OutputBuffer.StoredPiece> output = storeOutput ? job.output().pieces() : List.of();
    int from = writtenEvents.getOrDefault(job.id(), 0);
    db.transaction(c -> {
      Database.update(c, "UPDATE jobs SET state = ?, job = ?, nodes = ? WHERE id = ?",
          snapshot.getState().name(), snapshot.toByteArray(),
          nodes == null ? null : delimited(nodes), job.id());
      insertEvents(c, job.id(), events, from);
      if (storeOutput) {
        Database.update(c, "DELETE FROM job_output WHERE job_id = ?", job.id());
        for (int i = 0; i < output.size(); i++) {
          OutputBuffer.StoredPiece p = output.get(i);
          Database.update(c, "INSERT INTO job_output (job_id, seq, chunk, start_offset,"
              + " data_length) VALUES (?, ?, ?, ?, ?)", job.id(), i, p.chunk().toByteArray(),
              p.offset(), p.chunk().getData().size());
        }
      }
      return null;
    });
    writtenEvents.put(job.id(), events.size());
    if (storeOutput) {
      job.output().evict(storedOutput(job.id()));
    }
  }

  /** Pages of a finished job's output from the database. */
  private OutputBuffer.Stored storedOutput(String jobId) {
    return (offset, max) -> db.transaction(c -> {
      List<OutputBuffer.StoredPiece> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT start_offset, chunk FROM job_output"
          + " WHERE job_id = ? AND start_offset + data_length > ? ORDER BY start_offset"
          + " LIMIT ?")) {
        Database.bind(ps, jobId, offset, max);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new OutputBuffer.StoredPiece(rs.getLong(1),
                OutputChunk.parseFrom(rs.getBytes(2))));
          }
        }
      } catch (InvalidProtocolBufferException e) {
        throw new SQLException("recorded output of job " + jobId + " is unreadable: "
            + e.getMessage(), e);
      }
      return out;
    });
  }

  /**
   * Output written before schema version 3 has no offsets: numbers it once, job by job, each
   * job's chunks from offset 0 in their order.
   */
  private void numberLegacyOutput() {
    List<String> legacy = db.transaction(c -> {
      List<String> ids = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT DISTINCT job_id FROM job_output WHERE start_offset IS NULL");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ids.add(rs.getString(1));
        }
      }
      return ids;
    });
    for (String id : legacy) {
      db.transaction(c -> {
        List<long[]> rows = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(
            "SELECT seq, chunk FROM job_output WHERE job_id = ? ORDER BY seq")) {
          Database.bind(ps, id);
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              rows.add(new long[] {rs.getInt(1),
                  OutputChunk.parseFrom(rs.getBytes(2)).getData().size()});
            }
          }
        } catch (InvalidProtocolBufferException e) {
          throw new SQLException("recorded output of job " + id + " is unreadable: "
              + e.getMessage(), e);
        }
        long offset = 0;
        for (long[] r : rows) {
          Database.update(c, "UPDATE job_output SET start_offset = ?, data_length = ? WHERE"
              + " job_id = ? AND seq = ?", offset, (int) r[1], id, (int) r[0]);
          offset += r[1];
        }
        return null;
      });
    }
  }

  private static void insertEvents(Connection c, String id, List<Event> events, int from)
      throws SQLException {
    for (int i = from; i < events.size(); i++) {
      Database.update(c, "INSERT INTO job_events (job_id, seq, event) VALUES (?, ?, ?)", id,
          events.get(i).getSequence(), events.get(i).toByteArray());
    }
  }

  private void load() {
    db.transaction(c -> {
      Map<String, List<Event>> events = new HashMap<>();
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT job_id, event FROM job_events ORDER BY job_id, seq");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          events.computeIfAbsent(rs.getString(1), k -> new ArrayList<>())
              .add(Event.parseFrom(rs.getBytes(2)));
        }
      } catch (InvalidProtocolBufferException e) {
        throw new SQLException("a recorded event is unreadable: " + e.getMessage(), e);
      }
      try (PreparedStatement ps = c.prepareStatement("SELECT id, job, nodes FROM jobs");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String id = rs.getString(1);
          Job job = Job.parseFrom(rs.getBytes(2));
          byte[] nodes = rs.getBytes(3);
          List<Event> history = events.getOrDefault(id, List.of());
          OutputBuffer output = JobStates.MACHINE.isTerminal(job.getState())
              ? OutputBuffer.stored(storedOutput(id)) : new OutputBuffer(outputLimitBytes);
          JobRecord r = JobRecord.restore(job, history,
              nodes == null ? null : parseNodes(nodes), output);
          super.add(r);
          writtenEvents.put(id, history.size());
          r.persistWith(this::write);
        }
      } catch (InvalidProtocolBufferException e) {
        throw new SQLException("a recorded job is unreadable: " + e.getMessage(), e);
      }
      return null;
    });
  }

  private static byte[] delimited(List<NodeEntry> nodes) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      for (NodeEntry n : nodes) {
        n.writeDelimitedTo(out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static List<NodeEntry> parseNodes(byte[] bytes) throws InvalidProtocolBufferException {
    List<NodeEntry> out = new ArrayList<>();
    ByteArrayInputStream in = new ByteArrayInputStream(bytes);
    try {
      NodeEntry n;
      while ((n = NodeEntry.parseDelimitedFrom(in)) != null) {
        out.add(n);
      }
    } catch (InvalidProtocolBufferException e) {
      throw e;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }
}
