package org.lambdagrid.common.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.lambdagrid.common.ConfigException;

/**
 * Operator-issued bearer tokens: who a token stands for, read from a file the operator keeps.
 * Each line is {@code sha256:<hex of the token's SHA-256> <user|operator> <name>} ({@code #}
 * comments and blank lines are skipped). Only hashes are stored, so the file does not give
 * tokens away; a token is revoked by deleting its line. The file is re-read when it changes.
 *
 * <p>Tokens are {@code lgt_} and 32 random bytes (base64url), made by {@link #issue}.
 * Thread-safe.
 */
public final class BearerTokens {
  public static final String PREFIX = "lgt_";
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Path file;
  private Map<String, PeerIdentity> byHash = Map.of(); // guarded by this
  private FileTime loaded; // guarded by this

  /** @throws ConfigException naming the file and line when it is unreadable or malformed */
  public BearerTokens(Path file) {
    this.file = file;
    reloadIfChanged();
  }

  /** Who the token stands for, or empty for an unknown (or revoked) token. */
  public Optional<PeerIdentity> lookup(String token) {
    if (token == null || !token.startsWith(PREFIX)) {
      return Optional.empty();
    }
    try {
      reloadIfChanged();
    } catch (ConfigException e) {
      // keep the last good version; the operator sees the error in the log of the next start
    }
    synchronized (this) {
      return Optional.ofNullable(byHash.get(hash(token)));
    }
  }

  private synchronized void reloadIfChanged() {
    FileTime mtime;
    List<String> lines;
    try {
      mtime = Files.getLastModifiedTime(file);
      if (mtime.equals(loaded)) {
        return;
      }
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      throw new ConfigException("tokens file " + file + ": no such file (create it with"
          + " grc-server issue-token --file " + file + " USER)");
    } catch (IOException e) {
      throw new ConfigException("tokens file " + file + ": cannot read: " + e.getMessage());
    }
    Map<String, PeerIdentity> m = new HashMap<>();
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split("\\s+");
      if (f.length != 3 || !f[0].startsWith("sha256:") || f[0].length() != 7 + 64) {
        throw new ConfigException("tokens file " + file + ": line " + (i + 1)
            + ": expected 'sha256:<64 hex digits> <user|operator> <name>'");
      }
      Role role = switch (f[1]) {
        case "user" -> Role.USER;
        case "operator" -> Role.OPERATOR;
        default -> throw new ConfigException("tokens file " + file + ": line " + (i + 1)
            + ": role '" + f[1] + "' is neither user nor operator");
      };
      m.put(f[0].substring(7), new PeerIdentity(role, f[2]));
    }
    byHash = Map.copyOf(m);
    loaded = mtime;
  }

  /**
   * Makes a new token for {@code name} with {@code role} (user or operator), appends its hash to
   * the file (created with mode 0600) and returns the token, which is shown only this once.
   */
  public static String issue(Path file, Role role, String name) throws IOException {
    if (role != Role.USER && role != Role.OPERATOR) {
      throw new IllegalArgumentException("tokens are for users and operators, not " + role.ou());
    }
    if (!name.matches("[A-Za-z_][A-Za-z0-9_.@-]{0,63}")) {
      throw new IllegalArgumentException("'" + name + "' is not a user name");
    }
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    String token = PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    if (!Files.exists(file)) {
      Files.createFile(file, PosixFilePermissions.asFileAttribute(
          PosixFilePermissions.fromString("rw-------")));
    }
    Files.writeString(file, "sha256:" + hash(token) + " " + role.ou() + " " + name + "\n",
        StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    return token;
  }

  static String hash(String token) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
          .digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
