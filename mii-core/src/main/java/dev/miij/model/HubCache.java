package dev.miij.model;

import dev.miij.MiiException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * One model's folder in the huggingface_hub cache, laid out exactly as the Python library does so
 * that both share downloads:
 *
 * <pre>
 * models--org--name/
 *   blobs/&lt;etag&gt;                      file contents, named by ETag
 *   snapshots/&lt;commit&gt;/&lt;file&gt;         symlink to ../../blobs/&lt;etag&gt;
 *   refs/&lt;revision&gt;                   the commit a branch or tag pointed to
 * .locks/models--org--name/&lt;etag&gt;.lock  held while a blob downloads
 * </pre>
 */
final class HubCache {

    private final Path repoDir;
    private final Path lockDir;

    HubCache(Path cacheDir, String repoId) {
        String folder = "models--" + repoId.replace("/", "--");
        this.repoDir = cacheDir.resolve(folder);
        this.lockDir = cacheDir.resolve(".locks").resolve(folder);
    }

    Path repoDir() {
        return repoDir;
    }

    Path snapshotDir(String commit) {
        return repoDir.resolve("snapshots").resolve(commit);
    }

    Path blob(String etag) {
        return repoDir.resolve("blobs").resolve(etag);
    }

    Path incomplete(String etag) {
        return repoDir.resolve("blobs").resolve(etag + ".incomplete");
    }

    /** The commit {@code revision} resolves to from the cache alone: itself when it is a commit hash, else its ref file. */
    Optional<String> commitOf(HubId id) {
        if (id.revisionIsCommit()) {
            return Optional.of(id.revision());
        }
        Path ref = repoDir.resolve("refs").resolve(id.revision());
        try {
            String commit = Files.readString(ref, StandardCharsets.UTF_8).trim();
            return commit.isEmpty() ? Optional.empty() : Optional.of(commit);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The cached snapshot folder of {@code id}, if the cache knows its commit and holds that folder. */
    Optional<Path> cachedSnapshot(HubId id) {
        return commitOf(id).map(this::snapshotDir).filter(Files::isDirectory);
    }

    void writeRef(String revision, String commit) {
        Path ref = repoDir.resolve("refs").resolve(revision);
        try {
            Files.createDirectories(ref.getParent());
            Path tmp = Files.createTempFile(ref.getParent(), ".ref", ".tmp");
            Files.writeString(tmp, commit, StandardCharsets.UTF_8);
            move(tmp, ref);
        } catch (IOException e) {
            throw MiiException.io("cannot write " + ref + " in the Hugging Face cache: " + e.getMessage(), e);
        }
    }

    /** Points {@code snapshots/<commit>/<file>} at {@code blobs/<etag>}; copies where the file system has no symlinks. */
    Path link(String commit, String file, String etag) {
        Path target = snapshotDir(commit).resolve(file);
        Path blob = blob(etag);
        try {
            Files.createDirectories(target.getParent());
            Files.deleteIfExists(target); // a dangling link left by a removed blob
            if (!symlink(target, target.getParent().relativize(blob))) {
                Files.copy(blob, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw MiiException.io("cannot create " + target + " in the Hugging Face cache: " + e.getMessage(), e);
        }
        return target;
    }

    private static boolean symlink(Path link, Path relativeTarget) {
        try {
            Files.createSymbolicLink(link, relativeTarget);
            return true;
        } catch (FileAlreadyExistsException e) {
            return true; // another process linked it meanwhile, to the same blob by construction
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** Moves a finished download into place atomically, so a blob never appears half-written. */
    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * Holds a per-blob file lock while {@code body} runs, so two processes fetching the same model do
     * not write one {@code .incomplete} file at once.
     */
    <T> T withBlobLock(String etag, IoAction<T> body) throws IOException {
        Files.createDirectories(lockDir);
        try (FileChannel ch = FileChannel.open(lockDir.resolve(etag + ".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.lock(); // released when the channel closes
            return body.run();
        }
    }

    @FunctionalInterface
    interface IoAction<T> {
        T run() throws IOException;
    }
}
