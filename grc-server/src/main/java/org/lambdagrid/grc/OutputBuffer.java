package org.lambdagrid.grc;

import com.google.protobuf.ByteString;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.Consumer;
import org.lambdagrid.proto.v1.OutputChunk;

/**
 * One job's command output: bounded, dropping the oldest chunks beyond the limit. A reader that
 * starts after a drop first sees a marker chunk (stderr) saying how many bytes were dropped.
 *
 * <p>Thread-safe. Subscribers are called under this buffer's lock, in order; they must not block.
 */
public final class OutputBuffer {
  /** Receives chunks, then {@code onEnd} once when the job ended (after the last chunk). */
  public interface Reader {
    void onChunk(OutputChunk chunk);

    void onEnd();
  }

  private final long limitBytes;
  private final Deque<OutputChunk> chunks = new ArrayDeque<>();
  private final List<Reader> followers = new ArrayList<>();
  private long bytes;
  private long droppedBytes;
  private boolean ended;

  public OutputBuffer(long limitBytes) {
    this.limitBytes = limitBytes;
  }

  public synchronized void append(OutputChunk chunk) {
    if (ended || chunk.getData().isEmpty()) {
      return;
    }
    chunks.addLast(chunk);
    bytes += chunk.getData().size();
    while (bytes > limitBytes && chunks.size() > 1) {
      OutputChunk old = chunks.removeFirst();
      bytes -= old.getData().size();
      droppedBytes += old.getData().size();
    }
    followers.forEach(r -> r.onChunk(chunk));
  }

  /**
   * Replays what is buffered to the reader; if {@code follow}, keeps it registered for live
   * chunks until the end, else calls {@code onEnd} right after the replay.
   *
   * @return a handle that unregisters the reader (idempotent)
   */
  public synchronized Runnable read(boolean follow, Reader reader) {
    if (droppedBytes > 0) {
      reader.onChunk(OutputChunk.newBuilder().setStream(OutputChunk.Stream.STDERR)
          .setData(ByteString.copyFromUtf8("[lambdagrid: " + droppedBytes
              + " bytes of earlier output were dropped]\n")).build());
    }
    chunks.forEach(reader::onChunk);
    if (!follow || ended) {
      reader.onEnd();
      return () -> { };
    }
    followers.add(reader);
    return () -> {
      synchronized (this) {
        followers.remove(reader);
      }
    };
  }

  /** No more output will come. Idempotent. */
  public synchronized void end() {
    if (ended) {
      return;
    }
    ended = true;
    List<Reader> copy = new ArrayList<>(followers);
    followers.clear();
    copy.forEach(Reader::onEnd);
  }

  public synchronized long bufferedBytes() {
    return bytes;
  }

  public synchronized long droppedBytes() {
    return droppedBytes;
  }
}
