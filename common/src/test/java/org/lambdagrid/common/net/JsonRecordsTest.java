package org.lambdagrid.common.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.Errors;

class JsonRecordsTest {
  record R(String name, int n) {}

  @TempDir Path dir;

  @Test
  void writtenRecordsReadBackAndLeaveNoTemporaryFile() throws Exception {
    JsonRecords<R> r = new JsonRecords<>(dir, R.class, "test");
    r.write("a", new R("a", 1));
    r.write("a", new R("a", 2));
    assertThat(r.read("a")).contains(new R("a", 2));
    try (var files = Files.list(dir)) {
      assertThat(files.map(f -> f.getFileName().toString()).toList()).containsExactly("a.json");
    }
  }

  @Test
  void anUnreadableRecordIsReportedNamingItsFileAndSkippedWhenTheCallerAsks() throws Exception {
    JsonRecords<R> r = new JsonRecords<>(dir, R.class, "test");
    r.write("a", new R("a", 1));
    r.write("c", new R("c", 3));
    Files.write(dir.resolve("b.json"), new byte[0]); // what a power loss could leave
    List<Path> bad = new ArrayList<>();
    assertThat(r.readAll((f, e) -> {
      assertThat(e.getMessage()).contains(f.toString());
      bad.add(f);
    })).containsExactly(new R("a", 1), new R("c", 3));
    assertThat(bad).containsExactly(dir.resolve("b.json"));
    // The strict form still refuses, naming the file.
    assertThatThrownBy(r::readAll).isInstanceOf(Errors.RequestException.class).hasMessageContaining("b.json");
  }
}
