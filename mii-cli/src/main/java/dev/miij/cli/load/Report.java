package dev.miij.cli.load;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Tables and JSON for {@link ClosedLoop} results. Latencies are shown in milliseconds. */
public final class Report {

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private Report() {
    }

    /** One row per level, under a header; failed requests' messages follow the table. */
    public static String table(List<ClosedLoop.Level> levels) {
        StringBuilder b = new StringBuilder(header());
        levels.forEach(l -> b.append(row(l)));
        b.append(streamTimes(levels));
        b.append(errors(levels));
        return b.toString();
    }

    /** The table's column names, one line. */
    public static String header() {
        return String.format(Locale.ROOT, "%5s %9s %7s %9s %9s %11s %9s %9s %9s %9s%n", "conc", "requests", "errors",
                "elapsed s", "req/s", "out tok/s", "p50 ms", "p90 ms", "p99 ms", "max ms");
    }

    /** A level's line of the table. */
    public static String row(ClosedLoop.Level l) {
        Percentiles.Summary s = l.latency();
        return String.format(Locale.ROOT, "%5d %9d %7d %9.2f %9.2f %11.1f %9s %9s %9s %9s%n", l.concurrency(),
                l.requests(), l.errors(), l.elapsedNanos() / 1e9, l.requestsPerSecond(), l.outputTokensPerSecond(),
                ms(s, s.p50(), 2), ms(s, s.p90(), 2), ms(s, s.p99(), 2), ms(s, s.max(), 2));
    }

    /**
     * For streams: time to first text (TTFT) and time per output token after it (TPOT) per level, p50 / p90
     * / p99 in ms; nothing when no level streamed.
     */
    public static String streamTimes(List<ClosedLoop.Level> levels) {
        if (levels.stream().allMatch(l -> l.timeToFirstOutput().count() == 0)) {
            return "";
        }
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%5s %9s %9s %9s   %9s %9s %9s%n", "conc",
                "TTFT p50", "p90", "p99", "TPOT p50", "p90", "p99"));
        for (ClosedLoop.Level l : levels) {
            Percentiles.Summary f = l.timeToFirstOutput();
            Percentiles.Summary t = l.timePerOutputToken();
            b.append(String.format(Locale.ROOT, "%5d %9s %9s %9s   %9s %9s %9s%n", l.concurrency(), ms(f, f.p50(), 1),
                    ms(f, f.p90(), 1), ms(f, f.p99(), 1), ms(t, t.p50(), 2), ms(t, t.p90(), 2), ms(t, t.p99(), 2)));
        }
        return b.toString();
    }

    /** What failed at each level, if anything did: counts by message. */
    public static String errors(List<ClosedLoop.Level> levels) {
        StringBuilder b = new StringBuilder();
        for (ClosedLoop.Level l : levels) {
            errors(b, "concurrency " + l.concurrency(), l.errors(), l.errorKinds());
            if (l.errorsAfterOutput() > 0) {
                b.append("  of these, ").append(l.errorsAfterOutput()).append(" had streamed output before failing, ")
                        .append(l.errorsBeforeOutput()).append(" had not").append(System.lineSeparator());
            }
        }
        return b.toString();
    }

    public static String table(ClosedLoop.Overhead o, String directLabel, String frontendLabel) {
        StringBuilder b = new StringBuilder();
        int w = Math.max(Math.max(directLabel.length(), frontendLabel.length()), 22);
        String head = "%-" + w + "s %7s %7s %9s %9s %9s %9s %9s%n";
        String row = "%-" + w + "s %7d %7d %9s %9s %9s %9s %9s%n";
        b.append(String.format(Locale.ROOT, head, "target", "ok", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"));
        for (int i = 0; i < 2; i++) {
            Percentiles.Summary s = i == 0 ? o.direct() : o.frontend();
            b.append(String.format(Locale.ROOT, row, i == 0 ? directLabel : frontendLabel, s.count(),
                    i == 0 ? o.directErrors() : o.frontendErrors(), ms(s, s.p50(), 3), ms(s, s.p90(), 3),
                    ms(s, s.p99(), 3), ms(s, s.max(), 3), s.count() == 0 ? "-" : fmt(s.mean() / 1e6, 3)));
        }
        if (o.direct().count() > 0 && o.frontend().count() > 0) {
            b.append(String.format(Locale.ROOT, "added by the frontend: p50 %+.3f ms, p99 %+.3f ms, median of paired"
                            + " differences %+.3f ms%n", (o.frontend().p50() - o.direct().p50()) / 1e6,
                    (o.frontend().p99() - o.direct().p99()) / 1e6, o.pairedMedianNanos() / 1e6));
        }
        errors(b, "errors", o.directErrors() + o.frontendErrors(), o.errorKinds());
        return b.toString();
    }

    private static void errors(StringBuilder b, String what, int errors, Map<String, Integer> kinds) {
        if (errors == 0) {
            return;
        }
        b.append(what).append(": ").append(errors).append(errors == 1 ? " request" : " requests").append(" failed")
                .append(System.lineSeparator());
        kinds.forEach((m, n) -> b.append("  ").append(n).append(" x ").append(m).append(System.lineSeparator()));
    }

    public static ObjectNode json(ClosedLoop.Level l) {
        ObjectNode o = JSON.objectNode();
        o.put("concurrency", l.concurrency());
        o.put("requests", l.requests());
        o.put("errors", l.errors());
        o.put("errors_after_output", l.errorsAfterOutput());
        o.put("errors_before_output", l.errorsBeforeOutput());
        o.put("elapsed_s", round(l.elapsedNanos() / 1e9, 4));
        o.put("requests_per_s", round(l.requestsPerSecond(), 3));
        o.put("output_tokens", l.outputTokens());
        o.put("output_tokens_per_s", round(l.outputTokensPerSecond(), 2));
        o.set("latency_ms", json(l.latency()));
        if (l.timeToFirstOutput().count() > 0) {
            o.set("ttft_ms", json(l.timeToFirstOutput()));
            o.set("tpot_ms", json(l.timePerOutputToken()));
        }
        o.set("error_kinds", kinds(l.errorKinds()));
        return o;
    }

    public static ObjectNode json(ClosedLoop.Overhead v) {
        ObjectNode o = JSON.objectNode();
        o.put("requests", v.requests());
        ObjectNode d = o.putObject("direct");
        d.put("errors", v.directErrors());
        d.set("latency_ms", json(v.direct()));
        ObjectNode f = o.putObject("frontend");
        f.put("errors", v.frontendErrors());
        f.set("latency_ms", json(v.frontend()));
        if (v.direct().count() > 0 && v.frontend().count() > 0) {
            ObjectNode a = o.putObject("added_ms");
            a.put("p50", round((v.frontend().p50() - v.direct().p50()) / 1e6, 4));
            a.put("p99", round((v.frontend().p99() - v.direct().p99()) / 1e6, 4));
            a.put("paired_median", round(v.pairedMedianNanos() / 1e6, 4));
        }
        o.set("error_kinds", kinds(v.errorKinds()));
        return o;
    }

    /** Count and percentiles in milliseconds; only the count when there are no samples. */
    static ObjectNode json(Percentiles.Summary s) {
        ObjectNode o = JSON.objectNode();
        o.put("count", s.count());
        if (s.count() > 0) {
            o.put("min", round(s.min() / 1e6, 4));
            o.put("p50", round(s.p50() / 1e6, 4));
            o.put("p90", round(s.p90() / 1e6, 4));
            o.put("p99", round(s.p99() / 1e6, 4));
            o.put("max", round(s.max() / 1e6, 4));
            o.put("mean", round(s.mean() / 1e6, 4));
        }
        return o;
    }

    private static ObjectNode kinds(Map<String, Integer> kinds) {
        ObjectNode o = JSON.objectNode();
        kinds.forEach(o::put);
        return o;
    }

    private static String ms(Percentiles.Summary s, long nanos, int decimals) {
        return s.count() == 0 ? "-" : fmt(nanos / 1e6, decimals);
    }

    private static String fmt(double v, int decimals) {
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    private static double round(double v, int decimals) {
        double f = Math.pow(10, decimals);
        return Math.round(v * f) / f;
    }
}
