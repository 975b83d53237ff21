package dev.miij.server.http;

import dev.miij.Response;
import dev.miij.server.EngineSample;
import dev.miij.server.GenerationService;
import dev.miij.server.grpc.EngineStatsRpc;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import dev.miij.engine.EngineStats;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The metrics of a deployment's front end, kept in one Prometheus client registry per process and written
 * by the client library's text-format writer on {@code GET /metrics}.
 *
 * <p>MII-J's own names ({@code mii_*}) stand beside vLLM-compatible ones ({@code vllm:*}), so that
 * dashboards and autoscalers written for vLLM work unchanged:
 * <ul>
 *   <li>front end: {@code mii_http_requests_total{endpoint,status}}, prompt and generated tokens
 *       ({@code vllm:prompt_tokens_total}, {@code vllm:generation_tokens_total}), finished requests by
 *       reason ({@code vllm:request_success_total}), time to first token, time per output token and
 *       end-to-end latency histograms ({@code mii_http_*_seconds} and {@code vllm:*_seconds});
 *   <li>engines, read from the service at scrape time (per replica behind a load balancer, labelled
 *       {@code replica}): requests running and waiting, KV blocks, KV usage fraction, prefix-cache hits,
 *       misses and hit rate, preemptions, steps, tokens; and the balancer's view of each replica. The
 *       vLLM names ({@code vllm:num_requests_running}, {@code vllm:num_requests_waiting},
 *       {@code vllm:kv_cache_usage_perc}, {@code vllm:gpu_cache_usage_perc},
 *       {@code vllm:num_preemptions_total}, {@code vllm:prefix_cache_hits_total},
 *       {@code vllm:prefix_cache_queries_total}, and the histogram {@code vllm:request_queue_time_seconds}
 *       of the time requests waited in an engine before their first step) aggregate every replica of the
 *       deployment.
 * </ul>
 */
public final class Metrics {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Metrics.class);

    private static final double[] TTFT = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5,
            5, 7.5, 10, 20, 40, 80};
    private static final double[] TPOT = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
            0.3, 0.4, 0.5, 0.75, 1, 2.5, 5};
    private static final double[] E2E = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120,
            240, 480, 960};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final AtomicBoolean serviceRegistered = new AtomicBoolean();
    private final Counter requests;
    private final Counter promptTokens;
    private final Counter generationTokens;
    private final Counter vllmPromptTokens;
    private final Counter vllmGenerationTokens;
    private final Counter vllmSuccess;
    private final Histogram ttft;
    private final Histogram tpot;
    private final Histogram e2e;
    private final Histogram vllmTtft;
    private final Histogram vllmTpot;
    private final Histogram vllmE2e;
    private volatile String modelName = "";

    public Metrics() {
        requests = Counter.builder().name("mii_http_requests_total").help("HTTP requests by endpoint and status code")
                .labelNames("endpoint", "status").register(registry);
        promptTokens = counter("mii_http_prompt_tokens_total", "Prompt tokens of finished generation requests");
        generationTokens = counter("mii_http_generation_tokens_total", "Tokens generated for HTTP requests");
        vllmPromptTokens = Counter.builder().name("vllm:prompt_tokens_total").help("Number of prefill tokens processed.")
                .labelNames("model_name").register(registry);
        vllmGenerationTokens = Counter.builder().name("vllm:generation_tokens_total")
                .help("Number of generation tokens processed.").labelNames("model_name").register(registry);
        vllmSuccess = Counter.builder().name("vllm:request_success_total").help("Count of successfully processed requests.")
                .labelNames("model_name", "finished_reason").register(registry);
        ttft = histogram("mii_http_time_to_first_token_seconds",
                "Time from a streamed request's arrival to its first generated token", TTFT, false);
        tpot = histogram("mii_http_time_per_output_token_seconds",
                "Mean time between generated tokens of a streamed request, after the first", TPOT, false);
        e2e = histogram("mii_http_e2e_request_latency_seconds",
                "Time from a generation request's arrival to its last token", E2E, false);
        vllmTtft = histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT, true);
        vllmTpot = histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", TPOT, true);
        vllmE2e = histogram("vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", E2E, true);
    }

    private Counter counter(String name, String help) {
        return Counter.builder().name(name).help(help).register(registry);
    }

    private Histogram histogram(String name, String help, double[] buckets, boolean model) {
        Histogram.Builder b = Histogram.builder().name(name).help(help).classicOnly().classicUpperBounds(buckets);
        if (model) {
            b.labelNames("model_name");
        }
        return b.register(registry);
    }

    /** The registry behind {@code /metrics}, for callers that add their own metrics. */
    public PrometheusRegistry registry() {
        return registry;
    }

    /**
     * Publishes the engine numbers of {@code service}, read at every scrape. Only the first service
     * registered is published; a registry belongs to one deployment.
     */
    public void register(GenerationService service) {
        if (serviceRegistered.compareAndSet(false, true)) {
            modelName = service.modelName();
            registry.register(new EngineCollector(service));
        }
    }

    void request(String endpoint, int status) {
        requests.labelValues(endpoint, Integer.toString(status)).inc();
    }

    /** Counts the tokens of a finished generation (cancelled ones too: their work was done). */
    void tokens(Response r) {
        promptTokens.inc(r.promptLength());
        generationTokens.inc(r.generatedLength());
        vllmPromptTokens.labelValues(modelName).inc(r.promptLength());
        vllmGenerationTokens.labelValues(modelName).inc(r.generatedLength());
        vllmSuccess.labelValues(modelName, OpenAiJson.finishReason(r) == null ? "abort" : OpenAiJson.finishReason(r)).inc();
    }

    void timeToFirstToken(long nanos) {
        ttft.observe(nanos / 1e9);
        vllmTtft.labelValues(modelName).observe(nanos / 1e9);
    }

    void timePerOutputToken(long nanos) {
        tpot.observe(nanos / 1e9);
        vllmTpot.labelValues(modelName).observe(nanos / 1e9);
    }

    void e2eLatency(long nanos) {
        e2e.observe(nanos / 1e9);
        vllmE2e.labelValues(modelName).observe(nanos / 1e9);
    }

    /** The content type of {@link #write}'s output. */
    static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    /** Appends every metric of the registry in Prometheus' text exposition format (version 0.0.4). */
    public void write(StringBuilder out) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(16384);
        try {
            PrometheusTextFormatWriter.create().write(bytes, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.append(bytes.toString(StandardCharsets.UTF_8));
    }

    /** Reads the engines' numbers when scraped; a service that cannot answer leaves them out. */
    private final class EngineCollector implements MultiCollector {

        private final GenerationService service;

        EngineCollector(GenerationService service) {
            this.service = service;
        }

        @Override
        public MetricSnapshots collect() {
            List<EngineSample> samples;
            try {
                samples = service.engineSamples();
            } catch (RuntimeException e) {
                // The front end's own samples are still worth scraping when the engines cannot be asked.
                LOG.warn("engine metrics unavailable", e);
                return MetricSnapshots.of();
            }
            List<MetricSnapshot> out = new ArrayList<>();
            for (EngineStatsRpc.Metric m : EngineStatsRpc.METRICS) {
                perReplica(out, m.name(), m.help(), m.counter(), samples, s -> s.engine().get(m.key()));
            }
            perReplica(out, "mii_kv_cache_usage_ratio", "Fraction of the KV cache's blocks in use", false, samples,
                    s -> ratio(s.engine().get("kv_blocks_in_use"), s.engine().get("kv_blocks_total")));
            perReplica(out, "mii_prefix_cache_hit_rate", "Prefix-cache hits over lookups since the engine started",
                    false, samples, s -> ratio(s.engine().get("prefix_hits"),
                            sum(s.engine().get("prefix_hits"), s.engine().get("prefix_misses"))));
            perReplica(out, "mii_replica_up", "Whether the replica passes health checks", false, samples,
                    s -> s.balancer().get("up"));
            perReplica(out, "mii_replica_outstanding_prompts", "Prompts sent to the replica and not answered yet",
                    false, samples, s -> s.balancer().get("outstanding"));
            perReplica(out, "mii_replica_restarts_total", "Times the replica's process was restarted", true, samples,
                    s -> s.balancer().get("restarts"));
            List<EngineSample> answering = samples.stream().filter(s -> !s.engine().isEmpty()).toList();
            if (!answering.isEmpty()) {
                double running = total(answering, "requests_running");
                double waiting = total(answering, "requests_waiting");
                Double usage = ratio(total(answering, "kv_blocks_in_use"), total(answering, "kv_blocks_total"));
                double hits = total(answering, "prefix_hits");
                double queries = hits + total(answering, "prefix_misses");
                out.add(gauge("vllm:num_requests_running", "Number of requests in model execution batches.", running));
                out.add(gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", waiting));
                if (usage != null) {
                    out.add(gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", usage));
                    out.add(gauge("vllm:gpu_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", usage));
                }
                out.add(counter("vllm:num_preemptions", "Cumulative number of preemptions from the engine.",
                        total(answering, "preemptions")));
                out.add(counter("vllm:prefix_cache_hits", "Prefix cache hits, in blocks.", hits));
                out.add(counter("vllm:prefix_cache_queries", "Prefix cache queries, in blocks.", queries));
                HistogramSnapshot queueTime = queueTime(answering);
                if (queueTime != null) {
                    out.add(queueTime);
                }
            }
            return new MetricSnapshots(out);
        }

        private void perReplica(List<MetricSnapshot> out, String name, String help, boolean counter,
                                List<EngineSample> samples, java.util.function.Function<EngineSample, Number> value) {
            String base = counter && name.endsWith("_total") ? name.substring(0, name.length() - 6) : name;
            if (counter) {
                CounterSnapshot.Builder b = CounterSnapshot.builder().name(base).help(help);
                int n = 0;
                for (EngineSample s : samples) {
                    Number v = value.apply(s);
                    if (v != null) {
                        b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels(s))
                                .value(v.doubleValue()).build());
                        n++;
                    }
                }
                if (n > 0) {
                    out.add(b.build());
                }
            } else {
                GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(base).help(help);
                int n = 0;
                for (EngineSample s : samples) {
                    Number v = value.apply(s);
                    if (v != null) {
                        b.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels(s))
                                .value(v.doubleValue()).build());
                        n++;
                    }
                }
                if (n > 0) {
                    out.add(b.build());
                }
            }
        }

        private Labels labels(EngineSample s) {
            return s.replica() < 0 ? Labels.EMPTY : Labels.of("replica", Integer.toString(s.replica()));
        }

        /**
         * {@code vllm:request_queue_time_seconds}: the engines' queue-time histograms (submission to first
         * step) added up over the replicas that publish one; null when none does.
         */
        private HistogramSnapshot queueTime(List<EngineSample> samples) {
            double[] bounds = java.util.Arrays.copyOf(EngineStats.QUEUE_TIME_BUCKETS, EngineStats.QUEUE_TIME_BUCKETS.length + 1);
            bounds[bounds.length - 1] = Double.POSITIVE_INFINITY;
            long[] counts = new long[bounds.length];
            long nanos = 0;
            int publishing = 0;
            for (EngineSample s : samples) {
                Map<String, Long> e = s.engine();
                if (!e.containsKey(EngineStatsRpc.QUEUE_TIME_COUNT)) {
                    continue;
                }
                publishing++;
                for (int i = 0; i < counts.length; i++) {
                    counts[i] += e.getOrDefault(EngineStatsRpc.queueTimeBucketKey(i), 0L);
                }
                nanos += e.getOrDefault(EngineStatsRpc.QUEUE_TIME_NANOS, 0L);
            }
            if (publishing == 0) {
                return null;
            }
            return HistogramSnapshot.builder().name("vllm:request_queue_time_seconds")
                    .help("Histogram of time spent in WAITING phase for request.")
                    .dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
                            .classicHistogramBuckets(ClassicHistogramBuckets.of(bounds, counts))
                            .sum(nanos / 1e9).labels(Labels.of("model_name", modelName)).build())
                    .build();
        }

        private GaugeSnapshot gauge(String name, String help, double v) {
            return GaugeSnapshot.builder().name(name).help(help).dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                    .labels(Labels.of("model_name", modelName)).value(v).build()).build();
        }

        private CounterSnapshot counter(String name, String help, double v) {
            return CounterSnapshot.builder().name(name).help(help).dataPoint(CounterSnapshot.CounterDataPointSnapshot
                    .builder().labels(Labels.of("model_name", modelName)).value(v).build()).build();
        }
    }

    private static double total(List<EngineSample> samples, String key) {
        double t = 0;
        for (EngineSample s : samples) {
            Long v = s.engine().get(key);
            t += v == null ? 0 : v;
        }
        return t;
    }

    private static Long sum(Long a, Long b) {
        return a == null || b == null ? null : a + b;
    }

    private static Double ratio(Number part, Number whole) {
        if (part == null || whole == null || whole.doubleValue() <= 0) {
            return part == null || whole == null ? null : 0.0;
        }
        return part.doubleValue() / whole.doubleValue();
    }

    /** Escapes a label value as the exposition format requires. */
    static String label(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
