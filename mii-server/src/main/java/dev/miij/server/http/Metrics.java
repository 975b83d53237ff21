package dev.miij.server.http;

import dev.miij.Response;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the HTTP front end counts, written in Prometheus' text format by {@code GET /metrics}: requests
 * by endpoint and status, prompt and generated tokens, and latency histograms (time to first token and
 * per output token for streamed requests, end-to-end latency for all generation requests). One instance
 * may be shared by several front ends of a deployment.
 *
 * <pre>{@code
 * Metrics metrics = new Metrics();
 * HttpFrontend http = HttpFrontend.start(service, "127.0.0.1", 8000, null, metrics);
 * StringBuilder sb = new StringBuilder();
 * metrics.write(sb);   // what /metrics shows, less the engine's own samples
 * }</pre>
 */
public final class Metrics {

    /** Keys are {@code endpoint + '\0' + status}: label values never contain NUL. */
    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder generationTokens = new LongAdder();
    private final Histogram timeToFirstToken = new Histogram("mii_http_time_to_first_token_seconds",
            "Time from a streamed request's arrival to its first generated token",
            0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80);
    private final Histogram timePerOutputToken = new Histogram("mii_http_time_per_output_token_seconds",
            "Mean time between generated tokens of a streamed request, after the first",
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5);
    private final Histogram e2eLatency = new Histogram("mii_http_e2e_request_latency_seconds",
            "Time from a generation request's arrival to its last token",
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 240, 480, 960);

    public Metrics() {
    }

    void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + '\0' + status, k -> new LongAdder()).increment();
    }

    /** Counts the tokens of a finished generation (cancelled ones too: their work was done). */
    void tokens(Response r) {
        promptTokens.add(r.promptLength());
        generationTokens.add(r.generatedLength());
    }

    void timeToFirstToken(long nanos) {
        timeToFirstToken.observe(nanos / 1e9);
    }

    void timePerOutputToken(long nanos) {
        timePerOutputToken.observe(nanos / 1e9);
    }

    void e2eLatency(long nanos) {
        e2eLatency.observe(nanos / 1e9);
    }

    /** Appends this front end's samples in Prometheus' text exposition format (version 0.0.4). */
    public void write(StringBuilder out) {
        out.append("# HELP mii_http_requests_total HTTP requests by endpoint and status code\n");
        out.append("# TYPE mii_http_requests_total counter\n");
        // Sorted so that scrapes are stable and diffable.
        for (Map.Entry<String, LongAdder> e : new TreeMap<>(requests).entrySet()) {
            String[] parts = e.getKey().split("\0", 2);
            out.append("mii_http_requests_total{endpoint=\"").append(label(parts[0])).append("\",status=\"")
                    .append(parts[1]).append("\"} ").append(e.getValue().sum()).append('\n');
        }
        counter(out, "mii_http_prompt_tokens_total", "Prompt tokens of finished generation requests",
                promptTokens.sum());
        counter(out, "mii_http_generation_tokens_total", "Tokens generated for HTTP requests",
                generationTokens.sum());
        timeToFirstToken.write(out);
        timePerOutputToken.write(out);
        e2eLatency.write(out);
    }

    private static void counter(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n");
        out.append(name).append(' ').append(value).append('\n');
    }

    /** Escapes a label value as the exposition format requires. */
    static String label(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** Numbers as Prometheus reads them; integral values without a trailing ".0". */
    static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
