package org.lambdagrid.grc.job;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import org.lambdagrid.common.StreamPump;
import org.lambdagrid.proto.v1.OutputChunk;

/**
 * One job's command output as one stream of bytes, each at an offset (0 for the first byte the
 * job wrote), read by offset so that each reader keeps only its own offset.
 *
 * <p>While the job runs the output is in memory, bounded: consecutive chunks of the same stream
 * (stdout, stderr) and node are coalesced into pieces of up to {@link #PIECE_BYTES} (a quarter
 * of a smaller limit), and the
 * pieces kept (their arrays plus {@link #PIECE_OVERHEAD} bytes each) never take more than the
 * limit, nor number more than {@code limit / 256} ({@link #retainedBytes},
 * {@link #retainedChunks}); beyond either, the oldest are dropped and counted
 * ({@link #droppedBytes}). A reader whose offset was dropped is told how many bytes it missed
 * ({@link Piece#dropped}). So a writer of single bytes costs one piece per 16 KiB, not one
 * object per byte.
 *
 * <p>When the job has ended, a durable job store writes the pieces to its database and
 * {@link #evict}s them: later reads come from the database ({@link Stored}), page by page.
 * A buffer read back after a restart is {@link #stored} from the start.
 *
 * <p>Thread-safe. Wake-ups registered by {@link #read} run once, after the next append or the
 * end, on the appending thread and outside this buffer's lock; they must not block.
 */
public final class OutputBuffer {
  /** Bytes of one coalesced piece at most (a larger chunk stays one piece). */
  public static final int PIECE_BYTES = 16 * 1024;
  /** What one kept piece is charged beyond its array: the objects that hold it. */
  public static final int PIECE_OVERHEAD = 64;
  /** One kept piece at most per this many bytes of the limit. */
  public static final int BYTES_PER_PIECE = 256;

  /** A piece of output for a reader: {@code dropped} bytes before it were skipped. */
  public record Piece(long dropped, OutputChunk chunk) {}

  /**
   * What one read returns: pieces from the asked offset ({@code next} is the offset after
   * them), or none yet (a wake-up was registered), or {@code end}: nothing more will come.
   */
  public record Page(List<Piece> pieces, long next, boolean end) {}

  /** A stored piece: its offset and its chunk. */
  public record StoredPiece(long offset, OutputChunk chunk) {}

  /** A finished job's output in the job store. */
  @FunctionalInterface
  public interface Stored {
    /** Up to {@code max} stored pieces, in order, that end after {@code offset}. */
    List<StoredPiece> read(long offset, int max);
  }

  private static final class Segment {
    final long start;
    final OutputChunk.Stream stream;
    final String hostname;
    byte[] data;
    int length;

    Segment(long start, OutputChunk.Stream stream, String hostname, byte[] data, int length) {
      this.start = start;
      this.stream = stream;
      this.hostname = hostname;
      this.data = data;
      this.length = length;
    }

    long end() {
      return start + length;
    }

    /** Bytes [from, end()) as a chunk; the region is never written again, so no copy. */
    OutputChunk slice(long from) {
      int off = (int) (from - start);
      return OutputChunk.newBuilder().setStream(stream).setHostname(hostname)
          .setData(UnsafeByteOperations.unsafeWrap(data, off, length - off)).build();
    }
  }

  private final long limitBytes;
  private final int maxPieces;
  private final int pieceBytes; // PIECE_BYTES, or less for a small limit
  private final ArrayDeque<Segment> segments = new ArrayDeque<>();
  private final Set<Runnable> wakes = Collections.newSetFromMap(new IdentityHashMap<>());
  private long first; // offset of the oldest byte kept (= bytes dropped so far)
  private long total; // offset after the newest byte
  private long retained; // array bytes of the kept segments
  private boolean ended;
  private Stored stored; // non-null once evicted (or restored)

  /** An empty buffer for a job's live output; {@code limitBytes} at least 1024. */
  public OutputBuffer(long limitBytes) {
    if (limitBytes < 1024) {
      throw new IllegalArgumentException("an output buffer needs at least 1024 bytes");
    }
    this.limitBytes = limitBytes;
    this.maxPieces = (int) Math.min(Integer.MAX_VALUE, Math.max(4, limitBytes / BYTES_PER_PIECE));
    this.pieceBytes = (int) Math.min(PIECE_BYTES, Math.max(256, (limitBytes - PIECE_OVERHEAD) / 4));
  }

  /** A finished job's output, read from its store (after a restart). */
  public static OutputBuffer stored(Stored stored) {
    OutputBuffer b = new OutputBuffer(1024);
    b.ended = true;
    b.stored = stored;
    return b;
  }

  /** Appends a chunk (ignored once ended, or empty). */
  public void append(OutputChunk chunk) {
    List<Runnable> wake;
    synchronized (this) {
      if (ended || chunk.getData().isEmpty()) {
        return;
      }
      add(chunk);
      wake = takeWakes();
    }
    wake.forEach(Runnable::run);
  }

  private void add(OutputChunk chunk) {
    ByteString data = chunk.getData();
    long start = total;
    total += data.size();
    long room = limitBytes - PIECE_OVERHEAD;
    if (data.size() > room) { // keep the newest part of an oversized chunk
      start = total - room;
      data = data.substring((int) (data.size() - room));
    }
    Segment tail = segments.peekLast();
    int n = data.size();
    if (tail != null && tail.end() == start && tail.stream == chunk.getStream()
        && tail.hostname.equals(chunk.getHostname()) && tail.length + n <= pieceBytes) {
      if (tail.length + n > tail.data.length) {
        int cap = Math.min(pieceBytes, Math.max(tail.data.length * 2, tail.length + n));
        byte[] grown = new byte[cap];
        System.arraycopy(tail.data, 0, grown, 0, tail.length);
        retained += cap - tail.data.length;
        tail.data = grown; // readers keep the old array; its bytes never change
      }
      data.copyTo(tail.data, tail.length);
      tail.length += n;
    } else {
      if (tail != null) {
        trim(tail);
      }
      String host = tail != null && tail.hostname.equals(chunk.getHostname()) ? tail.hostname
          : chunk.getHostname();
      byte[] a = new byte[n >= pieceBytes / 2 ? n : Math.min(pieceBytes, Math.max(256, n))];
      data.copyTo(a, 0);
      segments.addLast(new Segment(start, chunk.getStream(), host, a, n));
      retained += a.length;
    }
    while (segments.size() > 1 && (retained + (long) PIECE_OVERHEAD * segments.size() > limitBytes
        || segments.size() > maxPieces)) {
      Segment old = segments.removeFirst();
      retained -= old.data.length;
    }
    first = segments.isEmpty() ? total : segments.peekFirst().start;
  }

  /** A segment that will not grow again keeps only its bytes. */
  private void trim(Segment s) {
    if (s.data.length > s.length) {
      retained -= s.data.length - s.length;
      byte[] exact = new byte[s.length];
      System.arraycopy(s.data, 0, exact, 0, s.length);
      s.data = exact;
    }
  }

  /**
   * Reads from {@code offset}: about {@code maxBytes} at most (a single piece may be larger).
   * Registers {@code wake} (once, by identity) when there is nothing yet and more may come.
   */
  public Page read(long offset, int maxBytes, Runnable wake) {
    Stored from;
    synchronized (this) {
      from = stored;
      if (from == null) {
        return readMemory(offset, maxBytes, wake);
      }
    }
    return readStored(from, offset, maxBytes);
  }

  private Page readMemory(long offset, int maxBytes, Runnable wake) {
    long dropped = 0;
    if (offset < first) {
      dropped = first - offset;
      offset = first;
    }
    List<Piece> out = new ArrayList<>();
    long bytes = 0;
    for (Segment s : segments) {
      if (s.end() <= offset) {
        continue;
      }
      if (bytes > 0 && bytes + (s.end() - offset) > maxBytes) {
        break;
      }
      out.add(new Piece(dropped, s.slice(offset)));
      dropped = 0;
      bytes += s.end() - offset;
      offset = s.end();
    }
    if (out.isEmpty() && dropped > 0) {
      out.add(new Piece(dropped, OutputChunk.getDefaultInstance())); // all it missed is gone
    }
    if (out.isEmpty() && !ended && wake != null) {
      wakes.add(wake);
    }
    return new Page(out, offset, out.isEmpty() && ended);
  }

  private static Page readStored(Stored from, long offset, int maxBytes) {
    List<Piece> out = new ArrayList<>();
    long bytes = 0;
    for (StoredPiece p : from.read(offset, Math.max(1, maxBytes / PIECE_BYTES))) {
      long end = p.offset() + p.chunk().getData().size();
      if (end <= offset) {
        continue;
      }
      long dropped = 0;
      OutputChunk c = p.chunk();
      if (p.offset() > offset) {
        dropped = p.offset() - offset;
      } else if (p.offset() < offset) {
        c = c.toBuilder().setData(c.getData().substring((int) (offset - p.offset()))).build();
      }
      out.add(new Piece(dropped, c));
      bytes += end - offset;
      offset = end;
      if (bytes >= maxBytes) {
        break;
      }
    }
    return new Page(out, offset, out.isEmpty());
  }

  /** Forgets a wake-up registered by {@link #read} (a reader that went away). */
  public synchronized void unwake(Runnable wake) {
    wakes.remove(wake);
  }

  /** No more output will come; wakes every waiting reader. Idempotent. */
  public void end() {
    List<Runnable> wake;
    synchronized (this) {
      if (ended) {
        return;
      }
      ended = true;
      Segment tail = segments.peekLast();
      if (tail != null) {
        trim(tail);
      }
      wake = takeWakes();
    }
    wake.forEach(Runnable::run);
  }

  private List<Runnable> takeWakes() {
    if (wakes.isEmpty()) {
      return List.of();
    }
    List<Runnable> w = new ArrayList<>(wakes);
    wakes.clear();
    return w;
  }

  /** The kept pieces with their offsets, for the job store to write (after {@link #end}). */
  public synchronized List<StoredPiece> pieces() {
    List<StoredPiece> out = new ArrayList<>();
    for (Segment s : segments) {
      out.add(new StoredPiece(s.start, s.slice(s.start)));
    }
    return out;
  }

  /**
   * The pieces were written to the store: drops them from memory; reads go to {@code to} from
   * now on (readers keep their offsets). Only after {@link #end}.
   */
  public synchronized void evict(Stored to) {
    if (!ended) {
      throw new IllegalStateException("only ended output can be evicted");
    }
    stored = to;
    segments.clear();
    retained = 0;
  }

  /** Whether reads come from the store. */
  public synchronized boolean isEvicted() {
    return stored != null;
  }

  /** Array bytes the kept pieces hold in memory (0 once evicted). */
  public synchronized long retainedBytes() {
    return retained;
  }

  /** Pieces kept in memory (0 once evicted). */
  public synchronized int retainedChunks() {
    return segments.size();
  }

  /** Bytes dropped from memory before anyone could store them. */
  public synchronized long droppedBytes() {
    return first;
  }

  /** Offset after the newest byte (in memory; 0 for a stored buffer). */
  public synchronized long totalBytes() {
    return total;
  }

  /** Bytes a reader takes from the buffer at a time. */
  static final int READ_BYTES = 64 * 1024;

  /**
   * A reader from the first byte: with {@code follow}, to the end of the job's output;
   * without, to the end of what is there now. It holds only its offset.
   */
  public StreamPump.Source<Piece> source(boolean follow) {
    return new StreamPump.Source<>() {
      private long offset;

      @Override
      public List<Piece> next(int max, Runnable wake) {
        Page p = read(offset, READ_BYTES, follow ? wake : null);
        offset = p.next();
        if (p.end() || (!follow && p.pieces().isEmpty())) {
          return null;
        }
        return p.pieces();
      }

      @Override
      public void cancel(Runnable wake) {
        unwake(wake);
      }
    };
  }

  /** Everything readable now, from offset 0, without waiting (tests, small outputs). */
  public List<Piece> readAll() {
    List<Piece> all = new ArrayList<>();
    long offset = 0;
    while (true) {
      Page p = read(offset, 1 << 20, null);
      if (p.pieces().isEmpty()) {
        return all;
      }
      all.addAll(p.pieces());
      offset = p.next();
    }
  }
}
