package org.lambdagrid.grc.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.Timestamp;
import com.google.protobuf.util.JsonFormat;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.lambdagrid.common.NodeShape;
import org.lambdagrid.common.ProtoNames;
import org.lambdagrid.common.ProtoTime;
import org.lambdagrid.proto.v1.AddressRange;
import org.lambdagrid.proto.v1.Event;
import org.lambdagrid.proto.v1.OutputChunk;
import org.lambdagrid.proto.v1.Phase;
import org.lambdagrid.proto.v1.StreamOutputResponse;

/**
 * How the CLI prints: JSON ({@code -o json}), tables, per-site maps, event lines and a job's
 * output. Protocol enum values are printed by {@link ProtoNames#shortName}.
 */
final class Output {
  private Output() {}

  /** The message as JSON, default values included (parses back into the message). */
  static String json(MessageOrBuilder m) {
    try {
      return JsonFormat.printer().includingDefaultValueFields().print(m);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
  }

  /** ", 1 CPU, 256 MiB per node" for a shape, "" for none (0 = no limit). */
  static String shape(int cpus, long memoryBytes) {
    String s = new NodeShape(cpus, memoryBytes).describe();
    return s.isEmpty() ? "" : ", " + s + " per node";
  }

  /** "a=2,b=1": the map sorted by site. */
  static String perSite(Map<String, ?> m) {
    return perSite(m, String::valueOf);
  }

  /** "a=10.10.0.0/24,b=...": each site's range, sorted by site. */
  static String ranges(Map<String, AddressRange> m) {
    return perSite(m, AddressRange::getCidr);
  }

  private static <V> String perSite(Map<String, V> m, Function<V, String> value) {
    return new TreeMap<>(m).entrySet().stream()
        .map(e -> e.getKey() + "=" + value.apply(e.getValue())).collect(Collectors.joining(","));
  }

  /** "START .. END". */
  static String window(Timestamp start, Timestamp end) {
    return ProtoTime.fromProto(start) + " .. " + ProtoTime.fromProto(end);
  }

  /** "   7 TIME WHO STATE [PHASE]: message", WHO the job, a node or a site. */
  static String eventLine(Event e) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format("%4d %s ", e.getSequence(), ProtoTime.fromProto(e.getTime())));
    if (e.hasJobState()) {
      sb.append("job ").append(ProtoNames.shortName(e.getJobState()));
    } else if (e.hasNodeState()) {
      String who = e.getHostname().isEmpty() ? "site " + e.getSite() : e.getHostname();
      sb.append(who).append(' ').append(ProtoNames.shortName(e.getNodeState()));
    } else {
      // A site-level note without a state (the GRC lost or regained a site's CRM).
      sb.append(e.getSite().isEmpty() ? "job" : "site " + e.getSite());
    }
    if (e.getPhase() != Phase.PHASE_UNSPECIFIED) {
      sb.append(" [").append(ProtoNames.shortName(e.getPhase())).append(']');
    }
    if (!e.getMessage().isEmpty()) {
      sb.append(": ").append(e.getMessage());
    }
    return sb.toString();
  }

  /** Prints a table with left-aligned columns; the first row is the header. */
  static void table(PrintWriter out, List<String[]> rows) {
    int[] w = new int[rows.get(0).length];
    for (String[] r : rows) {
      for (int i = 0; i < r.length; i++) {
        w[i] = Math.max(w[i], r[i].length());
      }
    }
    for (String[] r : rows) {
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < r.length; i++) {
        sb.append(i == r.length - 1 ? r[i] : String.format("%-" + (w[i] + 2) + "s", r[i]));
      }
      out.println(sb.toString().stripTrailing());
    }
  }

  /** One StreamOutput answer: a note on stderr for output the GRC dropped, then the chunk. */
  static void print(StreamOutputResponse r, PrintWriter out, PrintWriter err) {
    if (r.getDroppedBytes() > 0) {
      err.println("[lambdagrid: " + r.getDroppedBytes() + " bytes of output were dropped here]");
      err.flush();
    }
    OutputChunk c = r.getChunk();
    PrintWriter w = c.getStream() == OutputChunk.Stream.STDERR ? err : out;
    w.print(c.getData().toStringUtf8());
    w.flush();
  }
}
