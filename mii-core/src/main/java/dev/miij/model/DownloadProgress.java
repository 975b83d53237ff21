package dev.miij.model;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Download progress on stderr: on a terminal one bar per file redrawn in place with {@code \r} at
 * most ten times a second; elsewhere (logs, CI) one line per finished file, since carriage
 * returns would only clutter a log.
 */
final class DownloadProgress {

    private static final long REDRAW_NANOS = 100_000_000L;
    private static final int NAME_WIDTH = 40;

    private final PrintStream out;
    private final boolean terminal;
    private final LongSupplier clock;

    DownloadProgress(PrintStream out, boolean terminal, LongSupplier nanoClock) {
        this.out = out;
        this.terminal = terminal;
        this.clock = nanoClock;
    }

    /** Progress of one file of {@code total} bytes (-1 if unknown), {@code already} of which a previous attempt kept. */
    Bar start(String name, long total, long already) {
        return new Bar(name, total, already);
    }

    void note(String line) {
        out.println(line);
        out.flush();
    }

    final class Bar {
        private final String name;
        private final long total;
        private final long startNanos;
        private long startBytes;
        private long done;
        private long lastDraw;
        private int lastWidth;

        private Bar(String name, long total, long already) {
            this.name = name.length() > NAME_WIDTH ? "…" + name.substring(name.length() - NAME_WIDTH + 1) : name;
            this.total = total;
            this.startNanos = clock.getAsLong();
            this.startBytes = already;
            this.done = already;
            this.lastDraw = startNanos - REDRAW_NANOS;
        }

        /** Sets the byte count, e.g. back to 0 when a server ignored a resume request. */
        void set(long bytes) {
            done = bytes;
            startBytes = Math.min(startBytes, bytes); // the rate counts only bytes this run transferred
            redraw(false);
        }

        void advance(long bytes) {
            done += bytes;
            redraw(false);
        }

        void finish() {
            if (terminal) {
                redraw(true);
                out.println();
            } else {
                double secs = seconds();
                out.printf(Locale.ROOT, "downloaded %s (%s MB in %.1f s, %.1f MB/s)%n", name, mb(done), secs, rate(secs));
            }
            out.flush();
        }

        private void redraw(boolean force) {
            long now = clock.getAsLong();
            if (!terminal || (!force && now - lastDraw < REDRAW_NANOS)) {
                return;
            }
            lastDraw = now;
            String pct = total > 0 ? String.format(Locale.ROOT, "%3d%%", Math.min(100, done * 100 / total)) : "   ?";
            String size = total >= 0 ? mb(done) + "/" + mb(total) + " MB" : mb(done) + " MB";
            String line = String.format(Locale.ROOT, "%-" + NAME_WIDTH + "s %s %s %.1f MB/s", name, size, pct, rate(seconds()));
            // Pad with blanks so a shorter line fully covers the previous one.
            String pad = " ".repeat(Math.max(0, lastWidth - line.length()));
            lastWidth = line.length();
            out.print("\r" + line + pad);
            out.flush();
        }

        private double seconds() {
            return Math.max(1e-9, (clock.getAsLong() - startNanos) / 1e9);
        }

        private double rate(double secs) {
            return (done - startBytes) / 1e6 / secs;
        }
    }

    private static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f", bytes / 1e6);
    }
}
