package dev.miij.cli.load;

import java.util.Arrays;

/**
 * Latency percentiles by the nearest-rank method: the p-th percentile of n samples is the
 * {@code ceil(p / 100 * n)}-th smallest, always one of the samples (never interpolated).
 *
 * <pre>{@code
 * Percentiles.Summary s = Percentiles.summarize(latencyNanos);
 * System.out.println(s.p50() + " " + s.p99());
 * }</pre>
 */
public final class Percentiles {

    private Percentiles() {
    }

    /**
     * The sample at percentile {@code p} (0 < p <= 100) of ascending {@code sorted}.
     *
     * @throws IllegalArgumentException without samples or with p out of range
     */
    public static long of(long[] sorted, double p) {
        if (sorted.length == 0) {
            throw new IllegalArgumentException("no samples");
        }
        if (!(p > 0 && p <= 100)) {
            throw new IllegalArgumentException("percentile must be in (0, 100], got " + p);
        }
        // The epsilon keeps p * n / 100 from rounding up past an exact rank (99.9 * 1000 is not 99900 in binary).
        int rank = (int) Math.ceil(p * sorted.length / 100.0 - 1e-9);
        return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
    }

    /** Count, p50, p90, p99, max and mean of samples in any order; all zero when there are none. */
    public static Summary summarize(long[] samples) {
        if (samples.length == 0) {
            return new Summary(0, 0, 0, 0, 0, 0, 0);
        }
        long[] s = samples.clone();
        Arrays.sort(s);
        double sum = 0;
        for (long v : s) {
            sum += v;
        }
        return new Summary(s.length, s[0], of(s, 50), of(s, 90), of(s, 99), s[s.length - 1], sum / s.length);
    }

    /** Summary statistics of latency samples, in the samples' unit (nanoseconds here). */
    public record Summary(int count, long min, long p50, long p90, long p99, long max, double mean) {
    }
}
