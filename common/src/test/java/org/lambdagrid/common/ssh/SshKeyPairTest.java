package org.lambdagrid.common.ssh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyFactory;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SshKeyPairTest {
  @TempDir Path dir;

  @Test
  void openSshReadsThePrivateFileAndDerivesTheSamePublicKey() throws Exception {
    Path keygen = Path.of("/usr/bin/ssh-keygen");
    assumeTrue(Files.isExecutable(keygen), "skipped: no /usr/bin/ssh-keygen (openssh-client)");
    SshKeyPair k = SshKeyPair.generate("alice@kyoto-0");
    Path priv = dir.resolve("id_ed25519");
    Files.write(priv, k.privateFile());
    Files.setPosixFilePermissions(priv, PosixFilePermissions.fromString("rw-------"));
    Process p = new ProcessBuilder(keygen.toString(), "-y", "-f", priv.toString())
        .redirectErrorStream(true).start();
    String derived = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(derived).isZero();
    // ssh-keygen -y prints "TYPE BASE64 COMMENT" from the private file alone.
    assertThat(derived).isEqualTo(k.publicLine());
  }

  @Test
  void theFilesHoldOneKeyPairThatSignsAndVerifies() throws Exception {
    SshKeyPair k = SshKeyPair.generate("root@kyoto-0");
    String[] line = k.publicLine().split(" ");
    assertThat(line).hasSize(3);
    assertThat(line[0]).isEqualTo("ssh-ed25519");
    assertThat(line[2]).isEqualTo("root@kyoto-0\n");
    ByteBuffer blob = ByteBuffer.wrap(Base64.getDecoder().decode(line[1]));
    assertThat(string(blob)).isEqualTo("ssh-ed25519".getBytes(StandardCharsets.US_ASCII));
    byte[] pub = string(blob);
    assertThat(pub).hasSize(32);

    String pem = new String(k.privateFile(), StandardCharsets.US_ASCII);
    assertThat(pem).startsWith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
        .endsWith("\n-----END OPENSSH PRIVATE KEY-----\n");
    assertThat(pem.lines().skip(1).filter(l -> !l.startsWith("-----")))
        .allSatisfy(l -> assertThat(l.length()).isLessThanOrEqualTo(70));
    ByteBuffer f = ByteBuffer.wrap(Base64.getMimeDecoder().decode(pem
        .replace("-----BEGIN OPENSSH PRIVATE KEY-----", "")
        .replace("-----END OPENSSH PRIVATE KEY-----", "")));
    byte[] magic = new byte[15];
    f.get(magic);
    assertThat(new String(magic, StandardCharsets.US_ASCII)).isEqualTo("openssh-key-v1\0");
    assertThat(new String(string(f), StandardCharsets.US_ASCII)).isEqualTo("none");
    assertThat(new String(string(f), StandardCharsets.US_ASCII)).isEqualTo("none");
    assertThat(string(f)).isEmpty();
    assertThat(f.getInt()).isEqualTo(1);
    assertThat(string(f)).isEqualTo(Base64.getDecoder().decode(line[1]));
    ByteBuffer s = ByteBuffer.wrap(string(f));
    assertThat(f.hasRemaining()).isFalse();
    assertThat(s.remaining() % 8).isZero();
    assertThat(s.getInt()).isEqualTo(s.getInt());
    assertThat(string(s)).isEqualTo("ssh-ed25519".getBytes(StandardCharsets.US_ASCII));
    assertThat(string(s)).isEqualTo(pub);
    byte[] secret = string(s);
    assertThat(Arrays.copyOfRange(secret, 32, 64)).isEqualTo(pub);
    assertThat(new String(string(s), StandardCharsets.UTF_8)).isEqualTo("root@kyoto-0");
    for (int pad = 1; s.hasRemaining(); pad++) {
      assertThat(s.get()).isEqualTo((byte) pad);
    }

    // The seed signs, the public key verifies: they are one pair.
    KeyFactory kf = KeyFactory.getInstance("Ed25519");
    var priv = kf.generatePrivate(new PKCS8EncodedKeySpec(concat(
        HexFormat.of().parseHex("302e020100300506032b657004220420"),
        Arrays.copyOfRange(secret, 0, 32))));
    var pubKey = kf.generatePublic(new X509EncodedKeySpec(concat(
        HexFormat.of().parseHex("302a300506032b6570032100"), pub)));
    Signature sign = Signature.getInstance("Ed25519");
    sign.initSign(priv);
    sign.update("hello".getBytes(StandardCharsets.US_ASCII));
    byte[] sig = sign.sign();
    Signature verify = Signature.getInstance("Ed25519");
    verify.initVerify(pubKey);
    verify.update("hello".getBytes(StandardCharsets.US_ASCII));
    assertThat(verify.verify(sig)).isTrue();
  }

  @Test
  void everyPairIsNew() {
    assertThat(SshKeyPair.generate("a").publicLine())
        .isNotEqualTo(SshKeyPair.generate("a").publicLine());
  }

  private static byte[] string(ByteBuffer b) {
    byte[] out = new byte[b.getInt()];
    b.get(out);
    return out;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
