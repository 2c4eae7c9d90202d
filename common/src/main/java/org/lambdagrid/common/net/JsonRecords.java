package org.lambdagrid.common.net;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Status;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.lambdagrid.common.Errors;

/**
 * A directory of JSON records of type {@code T}, one file {@code <key>.json} each, for code that
 * records what it builds on the host before building it (the GRC's testbed network, a routed
 * site's overlay ends) so teardown works from the record alone. A record is written to a fresh
 * temporary file in the directory, synced, then moved over the old one atomically and the
 * directory synced, so a crash or power loss leaves the old or the new record, never half or none
 * of one; symbolic links are never followed. Errors are
 * INTERNAL, prefixed with {@code what}, naming the file. Not synchronized: callers lock.
 */
public final class JsonRecords<T> {
  private static final ObjectMapper JSON = new ObjectMapper()
      .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

  private final Path dir;
  private final Class<T> type;
  private final String what;

  public JsonRecords(Path dir, Class<T> type, String what) {
    this.dir = dir;
    this.type = type;
    this.what = what;
  }

  public Path file(String key) {
    return dir.resolve(key + ".json");
  }

  /** The record of {@code key}, if there is one. */
  public Optional<T> read(String key) {
    return read(file(key));
  }

  /** Every record, in key order; INTERNAL naming the file when one is unreadable. */
  public List<T> readAll() {
    return readAll((f, e) -> {
      throw e;
    });
  }

  /**
   * Every readable record, in key order; each unreadable one is passed to {@code unreadable}
   * (its file and the INTERNAL error naming it) and skipped, unless that throws.
   */
  public List<T> readAll(BiConsumer<Path, Errors.RequestException> unreadable) {
    return new ArrayList<>(readAllByKey(unreadable).values());
  }

  /**
   * As {@link #readAll(BiConsumer)} (same order), each record under its key
   * (its file name without {@code .json}).
   */
  public Map<String, T> readAllByKey(
      BiConsumer<Path, Errors.RequestException> unreadable) {
    Map<String, T> out = new LinkedHashMap<>();
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      return out;
    }
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.sorted().toList()) {
        String name = f.getFileName().toString();
        if (name.endsWith(".json")) {
          try {
            read(f).ifPresent(v -> out.put(name.substring(0, name.length() - ".json".length()), v));
          } catch (Errors.RequestException e) {
            unreadable.accept(f, e);
          }
        }
      }
    } catch (IOException e) {
      throw new Errors.RequestException(Status.Code.INTERNAL, what + ": cannot list " + dir + ": " + e);
    }
    return out;
  }

  /** Writes {@code value} as the record of {@code key} (creating the directory if needed). */
  public void write(String key, T value) {
    Path f = file(key);
    try {
      Files.createDirectories(dir);
      Path tmp = Files.createTempFile(dir, "." + key + "-", ".tmp"); // fresh: never follows a planted link
      try {
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(value);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
          ByteBuffer b = ByteBuffer.wrap(bytes);
          while (b.hasRemaining()) {
            ch.write(b);
          }
          ch.force(true); // the content is on disk before the name points at it
        }
        try {
          Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
          Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
        }
        syncDir(); // and the rename survives a power loss
      } finally {
        Files.deleteIfExists(tmp);
      }
    } catch (IOException e) {
      throw new Errors.RequestException(Status.Code.INTERNAL, what + ": cannot write " + f + ": " + e);
    }
  }

  private void syncDir() throws IOException {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      d.force(true);
    }
  }

  /** Deletes the record of {@code key}; none is fine. */
  public void delete(String key) {
    try {
      Files.deleteIfExists(file(key));
    } catch (IOException e) {
      throw new Errors.RequestException(Status.Code.INTERNAL, what + ": cannot delete " + file(key) + ": " + e);
    }
  }

  private Optional<T> read(Path f) {
    if (!Files.exists(f, LinkOption.NOFOLLOW_LINKS)) {
      return Optional.empty();
    }
    try {
      if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
        throw new IOException("not a regular file");
      }
      try (java.io.InputStream in = Files.newInputStream(f, LinkOption.NOFOLLOW_LINKS)) {
        return Optional.of(JSON.readValue(in, type)); // an entry swapped for a link meanwhile: refused
      }
    } catch (IOException e) {
      throw new Errors.RequestException(Status.Code.INTERNAL, what + ": record " + f + " is unreadable ("
          + e.getMessage() + "); remove the devices it names by hand, then the file", e);
    }
  }
}
