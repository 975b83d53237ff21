package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.get;
import static dev.miij.server.http.HttpTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.engine.EngineStats;
import dev.miij.engine.StreamListener;
import dev.miij.server.EngineSample;
import dev.miij.server.GenerationService;
import dev.miij.server.PipelineService;
import dev.miij.server.grpc.EngineStatsRpc;
import dev.miij.testing.Fixtures;
import dev.miij.tokenizer.TokenizerConfig;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** GET /metrics: Prometheus text with the front end's counters and histograms and the engine's gauges. */
class MetricsTest {

    /** A sample line of the text format: name, optional labels, a number. */
    static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)"
            + "(\\{(?:[a-zA-Z_]\\w*=\"(?:[^\"\\\\\\n]|\\\\.)*\",?)*\\})? (-?[0-9.eE+-]+|\\+Inf|NaN)");

    static Pipeline pipe;
    static HttpFrontend http;

    @BeforeAll
    static void start() {
        pipe = HttpTestSupport.pipeline(Fixtures.dir("llama2"));
        http = HttpFrontend.start(new PipelineService(pipe, "tiny", "llama2"), "127.0.0.1", 0, null);
    }

    @AfterAll
    static void stop() {
        http.close();
        pipe.close();
    }

    @Test
    void countsRequestsTokensAndLatencies() throws Exception {
        assertEquals(200, post(http, "/v1/completions", "{\"prompt\": \"Hello\", \"max_tokens\": 5, \"temperature\": 0}").statusCode());
        assertEquals(200, post(http, "/v1/completions", "{\"prompt\": \"Hello\", \"max_tokens\": 7, \"temperature\": 0, "
                + "\"stream\": true}").statusCode());
        assertEquals(200, post(http, "/mii/tiny", "{\"prompts\": [\"Hello\", \"The quick brown fox\"], \"max_new_tokens\": 4, \"do_sample\": false}").statusCode());
        assertEquals(400, post(http, "/v1/completions", "{\"prompt\": 3}").statusCode());
        assertEquals(404, get(http, "/nowhere/" + "x".repeat(50)).statusCode());

        HttpResponse<String> r = get(http, "/metrics");
        assertEquals(200, r.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", r.headers().firstValue("Content-Type").orElseThrow());
        Map<String, Double> samples = parse(r.body());

        assertEquals(2.0, samples.get("mii_http_requests_total{endpoint=\"/v1/completions\",status=\"200\"}"));
        assertEquals(1.0, samples.get("mii_http_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"));
        assertEquals(1.0, samples.get("mii_http_requests_total{endpoint=\"/mii/{deployment}\",status=\"200\"}"));
        assertEquals(1.0, samples.get("mii_http_requests_total{endpoint=\"other\",status=\"404\"}"), "raw paths are not labels");

        int hello = pipe.encode("Hello").length;
        int fox = pipe.encode("The quick brown fox").length;
        assertEquals(3 * hello + fox, samples.get("mii_http_prompt_tokens_total"));
        assertEquals(5 + 7 + 4 + 4, samples.get("mii_http_generation_tokens_total"));

        // One streamed request: one time to first token, one time per output token.
        assertEquals(1.0, samples.get("mii_http_time_to_first_token_seconds_count"));
        assertEquals(1.0, samples.get("mii_http_time_per_output_token_seconds_count"));
        assertEquals(3.0, samples.get("mii_http_e2e_request_latency_seconds_count"));
        assertTrue(samples.get("mii_http_e2e_request_latency_seconds_sum") > 0);
        for (String h : new String[] {"mii_http_time_to_first_token_seconds", "mii_http_e2e_request_latency_seconds"}) {
            checkCumulative(r.body(), h);
        }

        // What the engine says about itself.
        assertEquals(0.0, samples.get("mii_kv_blocks_in_use"));
        assertTrue(samples.containsKey("mii_requests_running") && samples.containsKey("mii_prefix_cache_hits_total"));
    }

    /**
     * The official Prometheus Python client's text-format parser ({@code scripts/fetch-test-data} puts Debian's
     * package in .testdata/python) reads the whole scrape: every family typed, every sample it finds the one
     * this test's own line parser finds, with the same value, and none more or fewer.
     */
    @Test
    void theOfficialPrometheusClientParsesTheScrape() throws Exception {
        java.nio.file.Path lib = java.nio.file.Path.of("../.testdata/python").toAbsolutePath().normalize();
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isDirectory(lib.resolve("prometheus_client")),
                "no prometheus_client in " + lib + " (scripts/fetch-test-data fetches it)");
        String body;
        // A front end of its own, so that the other tests' counts stay theirs.
        try (HttpFrontend own = HttpFrontend.start(new PipelineService(pipe, "tiny", "llama2"), "127.0.0.1", 0, null)) {
            assertEquals(200, post(own, "/v1/completions", "{\"prompt\": \"Hello\", \"max_tokens\": 3, \"temperature\": 0, "
                    + "\"stream\": true}").statusCode());
            body = get(own, "/metrics").body();
        }
        java.nio.file.Path scrape = java.nio.file.Files.createTempFile("metrics", ".txt");
        java.nio.file.Files.writeString(scrape, body);
        String script = String.join("\n",
                "import json, sys",
                "from prometheus_client.parser import text_string_to_metric_families",
                "out = []",
                "for f in text_string_to_metric_families(open(sys.argv[1]).read()):",
                "    out.append({'name': f.name, 'type': f.type, 'samples': [",
                "        {'name': s.name, 'labels': s.labels, 'value': s.value} for s in f.samples]})",
                "print(json.dumps(out))");
        ProcessBuilder pb = new ProcessBuilder("python3", "-c", script, scrape.toString());
        pb.environment().put("PYTHONPATH", lib.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "the parser refused the scrape: " + err);
        java.nio.file.Files.delete(scrape);

        Map<String, Double> ours = parse(body);
        Map<String, Double> theirs = new HashMap<>();
        Map<String, String> types = new HashMap<>();
        for (var family : HttpTestSupport.JSON.readTree(out)) {
            types.put(family.get("name").asText(), family.get("type").asText());
            for (var sample : family.get("samples")) {
                StringBuilder key = new StringBuilder(sample.get("name").asText());
                var labels = sample.get("labels").properties();
                if (!labels.isEmpty()) {
                    key.append('{');
                    labels.forEach(e -> key.append(e.getKey()).append("=\"").append(e.getValue().asText()
                            .replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")).append("\","));
                    key.setCharAt(key.length() - 1, '}');
                }
                theirs.put(key.toString(), sample.get("value").asDouble());
            }
        }
        assertEquals(ours.keySet(), theirs.keySet());
        ours.forEach((k, v) -> assertEquals(v, theirs.get(k), k));
        // The parser drops a counter's _total from the family name.
        assertEquals("counter", types.get("mii_http_requests"));
        assertEquals("counter", types.get("vllm:generation_tokens"));
        assertEquals("gauge", types.get("vllm:num_requests_waiting"));
        assertEquals("histogram", types.get("vllm:time_to_first_token_seconds"));
        assertTrue(types.values().stream().noneMatch("unknown"::equals), "every family typed: " + types);
    }

    @Test
    void vllmCompatibleNamesStandBesideMiiJsOwn() throws Exception {
        try (HttpFrontend own = HttpFrontend.start(new PipelineService(pipe, "tiny", "llama2"), "127.0.0.1", 0, null)) {
            vllmNames(own);
        }
    }

    private void vllmNames(HttpFrontend http) throws Exception {
        assertEquals(200, post(http, "/v1/completions", "{\"prompt\": \"Hello\", \"max_tokens\": 3, \"temperature\": 0, "
                + "\"stream\": true}").statusCode());
        HttpResponse<String> r = get(http, "/metrics");
        Map<String, Double> samples = parse(r.body());
        String model = "{model_name=\"llama2\"}";
        for (String name : new String[] {"vllm:num_requests_running", "vllm:num_requests_waiting",
                "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:num_preemptions_total",
                "vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total", "vllm:prompt_tokens_total",
                "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds_count",
                "vllm:time_per_output_token_seconds_count", "vllm:e2e_request_latency_seconds_count"}) {
            assertTrue(samples.containsKey(name + model), name + " in " + r.body());
        }
        assertEquals(samples.get("mii_http_generation_tokens_total"), samples.get("vllm:generation_tokens_total" + model));
        assertEquals(samples.get("mii_http_time_to_first_token_seconds_count"),
                samples.get("vllm:time_to_first_token_seconds_count" + model));
        double usage = samples.get("vllm:kv_cache_usage_perc" + model);
        assertTrue(usage >= 0 && usage <= 1, "a fraction: " + usage);
        assertEquals(usage, samples.get("mii_kv_cache_usage_ratio"));
        assertTrue(samples.containsKey("mii_prefix_cache_hit_rate"));
        assertTrue(samples.containsKey("vllm:request_success_total{finished_reason=\"length\",model_name=\"llama2\"}"), r.body());
    }

    @Test
    void queueTimeIsAHistogramOfTheEnginesRequests() throws Exception {
        try (Pipeline p = HttpTestSupport.pipeline(Fixtures.dir("llama2"));
             HttpFrontend own = HttpFrontend.start(new PipelineService(p, "tiny", "llama2"), "127.0.0.1", 0, null)) {
            assertEquals(200, post(own, "/mii/tiny", "{\"prompts\": [\"Hello\", \"The quick brown fox\", \"A\"], "
                    + "\"max_new_tokens\": 3, \"do_sample\": false}").statusCode());
            assertEquals(200, post(own, "/v1/completions", "{\"prompt\": \"Hello\", \"max_tokens\": 2}").statusCode());
            String body = get(own, "/metrics").body();
            Map<String, Double> samples = parse(body);
            String name = "vllm:request_queue_time_seconds";
            String model = "{model_name=\"llama2\"}";
            assertTrue(body.contains("# TYPE " + name + " histogram"), body);
            assertEquals(4.0, samples.get(name + "_count" + model), "one per engine request: " + body);
            assertTrue(samples.get(name + "_sum" + model) > 0);
            checkCumulative(body, name, model);
        }
    }

    @Test
    void queueTimeAddsUpTheReplicasThatPublishOne() {
        Map<String, Long> first = new HashMap<>(Map.of(EngineStatsRpc.queueTimeBucketKey(0), 2L,
                EngineStatsRpc.queueTimeBucketKey(3), 1L, EngineStatsRpc.QUEUE_TIME_COUNT, 3L,
                EngineStatsRpc.QUEUE_TIME_NANOS, 500_000_000L));
        int inf = EngineStats.QUEUE_TIME_BUCKETS.length;
        Map<String, Long> second = new HashMap<>(Map.of(EngineStatsRpc.queueTimeBucketKey(0), 1L,
                EngineStatsRpc.queueTimeBucketKey(inf), 1L, EngineStatsRpc.QUEUE_TIME_COUNT, 2L,
                EngineStatsRpc.QUEUE_TIME_NANOS, 9_000_000_000_000L));
        Map<String, Long> older = Map.of("requests_running", 1L);
        List<EngineSample> replicas = List.of(new EngineSample(0, first, Map.of()), new EngineSample(1, second, Map.of()),
                new EngineSample(2, older, Map.of()), new EngineSample(3, Map.of(), Map.of()));
        Metrics metrics = new Metrics();
        metrics.register(new FixedSamples(replicas));
        StringBuilder out = new StringBuilder();
        metrics.write(out);
        String body = out.toString();
        Map<String, Double> samples = parse(body);
        String h = "vllm:request_queue_time_seconds";
        assertEquals(5.0, samples.get(h + "_count{model_name=\"m\"}"), body);
        assertEquals(9000.5, samples.get(h + "_sum{model_name=\"m\"}"), 1e-9);
        assertEquals(3.0, samples.get(h + "_bucket{model_name=\"m\",le=\"0.001\"}"), body);
        assertEquals(3.0, samples.get(h + "_bucket{model_name=\"m\",le=\"0.01\"}"), body);
        assertEquals(4.0, samples.get(h + "_bucket{model_name=\"m\",le=\"0.025\"}"), body);
        assertEquals(4.0, samples.get(h + "_bucket{model_name=\"m\",le=\"7680.0\"}"), body);
        assertEquals(5.0, samples.get(h + "_bucket{model_name=\"m\",le=\"+Inf\"}"), body);
        checkCumulative(body, h, "{model_name=\"m\"}");
    }

    /** A service whose engines say what a test wants. */
    record FixedSamples(List<EngineSample> samples) implements GenerationService {
        @Override
        public String deploymentName() {
            return "d";
        }

        @Override
        public String modelName() {
            return "m";
        }

        @Override
        public CompletableFuture<List<Response>> generate(List<String> prompts, GenerationOptions options) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Generation stream(String prompt, GenerationOptions options, StreamListener listener) {
            throw new UnsupportedOperationException();
        }

        @Override
        public TokenizerConfig tokenizerConfig() {
            throw new UnsupportedOperationException();
        }

        @Override
        public int countTokens(String text) {
            throw new UnsupportedOperationException();
        }

        @Override
        public List<EngineSample> engineSamples() {
            return samples;
        }
    }

    /** Every line is a comment or a well-formed sample; returns the samples by name and labels. */
    static Map<String, Double> parse(String body) {
        Map<String, Double> out = new HashMap<>();
        for (String line : body.split("\n")) {
            if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
                continue;
            }
            Matcher m = SAMPLE.matcher(line);
            assertTrue(m.matches(), "not a sample: " + line);
            out.put(m.group(1) + (m.group(2) == null ? "" : m.group(2)), Double.parseDouble(m.group(3).replace("+Inf", "Infinity")));
        }
        return out;
    }

    static void checkCumulative(String body, String histogram) {
        checkCumulative(body, histogram, "");
    }

    /** The buckets of one series ({@code labels}: its labels other than le, as written) never decrease, up to _count. */
    static void checkCumulative(String body, String histogram, String labels) {
        double previous = 0;
        double inf = -1;
        String prefix = histogram + "_bucket{" + (labels.isEmpty() ? "" : labels.substring(1, labels.length() - 1) + ",");
        for (String line : body.split("\n")) {
            if (line.startsWith(prefix)) {
                double v = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                assertTrue(v >= previous, "buckets are cumulative: " + line);
                previous = v;
                if (line.contains("le=\"+Inf\"")) {
                    inf = v;
                }
            }
        }
        assertEquals(parse(body).get(histogram + "_count" + labels), inf);
    }
}
