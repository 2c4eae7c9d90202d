package org.lambdagrid.nodemanager.driver.fake;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.util.Arrays;
import java.util.Base64;

/** Ed25519 keys in OpenSSH's one-line public key format, made in plain Java. */
public final class OpenSshKeys {
  private static final String TYPE = "ssh-ed25519";
  /** DER prefix of an X.509 SubjectPublicKeyInfo holding an Ed25519 key; 32 raw bytes follow. */
  private static final int X509_PREFIX = 12;

  private OpenSshKeys() {}

  public static KeyPair generate() {
    try {
      return KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JVM has no Ed25519", e);
    }
  }

  /** "ssh-ed25519 BASE64 comment", where BASE64 is string("ssh-ed25519") + string(32 bytes). */
  public static String publicKeyLine(PublicKey key, String comment) {
    byte[] encoded = key.getEncoded();
    byte[] raw = Arrays.copyOfRange(encoded, X509_PREFIX, encoded.length);
    if (raw.length != 32) {
      throw new IllegalArgumentException("not an Ed25519 public key: " + key.getAlgorithm());
    }
    ByteArrayOutputStream blob = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(blob)) {
      byte[] type = TYPE.getBytes(StandardCharsets.US_ASCII);
      out.writeInt(type.length);
      out.write(type);
      out.writeInt(raw.length);
      out.write(raw);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return TYPE + " " + Base64.getEncoder().encodeToString(blob.toByteArray())
        + (comment == null || comment.isEmpty() ? "" : " " + comment);
  }

  /** The 32 raw key bytes of an "ssh-ed25519 BASE64 [comment]" line; throws if malformed. */
  public static byte[] parseEd25519(String line) {
    String[] parts = line.trim().split("\\s+", 3);
    if (parts.length < 2 || !parts[0].equals(TYPE)) {
      throw new IllegalArgumentException("not an ssh-ed25519 line: '" + line + "'");
    }
    ByteBuffer blob = ByteBuffer.wrap(Base64.getDecoder().decode(parts[1]));
    byte[] type = new byte[blob.getInt()];
    blob.get(type);
    if (!TYPE.equals(new String(type, StandardCharsets.US_ASCII))) {
      throw new IllegalArgumentException("blob type is '" + new String(type,
          StandardCharsets.US_ASCII) + "', not " + TYPE);
    }
    int n = blob.getInt();
    if (n != 32 || blob.remaining() != 32) {
      throw new IllegalArgumentException("ed25519 key is " + n + " bytes, not 32");
    }
    byte[] raw = new byte[32];
    blob.get(raw);
    return raw;
  }

  /** The raw 32 bytes of a Java Ed25519 public key. */
  public static byte[] raw(PublicKey key) {
    byte[] encoded = key.getEncoded();
    return Arrays.copyOfRange(encoded, X509_PREFIX, encoded.length);
  }
}
