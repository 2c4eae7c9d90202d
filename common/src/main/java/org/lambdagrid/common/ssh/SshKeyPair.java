package org.lambdagrid.common.ssh;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;

/**
 * A fresh ed25519 key pair in OpenSSH's formats, made in the JVM (no {@code ssh-keygen} process):
 * the public key as an {@code authorized_keys}/{@code known_hosts} line and the private key as an
 * unencrypted {@code openssh-key-v1} file, both as {@code ssh-keygen -t ed25519 -N ""} writes them.
 *
 * <p>The private bytes are the caller's to protect: write them with mode 0600 (or 0400) and
 * never log them.
 */
public final class SshKeyPair {
  private static final String TYPE = "ssh-ed25519";
  private static final String MAGIC = "openssh-key-v1\0";
  /** DER prefixes of the JDK's X.509 (public) and PKCS#8 (private) ed25519 encodings. */
  private static final int X509_PREFIX = 12;
  private static final int PKCS8_PREFIX = 16;
  private static final SecureRandom RANDOM = new SecureRandom();

  private final String publicLine;
  private final byte[] privateFile;

  private SshKeyPair(String publicLine, byte[] privateFile) {
    this.publicLine = publicLine;
    this.privateFile = privateFile;
  }

  /** A new key pair; {@code comment} ends the public line and is stored in the private file. */
  public static SshKeyPair generate(String comment) {
    KeyPair kp;
    try {
      kp = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM cannot make ed25519 keys: " + e, e);
    }
    byte[] x509 = kp.getPublic().getEncoded();
    byte[] pkcs8 = kp.getPrivate().getEncoded();
    if (x509.length != X509_PREFIX + 32 || pkcs8.length != PKCS8_PREFIX + 32) {
      throw new IllegalStateException("unexpected ed25519 key encodings (" + x509.length + ", "
          + pkcs8.length + " bytes)");
    }
    byte[] pub = Arrays.copyOfRange(x509, X509_PREFIX, X509_PREFIX + 32);
    byte[] seed = Arrays.copyOfRange(pkcs8, PKCS8_PREFIX, PKCS8_PREFIX + 32);
    try {
      byte[] blob = publicBlob(pub);
      String line = TYPE + " " + Base64.getEncoder().encodeToString(blob) + " " + comment + "\n";
      return new SshKeyPair(line, privateFile(blob, pub, seed, comment));
    } finally {
      Arrays.fill(seed, (byte) 0);
      Arrays.fill(pkcs8, (byte) 0);
    }
  }

  /** {@code ssh-ed25519 BASE64 COMMENT\n}, as in {@code id_ed25519.pub}. */
  public String publicLine() {
    return publicLine;
  }

  /** The {@code -----BEGIN OPENSSH PRIVATE KEY-----} file's bytes (a copy). */
  public byte[] privateFile() {
    return privateFile.clone();
  }

  private static byte[] publicBlob(byte[] pub) {
    Wire w = new Wire();
    w.string(TYPE.getBytes(StandardCharsets.US_ASCII));
    w.string(pub);
    return w.bytes();
  }

  // PROTOCOL.key in OpenSSH's source: magic, cipher "none", kdf "none", empty kdf options, one
  // key, its public blob, then the private section (two equal check ints, the key, the comment,
  // padded with 1, 2, 3, ... to the cipher's block size, 8 for "none").
  private static byte[] privateFile(byte[] blob, byte[] pub, byte[] seed, String comment) {
    Wire section = new Wire();
    int check = RANDOM.nextInt();
    section.uint32(check);
    section.uint32(check);
    section.string(TYPE.getBytes(StandardCharsets.US_ASCII));
    section.string(pub);
    byte[] secret = new byte[64]; // seed || public key, as OpenSSH stores it
    System.arraycopy(seed, 0, secret, 0, 32);
    System.arraycopy(pub, 0, secret, 32, 32);
    section.string(secret);
    Arrays.fill(secret, (byte) 0);
    section.string(comment.getBytes(StandardCharsets.UTF_8));
    for (int pad = 1; section.size() % 8 != 0; pad++) {
      section.byte1(pad);
    }
    Wire file = new Wire();
    file.raw(MAGIC.getBytes(StandardCharsets.US_ASCII));
    file.string("none".getBytes(StandardCharsets.US_ASCII));
    file.string("none".getBytes(StandardCharsets.US_ASCII));
    file.string(new byte[0]);
    file.uint32(1);
    file.string(blob);
    byte[] s = section.bytes();
    file.string(s);
    Arrays.fill(s, (byte) 0);
    byte[] body = file.bytes();
    String b64 = Base64.getMimeEncoder(70, new byte[] {'\n'}).encodeToString(body);
    Arrays.fill(body, (byte) 0);
    return ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + b64
        + "\n-----END OPENSSH PRIVATE KEY-----\n").getBytes(StandardCharsets.US_ASCII);
  }

  /** SSH wire encoding (RFC 4251): big-endian uint32, length-prefixed strings. */
  private static final class Wire {
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
    private final DataOutputStream out = new DataOutputStream(buf);

    void uint32(int v) {
      try {
        out.writeInt(v);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    void string(byte[] b) {
      uint32(b.length);
      raw(b);
    }

    void raw(byte[] b) {
      buf.writeBytes(b);
    }

    void byte1(int b) {
      buf.write(b);
    }

    int size() {
      return buf.size();
    }

    byte[] bytes() {
      return buf.toByteArray();
    }
  }
}
