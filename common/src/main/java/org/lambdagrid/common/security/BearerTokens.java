package org.lambdagrid.common.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.lambdagrid.common.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Operator-issued bearer tokens: who a token stands for, read from a file the operator keeps.
 * Each line is {@code sha256:<hex of the token's SHA-256> <user|operator> <name>} ({@code #}
 * comments and blank lines are skipped). Only hashes are stored, so the file does not give
 * tokens away; a token is revoked by deleting its line. The file is re-read when it changes.
 *
 * <p>Every load checks the file: it must belong to root or to this process's user and must not
 * be readable or writable by group or others (whoever may write it can mint an operator); every
 * other line must be well formed. A refusal names the file and the mode, or the line number, and
 * never quotes a line (a line may hold a token pasted by mistake). At construction a refusal is
 * a {@link ConfigException}; a later reload that is refused keeps the tokens of the last good
 * load and logs the refusal (once per change of the file).
 *
 * <p>Tokens are {@code lgt_} and 32 random bytes (base64url), made by {@link #issue}.
 * Thread-safe.
 */
public final class BearerTokens {
  public static final String PREFIX = "lgt_";
  private static final Logger log = LoggerFactory.getLogger(BearerTokens.class);
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Pattern HASH = Pattern.compile("sha256:[0-9a-f]{64}");
  private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_.@-]{0,63}");
  private static final Set<PosixFilePermission> OPEN = EnumSet.of(
      PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
      PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE);

  private final Path file;
  private Map<String, PeerIdentity> byHash = Map.of(); // guarded by this
  private FileTime loaded; // guarded by this
  private FileTime refused; // guarded by this: the mtime of the last refused reload

  /** @throws ConfigException naming the file and the mode, owner or line that is refused */
  public BearerTokens(Path file) {
    this.file = file;
    reloadIfChanged();
  }

  /** Who the token stands for, or empty for an unknown (or revoked) token. */
  public Optional<PeerIdentity> lookup(String token) {
    if (token == null || !token.startsWith(PREFIX)) {
      return Optional.empty();
    }
    synchronized (this) {
      try {
        reloadIfChanged();
      } catch (ConfigException e) {
        FileTime now = mtimeOrNull();
        if (now == null || !now.equals(refused)) {
          refused = now;
          log.error("{}; still using the tokens of the last good load", e.getMessage());
        }
      }
      return Optional.ofNullable(byHash.get(hash(token)));
    }
  }

  private FileTime mtimeOrNull() {
    try {
      return Files.getLastModifiedTime(file);
    } catch (IOException e) {
      return null;
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
      checkOwnerAndMode(file);
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
      String at = "tokens file " + file + ": line " + (i + 1) + ": ";
      if (line.contains(PREFIX) || line.contains(SessionTokens.PREFIX)) {
        throw new ConfigException(at + "holds a token itself, not its hash; remove the line"
            + " (grc-server issue-token writes only hashes) and issue a new token");
      }
      String[] f = line.split("\\s+");
      if (f.length != 3 || !HASH.matcher(f[0]).matches()) {
        throw new ConfigException(at + "expected 'sha256:<64 lower-case hex digits>"
            + " <user|operator> <name>'");
      }
      Role role = switch (f[1]) {
        case "user" -> Role.USER;
        case "operator" -> Role.OPERATOR;
        default -> throw new ConfigException(at + "the second field is neither user nor operator");
      };
      if (!NAME.matcher(f[2]).matches()) {
        throw new ConfigException(at + "the third field is not a user name");
      }
      if (m.put(f[0].substring(7), new PeerIdentity(role, f[2])) != null) {
        throw new ConfigException(at + "repeats the hash of an earlier line");
      }
    }
    byHash = Map.copyOf(m);
    loaded = mtime;
  }

  /**
   * Refuses a tokens file that belongs to anyone but root or this process's user, or that group
   * or others may read or write.
   */
  static void checkOwnerAndMode(Path file) throws IOException {
    String owner = Files.getOwner(file).getName();
    String me = System.getProperty("user.name");
    if (!owner.equals("root") && !owner.equals(me)) {
      throw new ConfigException("tokens file " + file + ": belongs to '" + owner + "', not to root"
          + " or the GRC's user '" + me + "' (its owner could add tokens); chown it");
    }
    Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
    if (perms.stream().anyMatch(OPEN::contains)) {
      throw new ConfigException("tokens file " + file + ": mode " + octal(perms) + " ("
          + PosixFilePermissions.toString(perms) + ") lets group or others read or write it;"
          + " chmod 600 " + file);
    }
  }

  private static String octal(Set<PosixFilePermission> perms) {
    int mode = 0;
    for (PosixFilePermission p : perms) {
      mode |= 1 << (8 - p.ordinal());
    }
    return String.format("%04o", mode);
  }

  /**
   * Makes a new token for {@code name} with {@code role} (user or operator), appends its hash to
   * the file (created with mode 0600) and returns the token, which is shown only this once.
   */
  public static String issue(Path file, Role role, String name) throws IOException {
    if (role != Role.USER && role != Role.OPERATOR) {
      throw new IllegalArgumentException("tokens are for users and operators, not " + role.ou());
    }
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("'" + name + "' is not a user name");
    }
    byte[] b = new byte[32];
    RANDOM.nextBytes(b);
    String token = PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    if (!Files.exists(file)) {
      Files.createFile(file, PosixFilePermissions.asFileAttribute(
          PosixFilePermissions.fromString("rw-------")));
    } else {
      checkOwnerAndMode(file);
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
