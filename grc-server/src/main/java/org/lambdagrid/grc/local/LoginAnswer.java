package org.lambdagrid.grc.local;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;

/**
 * What the GRC's local socket answers, as text: either
 * <pre>
 * lambdagrid-login 1
 * user alice
 * token lgs_...
 * expires 2026-11-27T16:00:00Z
 * endpoint 127.0.0.1:7302
 * ca
 * -----BEGIN CERTIFICATE----- ... (the CA certificates to trust for the token port, to the end)
 * </pre>
 * or {@code lambdagrid-login 1} then {@code error <one line>}. The client sends nothing.
 */
public record LoginAnswer(String user, String token, Instant expires, String endpoint,
    String caPem, String error) {
  static final String MAGIC = "lambdagrid-login 1";
  /** The most a client reads (a CA bundle is a few KiB). */
  static final int MAX_BYTES = 256 * 1024;

  public static LoginAnswer ok(String user, String token, Instant expires, String endpoint,
      String caPem) {
    return new LoginAnswer(user, token, expires, endpoint, caPem, null);
  }

  public static LoginAnswer refused(String why) {
    return new LoginAnswer(null, null, null, null, null, why.replace('\n', ' '));
  }

  public boolean ok() {
    return error == null;
  }

  public String format() {
    if (error != null) {
      return MAGIC + "\nerror " + error + "\n";
    }
    return MAGIC + "\nuser " + user + "\ntoken " + token + "\nexpires " + expires
        + "\nendpoint " + endpoint + "\nca\n" + caPem;
  }

  /** @throws IOException if the text is not an answer (not a GRC at the other end) */
  public static LoginAnswer parse(InputStream in) throws IOException {
    byte[] all = in.readNBytes(MAX_BYTES + 1);
    if (all.length > MAX_BYTES) {
      throw new IOException("the answer is too long");
    }
    String text = new String(all, StandardCharsets.UTF_8);
    String[] head = text.split("\n", 7);
    if (head.length < 2 || !head[0].equals(MAGIC)) {
      throw new IOException("not a lambdagrid GRC login answer");
    }
    if (head[1].startsWith("error ")) {
      return refused(head[1].substring(6));
    }
    if (head.length < 7 || !head[1].startsWith("user ") || !head[2].startsWith("token ")
        || !head[3].startsWith("expires ") || !head[4].startsWith("endpoint ")
        || !head[5].equals("ca")) {
      throw new IOException("a malformed login answer");
    }
    try {
      return ok(head[1].substring(5), head[2].substring(6), Instant.parse(head[3].substring(8)),
          head[4].substring(9), head[6]);
    } catch (DateTimeParseException e) {
      throw new IOException("a malformed login answer: " + e.getMessage());
    }
  }

}
