package dev.miij.server.http;

/**
 * A Prometheus histogram of seconds with fixed bucket bounds. Observations and scrapes lock briefly,
 * so that a scrape never sees a count that disagrees with its buckets.
 */
final class Histogram {

    private final String name;
    private final String help;
    private final double[] bounds;
    private final long[] counts;
    private long count;
    private double sum;

    Histogram(String name, String help, double... bounds) {
        this.name = name;
        this.help = help;
        this.bounds = bounds.clone();
        this.counts = new long[bounds.length];
    }

    synchronized void observe(double seconds) {
        for (int i = 0; i < bounds.length; i++) {
            if (seconds <= bounds[i]) {
                counts[i]++;
            }
        }
        count++;
        sum += seconds;
    }

    synchronized long count() {
        return count;
    }

    synchronized void write(StringBuilder out) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" histogram\n");
        for (int i = 0; i < bounds.length; i++) {
            out.append(name).append("_bucket{le=\"").append(Metrics.number(bounds[i])).append("\"} ")
                    .append(counts[i]).append('\n');
        }
        out.append(name).append("_bucket{le=\"+Inf\"} ").append(count).append('\n');
        out.append(name).append("_sum ").append(Metrics.number(sum)).append('\n');
        out.append(name).append("_count ").append(count).append('\n');
    }
}
