package org.lambdagrid.nodemanager.driver.namespaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lambdagrid.common.HostCommand;

/**
 * {@link SafeFiles#deleteTree}: never leaves its tree, whatever links are planted or swapped in.
 * Swaps happen at the {@link SafeFiles.BeforeOpen} seam, so no test depends on timing. Runs with
 * or without root (the ownership test needs root).
 */
class SafeFilesTest {
  @TempDir Path tmp;
  Path tree;
  /** Stands for /etc: outside the tree, must survive. */
  Path outside;

  @BeforeEach
  void makeTrees() throws IOException {
    tree = tmp.resolve("tree");
    Files.createDirectories(tree.resolve("a/b/c"));
    Files.writeString(tree.resolve("top.txt"), "t");
    Files.writeString(tree.resolve("a/x"), "x");
    Files.writeString(tree.resolve("a/b/y"), "y");
    Files.writeString(tree.resolve("a/b/c/z"), "z");
    outside = tmp.resolve("etc");
    Files.createDirectories(outside.resolve("b"));
    Files.writeString(outside.resolve("x"), "keep");
    Files.writeString(outside.resolve("passwd"), "keep");
    Files.writeString(outside.resolve("b/y"), "keep");
  }

  @Test
  void aTreeOfNestedDirectoriesAndFilesIsRemoved() throws IOException {
    Files.createDirectory(tree.resolve("empty"));
    SafeFiles.deleteTree(tree);
    assertThat(tree).doesNotExist();
    assertOutsideIntact();
  }

  @Test
  void aMissingTreeOrParentIsNoError() throws IOException {
    SafeFiles.deleteTree(tmp.resolve("absent"));
    SafeFiles.deleteTree(tmp.resolve("absent/too"));
    assertThat(tmp.resolve("absent")).doesNotExist();
  }

  @Test
  void aLinkInsideToADirectoryOutsideIsRemovedAsALink() throws IOException {
    Files.createSymbolicLink(tree.resolve("a/b/etc"), outside);
    Files.createSymbolicLink(tree.resolve("passwd"), outside.resolve("passwd"));
    SafeFiles.deleteTree(tree);
    assertThat(tree).doesNotExist();
    assertOutsideIntact();
  }

  @Test
  void aLinkAtTheTopIsRemovedAsALinkAndItsTargetKept() throws IOException {
    Path link = tmp.resolve("state-link");
    Files.createSymbolicLink(link, outside);
    SafeFiles.deleteTree(link);
    assertThat(link).doesNotExist();
    assertThat(Files.exists(link, LinkOption.NOFOLLOW_LINKS)).isFalse();
    assertOutsideIntact();
  }

  @Test
  void aFileAtTheTopIsRemoved() throws IOException {
    SafeFiles.deleteTree(tree.resolve("top.txt"));
    assertThat(tree.resolve("top.txt")).doesNotExist();
    assertThat(tree.resolve("a/x")).exists();
  }

  @Test
  void aDirectorySwappedForALinkBeforeItIsOpenedIsRemovedAsALink() throws IOException {
    Path parked = tmp.resolve("parked");
    List<Path> opened = new ArrayList<>();
    SafeFiles.deleteTree(tree, dir -> {
      opened.add(tree.relativize(dir));
      if (dir.equals(tree.resolve("a"))) {
        // Checked to be a directory; now, before the open, it becomes a link to "/etc".
        Files.move(dir, parked);
        Files.createSymbolicLink(dir, outside);
      }
    });
    assertThat(tree).doesNotExist();
    assertOutsideIntact();
    assertThat(parked.resolve("b/c/z")).as("never entered: it left the tree").hasContent("z");
    assertThat(opened).containsExactly(Path.of(""), Path.of("a"));
  }

  @Test
  void aDirectorySwappedForALinkWhileItIsBeingEmptiedDoesNotRedirectTheDeletion()
      throws IOException {
    Path parked = tmp.resolve("parked");
    SafeFiles.deleteTree(tree, dir -> {
      if (dir.equals(tree.resolve("a/b"))) {
        // "a" is open and listed; "a/b" is next. A walk by path would now delete etc/b/y
        // through tree/a -> etc.
        Files.move(tree.resolve("a"), parked);
        Files.createSymbolicLink(tree.resolve("a"), outside);
      }
    });
    assertThat(tree).doesNotExist();
    assertOutsideIntact();
    // What was deleted is the directory that was opened, wherever it was moved.
    assertThat(parked).isEmptyDirectory();
  }

  @Test
  void asRootEachDirectoryIsMadeRootsAndPrivateBeforeItIsListed() throws IOException {
    assumeTrue(HostCommand.isRoot(), "skipped: changing a directory's owner needs root");
    Path ssh = tree.resolve("a");
    Files.setAttribute(ssh, "unix:uid", 65534, LinkOption.NOFOLLOW_LINKS);
    Files.setPosixFilePermissions(ssh, PosixFilePermissions.fromString("rwxrwxrwx"));
    List<String> seen = new ArrayList<>();
    SafeFiles.deleteTree(tree, dir -> {
      if (dir.equals(ssh.resolve("b"))) {
        seen.add(Files.getAttribute(ssh, "unix:uid", LinkOption.NOFOLLOW_LINKS) + " "
            + PosixFilePermissions.toString(Files.getPosixFilePermissions(ssh)));
      }
    });
    assertThat(seen).containsExactly("0 rwx------");
    assertThat(tree).doesNotExist();
  }

  @Test
  void anErrorStopsTheDeletionAndNamesTheFullPath() {
    // An entry added to a/b after it was listed: a/b cannot be removed (not empty).
    assertThatThrownBy(() -> SafeFiles.deleteTree(tree, dir -> {
      if (dir.equals(tree.resolve("a/b/c"))) {
        Files.writeString(tree.resolve("a/b/late"), "l");
      }
    })).isInstanceOf(IOException.class)
        .hasMessageStartingWith(tree.resolve("a/b") + ": ")
        .hasMessageContaining("not empty");
    assertThat(tree.resolve("a/b/late")).hasContent("l");
    assertThat(tree.resolve("a/b/c")).doesNotExist();
    assertOutsideIntact();
  }

  @Test
  void aTreeDeeperThanTheLimitIsKeptWithAnErrorAndItsSiblingsAreRemoved() throws IOException {
    // The top is depth 0: ok/d/d is at the limit (3) and removed, z/d/d/d is one deeper.
    Files.createDirectories(tree.resolve("ok/d/d"));
    Files.writeString(tree.resolve("ok/d/d/f"), "x");
    Path deep = tree.resolve("z/d/d/d");
    Files.createDirectories(deep);
    Files.writeString(tree.resolve("sibling.txt"), "x");
    assertThatThrownBy(() -> SafeFiles.deleteTree(tree, d -> { }, 3))
        .isInstanceOf(IOException.class)
        .hasMessage(deep + ": more than 3 directories deep; not removed");
    assertThat(deep).isDirectory();
    assertThat(tree.resolve("ok")).doesNotExist();
    assertThat(tree.resolve("sibling.txt")).doesNotExist();
    assertOutsideIntact();
  }

  @Test
  @org.junit.jupiter.api.Timeout(30)
  void aFifoInTheTreeIsRemovedWithoutBeingOpened() throws Exception {
    Path fifo = tree.resolve("a/pipe");
    assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
    SafeFiles.deleteTree(tree); // an open of the FIFO would block here
    assertThat(tree).doesNotExist();
  }

  private void assertOutsideIntact() {
    assertThat(outside.resolve("x")).hasContent("keep");
    assertThat(outside.resolve("passwd")).hasContent("keep");
    assertThat(outside.resolve("b/y")).hasContent("keep");
  }
}
