package dev.miij.model;

import dev.miij.MiiException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Downloads one file into a cache blob through {@code <blob>.incomplete}, resuming with a Range
 * request after a dropped connection, whether within this run (a few retries) or from a file a
 * previous, interrupted run left behind.
 */
final class HubDownload {

    static final int ATTEMPTS = 4;
    private static final int BUFFER = 1 << 18;

    private final HubHttp http;
    private final DownloadProgress progress;
    private final long retryDelayMillis;
    private final long stallMillis;

    /**
     * @param stallMillis how long a connection may deliver nothing before it is abandoned and
     *     resumed: the HTTP client has no read timeout of its own, and a dead connection would
     *     otherwise block forever
     */
    HubDownload(HubHttp http, DownloadProgress progress, long retryDelayMillis, long stallMillis) {
        this.http = http;
        this.progress = progress;
        this.retryDelayMillis = retryDelayMillis;
        this.stallMillis = stallMillis;
    }

    /**
     * Fetches {@code url} into {@code blob}, which appears only once complete. A failed attempt is
     * retried; only {@link #ATTEMPTS} failures in a row without progress give up, so a long download
     * over a flaky network still finishes.
     *
     * @param expectedSize size announced by the hub, -1 if unknown
     * @param name file name for progress and errors
     */
    void fetch(HubId id, URI url, Path blob, Path incomplete, long expectedSize, String name) {
        DownloadProgress.Bar bar = progress.start(name, expectedSize, sizeOf(incomplete));
        int failures = 0;
        while (true) {
            long before = sizeOf(incomplete);
            IOException error = null;
            try {
                if (transfer(id, url, incomplete, expectedSize, bar, name)) {
                    break;
                }
            } catch (IOException e) {
                error = e;
            }
            failures = sizeOf(incomplete) > before ? 1 : failures + 1;
            if (failures >= ATTEMPTS) {
                throw MiiException.io("download of " + name + " from " + http.endpoint() + " failed " + ATTEMPTS + " times in a row ("
                        + (error == null ? "the server would not resume it" : error.getMessage()) + "); the " + sizeOf(incomplete)
                        + " bytes received are kept in " + incomplete + " and the next run resumes from there", error);
            }
            pause(failures);
        }
        long size = sizeOf(incomplete);
        if (expectedSize >= 0 && size != expectedSize) {
            delete(incomplete);
            throw MiiException.corrupt("downloaded " + name + " has " + size + " bytes but the hub announced " + expectedSize
                    + "; the partial file was deleted, run again to download it afresh");
        }
        try {
            HubCache.move(incomplete, blob);
        } catch (IOException e) {
            throw MiiException.io("cannot move " + incomplete + " to " + blob + ": " + e.getMessage(), e);
        }
        bar.finish();
    }

    /** One attempt; true when the file is complete, false to retry (the partial file was unusable and is gone). */
    private boolean transfer(HubId id, URI url, Path incomplete, long expectedSize, DownloadProgress.Bar bar, String name) throws IOException {
        long have = sizeOf(incomplete);
        if (expectedSize >= 0 && have > expectedSize) {
            delete(incomplete); // longer than the file can be: not a prefix of it
            have = 0;
        }
        if (expectedSize >= 0 && have == expectedSize && have > 0) {
            return true; // a previous run received everything but stopped before moving it into place
        }
        HttpResponse<InputStream> r;
        try {
            r = http.get(url, have);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MiiException(MiiException.Kind.CANCELLED, "download of " + name + " interrupted");
        }
        try (InputStream in = r.body()) {
            int status = r.statusCode();
            boolean append;
            if (status == 206 && have > 0 && r.headers().firstValue("Content-Range").orElse("").startsWith("bytes " + have + "-")) {
                append = true;
            } else if (status == 200) {
                append = false; // the server ignored the Range header: start over
                bar.set(0);
            } else if (status == 416 || status == 206) {
                delete(incomplete); // the server disagrees about what we hold: start over
                bar.set(0);
                return false;
            } else if (status >= 500) {
                throw new IOException("HTTP " + status + " from " + r.uri().getHost()); // a server hiccup: worth a retry
            } else {
                throw http.error(status, r.headers(), id, name);
            }
            long length = r.headers().firstValueAsLong("Content-Length").orElse(-1);
            long received = copy(in, incomplete, append, bar);
            if (length >= 0 && received != length) {
                throw new IOException("connection closed after " + received + " of " + length + " bytes");
            }
            return true;
        }
    }

    private long copy(InputStream in, Path file, boolean append, DownloadProgress.Bar bar) throws IOException {
        StandardOpenOption mode = append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING;
        AtomicLong lastData = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        Thread watchdog = Thread.ofVirtual().start(() -> watch(in, lastData, stalled));
        long total = 0;
        try (OutputStream out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, mode)) {
            byte[] buf = new byte[BUFFER];
            for (int n; (n = in.read(buf)) > 0; ) {
                lastData.set(System.nanoTime());
                out.write(buf, 0, n);
                total += n;
                bar.advance(n);
            }
        } catch (IOException e) {
            if (!stalled.get()) {
                throw e;
            }
        } finally {
            watchdog.interrupt();
        }
        if (stalled.get()) {
            throw new IOException("no data for " + stallMillis / 1000.0 + " s after " + total + " bytes");
        }
        return total;
    }

    /** Closes {@code in} once no data arrived for {@link #stallMillis}, which wakes the blocked reader. */
    private void watch(InputStream in, AtomicLong lastData, AtomicBoolean stalled) {
        long stallNanos = stallMillis * 1_000_000L;
        try {
            while (true) {
                Thread.sleep(Math.max(10, Math.min(1000, stallMillis / 4)));
                if (System.nanoTime() - lastData.get() > stallNanos) {
                    stalled.set(true);
                    in.close();
                    return;
                }
            }
        } catch (InterruptedException | IOException e) {
            // the transfer ended, or closing failed and the read fails on its own
        }
    }

    private void pause(int attempt) {
        try {
            Thread.sleep(retryDelayMillis * attempt);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MiiException(MiiException.Kind.CANCELLED, "download interrupted");
        }
    }

    private static long sizeOf(Path p) {
        try {
            return Files.exists(p) ? Files.size(p) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // the next attempt truncates it anyway
        }
    }
}
