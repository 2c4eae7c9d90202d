package org.lambdagrid.grc.job;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.lambdagrid.common.StreamPump;
import org.lambdagrid.proto.v1.OutputChunk;

/** One job's output in memory: coalescing, the byte and object bounds, drops, readers. */
class OutputBufferTest {
  private static OutputChunk chunk(OutputChunk.Stream s, String host, String text) {
    return OutputChunk.newBuilder().setStream(s).setHostname(host)
        .setData(ByteString.copyFromUtf8(text)).build();
  }

  private static final OutputChunk.Stream OUT = OutputChunk.Stream.STDOUT;
  private static final OutputChunk.Stream ERR = OutputChunk.Stream.STDERR;

  /** Whatever is kept, it never costs more than the limit, nor more pieces than limit/256. */
  private static void assertBounded(OutputBuffer b, long limit) {
    assertThat(b.retainedBytes() + (long) OutputBuffer.PIECE_OVERHEAD * b.retainedChunks())
        .as("bytes kept, with each piece's overhead").isLessThanOrEqualTo(limit);
    assertThat((long) b.retainedChunks()).as("pieces kept")
        .isLessThanOrEqualTo(limit / OutputBuffer.BYTES_PER_PIECE);
  }

  private static long dataBytes(List<OutputBuffer.Piece> pieces) {
    return pieces.stream().mapToLong(p -> p.chunk().getData().size()).sum();
  }

  @Test
  void aOneByteWriterIsCoalescedAndBoundedAndAReaderIsToldWhatWasDropped() {
    long limit = 1 << 20;
    OutputBuffer b = new OutputBuffer(limit);
    int n = 3_000_000;
    OutputChunk one = chunk(OUT, "a-0", "x");
    for (int i = 0; i < n; i++) {
      b.append(one);
      if (i % 100_000 == 0) {
        assertBounded(b, limit);
      }
    }
    assertBounded(b, limit);
    // 16 KiB pieces: not one object per byte.
    assertThat(b.retainedChunks()).isBetween(60, 64);
    assertThat(b.totalBytes()).isEqualTo(n);
    assertThat(b.droppedBytes()).isEqualTo(n - dataBytes(b.readAll()));
    List<OutputBuffer.Piece> all = b.readAll();
    assertThat(all.get(0).dropped()).as("the reader is told").isEqualTo(b.droppedBytes())
        .isGreaterThan(n - limit);
    assertThat(all.subList(1, all.size())).allMatch(p -> p.dropped() == 0);
    assertThat(all.get(0).chunk().getHostname()).isEqualTo("a-0");
  }

  @Test
  void interleavedSingleBytesCannotDefeatTheObjectBound() {
    long limit = 64 * 1024;
    OutputBuffer b = new OutputBuffer(limit);
    for (int i = 0; i < 200_000; i++) {
      b.append(chunk(i % 2 == 0 ? OUT : ERR, "a-" + (i % 3), "y"));
    }
    assertBounded(b, limit);
    assertThat(b.retainedChunks()).isEqualTo((int) (limit / OutputBuffer.BYTES_PER_PIECE));
    List<OutputBuffer.Piece> all = b.readAll();
    assertThat(all.get(0).dropped() + dataBytes(all)).isEqualTo(200_000);
    assertThat(all.get(1).chunk().getStream()).isNotEqualTo(all.get(0).chunk().getStream());
  }

  @Test
  void coalescingKeepsStreamAndNodeApartAndTheBytesInOrder() {
    OutputBuffer b = new OutputBuffer(1 << 20);
    b.append(chunk(OUT, "a-0", "he"));
    b.append(chunk(OUT, "a-0", "llo\n"));
    b.append(chunk(ERR, "a-0", "oops\n"));
    b.append(chunk(OUT, "b-0", "hi\n"));
    b.append(chunk(OUT, "b-0", "there\n"));
    List<OutputBuffer.Piece> all = b.readAll();
    assertThat(all).extracting(p -> p.chunk().getStream() + " " + p.chunk().getHostname() + " "
        + p.chunk().getData().toStringUtf8())
        .containsExactly("STDOUT a-0 hello\n", "STDERR a-0 oops\n", "STDOUT b-0 hi\nthere\n");
    assertThat(b.retainedChunks()).isEqualTo(3);
    assertThat(b.droppedBytes()).isZero();
  }

  @Test
  void anOversizedChunkKeepsItsNewestBytes() {
    OutputBuffer b = new OutputBuffer(1024);
    b.append(chunk(OUT, "a-0", "z".repeat(5000) + "END"));
    assertBounded(b, 1024);
    List<OutputBuffer.Piece> all = b.readAll();
    assertThat(all).hasSize(1);
    assertThat(all.get(0).chunk().getData().toStringUtf8()).endsWith("END");
    assertThat(all.get(0).dropped() + dataBytes(all)).isEqualTo(5003);
  }

  @Test
  void aFollowingReaderIsWokenOnceForNewOutputAndAtTheEnd() {
    OutputBuffer b = new OutputBuffer(1 << 20);
    StreamPump.Source<OutputBuffer.Piece> src = b.source(true);
    AtomicInteger woken = new AtomicInteger();
    Runnable wake = woken::incrementAndGet;
    assertThat(src.next(10, wake)).isEmpty();
    assertThat(src.next(10, wake)).isEmpty(); // registered once, by identity
    b.append(chunk(OUT, "a-0", "1"));
    b.append(chunk(OUT, "a-0", "2"));
    assertThat(woken).hasValue(1);
    assertThat(src.next(10, wake)).extracting(p -> p.chunk().getData().toStringUtf8())
        .containsExactly("12");
    assertThat(src.next(10, wake)).isEmpty();
    b.end();
    assertThat(woken).hasValue(2);
    assertThat(src.next(10, wake)).isNull();
    // Without follow, a reader ends where the output is now.
    OutputBuffer live = new OutputBuffer(1 << 20);
    live.append(chunk(OUT, "a-0", "so far"));
    StreamPump.Source<OutputBuffer.Piece> once = live.source(false);
    assertThat(once.next(10, wake)).hasSize(1);
    assertThat(once.next(10, wake)).isNull();
  }

  @Test
  void anEvictedBufferIsReadFromItsStoreByOffset() {
    OutputBuffer b = new OutputBuffer(1 << 20);
    b.append(chunk(OUT, "a-0", "abc"));
    b.append(chunk(ERR, "a-0", "def"));
    StreamPump.Source<OutputBuffer.Piece> reader = b.source(true);
    assertThat(reader.next(10, () -> { })).hasSize(2);
    b.end();
    List<OutputBuffer.StoredPiece> kept = b.pieces();
    assertThat(kept).extracting(OutputBuffer.StoredPiece::offset).containsExactly(0L, 3L);
    List<Long> asked = new ArrayList<>();
    b.evict((offset, max) -> {
      asked.add(offset);
      return kept.stream().filter(p -> p.offset() + p.chunk().getData().size() > offset)
          .limit(max).toList();
    });
    assertThat(b.retainedChunks()).isZero();
    assertThat(b.retainedBytes()).isZero();
    assertThat(reader.next(10, () -> { })).as("the reader had read everything").isNull();
    OutputBuffer.Page mid = b.read(4, 1024, null);
    assertThat(mid.pieces()).extracting(p -> p.chunk().getData().toStringUtf8())
        .containsExactly("ef");
    assertThat(asked).contains(6L, 4L);
  }
}
