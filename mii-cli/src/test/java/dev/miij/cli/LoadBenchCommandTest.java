package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.Response;
import dev.miij.cli.GenerateCommandTest.Run;
import dev.miij.engine.EngineConfig;
import dev.miij.engine.StreamListener;
import dev.miij.server.GenerationService;
import dev.miij.server.PipelineService;
import dev.miij.server.deploy.Registry;
import dev.miij.server.deploy.RegistryEntry;
import dev.miij.server.grpc.BackendPool;
import dev.miij.server.grpc.BalancerServer;
import dev.miij.server.grpc.ReplicaRouter;
import dev.miij.server.grpc.ReplicaServer;
import dev.miij.server.http.HttpFrontend;
import dev.miij.tokenizer.TokenizerConfig;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code mii load-bench} against a deployment assembled in this process on the tiny llama2 fixture:
 * one engine behind the HTTP front end and behind a replica's gRPC server with the load balancer in
 * front of it, recorded in a registry of its own so that {@code --deployment} finds it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LoadBenchCommandTest {

    static final Path FIXTURE = GenerateCommandTest.FIXTURES.resolve("llama2").toAbsolutePath().normalize();
    static final String NAME = "lb-test";
    static final ObjectMapper JSON = new ObjectMapper();

    static Path stateDir;
    static Pipeline pipeline;
    static PipelineService service;
    static HttpFrontend http;
    static ReplicaServer replica;
    static ScheduledExecutorService timer;
    static BackendPool pool;
    static BalancerServer balancer;

    @BeforeAll
    static void deploy() throws Exception {
        stateDir = Files.createTempDirectory("mii-load-bench-test");
        System.setProperty(Registry.PROPERTY, stateDir.toString());
        pipeline = Mii.pipeline(FIXTURE.toString(), PipelineOptions.defaults().withEngine(
                EngineConfig.defaults().withNumKvBlocks(256)));
        service = new PipelineService(pipeline, NAME, "llama2-fixture");
        http = HttpFrontend.start(service, "127.0.0.1", 0, null);
        replica = ReplicaServer.start("127.0.0.1", 0, null, () -> { });
        replica.serve(service);
        timer = Executors.newScheduledThreadPool(1);
        pool = new BackendPool(List.of(new InetSocketAddress("127.0.0.1", replica.port())));
        ReplicaRouter router = new ReplicaRouter(pool, timer, 5000);
        pool.startHealthChecks(timer, 100);
        balancer = BalancerServer.start("127.0.0.1", 0, router, () -> { });
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!pool.allUp()) {
            assertTrue(System.nanoTime() < end, "the replica did not come up");
            Thread.sleep(10);
        }
        balancer.serving();
        long pid = ProcessHandle.current().pid();
        new Registry(stateDir).write(new RegistryEntry(NAME, FIXTURE.toString(), "127.0.0.1", balancer.port(), http.port(),
                pid, -1, List.of(replica.port()), List.of(pid), Instant.now().toString(), true, null));
    }

    @AfterAll
    static void undeploy() throws IOException {
        try {
            if (balancer != null) {
                balancer.stopAccepting();
                balancer.stopNow();
            }
            if (pool != null) {
                pool.close();
            }
            if (timer != null) {
                timer.shutdownNow();
            }
            if (replica != null) {
                replica.close();
            }
            if (http != null) {
                http.close(java.time.Duration.ZERO);
            }
            if (pipeline != null) {
                pipeline.close();
            }
        } finally {
            System.clearProperty(Registry.PROPERTY);
            try (var files = Files.list(stateDir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(stateDir);
        }
    }

    static JsonNode json(Run r) throws IOException {
        assertEquals(0, r.exit(), r.err());
        assertEquals(1, r.out().strip().lines().count(), "stdout must be one JSON line: " + r.out());
        return JSON.readTree(r.out());
    }

    /** Every request counted, none failed, tokens as requested, percentiles in order. */
    static void checkLevel(JsonNode level, int concurrency, int requests, int tokensPerRequest) {
        assertEquals(concurrency, level.get("concurrency").asInt());
        assertEquals(requests, level.get("requests").asInt(), level.toString());
        assertEquals(0, level.get("errors").asInt(), level.toString());
        assertEquals((long) requests * tokensPerRequest, level.get("output_tokens").asLong(), level.toString());
        checkLatency(level.get("latency_ms"), requests);
        assertTrue(level.get("requests_per_s").asDouble() > 0);
        assertTrue(level.get("output_tokens_per_s").asDouble() > 0);
        assertTrue(level.get("elapsed_s").asDouble() > 0);
    }

    static void checkLatency(JsonNode l, int count) {
        assertEquals(count, l.get("count").asInt(), l.toString());
        double[] ordered = {l.get("min").asDouble(), l.get("p50").asDouble(), l.get("p90").asDouble(),
            l.get("p99").asDouble(), l.get("max").asDouble()};
        assertTrue(ordered[0] > 0, l.toString());
        for (int i = 1; i < ordered.length; i++) {
            assertTrue(ordered[i - 1] <= ordered[i], "min <= p50 <= p90 <= p99 <= max: " + l);
        }
        assertTrue(l.get("mean").asDouble() >= ordered[0] && l.get("mean").asDouble() <= ordered[4], l.toString());
    }

    @Test
    void openAiOverUrlCountsEveryRequestAtEveryLevel() throws IOException {
        Run r = GenerateCommandTest.run("load-bench", "--url", "http://127.0.0.1:" + http.port(), "--concurrency", "1,3",
                "--requests-per-level", "7", "--max-new-tokens", "4", "--warmup", "2", "--prompt", "Hello", "--json");
        JsonNode doc = json(r);
        assertEquals("openai", doc.get("api").asText());
        assertEquals(NAME, doc.get("deployment").asText(), "found in the registry by its HTTP port");
        assertTrue(doc.get("target").asText().endsWith(":" + http.port() + "/v1/completions"), doc.toString());
        assertEquals(2, doc.get("levels").size());
        checkLevel(doc.get("levels").get(0), 1, 7, 4);
        checkLevel(doc.get("levels").get(1), 3, 7, 4);
        assertTrue(r.err().contains("p99 ms"), "the table goes to stderr with --json: " + r.err());
    }

    @Test
    void miiGatewayByDeploymentName() throws IOException {
        Run r = GenerateCommandTest.run("load-bench", "--deployment", NAME, "--api", "mii", "--concurrency", "2",
                "--requests-per-level", "6", "--max-new-tokens", "3", "--warmup", "1", "--json");
        JsonNode doc = json(r);
        assertEquals("mii", doc.get("api").asText());
        assertTrue(doc.get("target").asText().endsWith(":" + http.port() + "/mii/" + NAME), doc.toString());
        checkLevel(doc.get("levels").get(0), 2, 6, 3);
    }

    @Test
    void grpcThroughTheLoadBalancerWithATable() {
        Run r = GenerateCommandTest.run("load-bench", "--grpc", "127.0.0.1:" + balancer.port(), "--api", "grpc",
                "--concurrency", "1,4", "--requests-per-level", "8", "--max-new-tokens", "2", "--warmup", "1");
        assertEquals(0, r.exit(), r.err());
        List<String> rows = r.out().lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\s+\\d+\\s.*")).toList();
        assertEquals(2, rows.size(), r.out());
        for (String row : rows) {
            String[] f = row.strip().split("\\s+");
            assertEquals("8", f[1], row);
            assertEquals("0", f[2], row);
            double p50 = Double.parseDouble(f[6]);
            double p90 = Double.parseDouble(f[7]);
            double p99 = Double.parseDouble(f[8]);
            double max = Double.parseDouble(f[9]);
            assertTrue(p50 <= p90 && p90 <= p99 && p99 <= max, row);
        }
        assertTrue(r.out().contains("GeneratorReply 127.0.0.1:" + balancer.port()), r.out());
        assertTrue(r.out().contains("deployment " + NAME + ", 1 replica"), r.out());
    }

    @Test
    void durationModeRunsForTheTimeGiven() throws IOException {
        Run r = GenerateCommandTest.run("load-bench", "--deployment", NAME, "--api", "grpc", "--concurrency", "2",
                "--duration", "0.5", "--max-new-tokens", "2", "--warmup", "0", "--json");
        JsonNode level = json(r).get("levels").get(0);
        int requests = level.get("requests").asInt();
        assertTrue(requests > 0, level.toString());
        checkLevel(level, 2, requests, 2);
        assertTrue(level.get("elapsed_s").asDouble() >= 0.5, level.toString());
    }

    @Test
    void frontendOverheadComparesTheReplicaWithTheLoadBalancer() throws IOException {
        Run r = GenerateCommandTest.run("load-bench", "--deployment", NAME, "--frontend-overhead",
                "--requests-per-level", "20", "--warmup", "2", "--json");
        JsonNode doc = json(r);
        assertEquals("frontend_overhead", doc.get("mode").asText());
        assertEquals("127.0.0.1:" + replica.port(), doc.get("direct_target").asText(), "the replica from the registry");
        assertEquals("127.0.0.1:" + balancer.port(), doc.get("frontend_target").asText());
        assertEquals(1, doc.get("max_new_tokens").asInt());
        assertEquals(20, doc.get("requests").asInt());
        for (String which : new String[] {"direct", "frontend"}) {
            assertEquals(0, doc.get(which).get("errors").asInt());
            checkLatency(doc.get(which).get("latency_ms"), 20);
        }
        assertTrue(doc.get("added_ms").has("p50") && doc.get("added_ms").has("p99") && doc.get("added_ms").has("paired_median"));
        assertTrue(r.err().contains("added by the frontend: p50 "), r.err());
    }

    @Test
    void frontendOverheadReachesReplicasThatRequireTheirDeploymentsKey() throws Exception {
        String key = "replica-k3y";
        ReplicaServer keyed = ReplicaServer.start("127.0.0.1", 0, null, () -> { }, key);
        keyed.serve(service);
        BackendPool keyedPool = new BackendPool(List.of(new InetSocketAddress("127.0.0.1", keyed.port())), key);
        BalancerServer front = BalancerServer.start("127.0.0.1", 0, new ReplicaRouter(keyedPool, timer, 5000), () -> { });
        try {
            keyedPool.startHealthChecks(timer, 100);
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!keyedPool.allUp()) {
                assertTrue(System.nanoTime() < end, "the replica did not come up");
                Thread.sleep(10);
            }
            front.serving();
            long pid = ProcessHandle.current().pid();
            Registry registry = new Registry(stateDir);
            registry.write(new RegistryEntry("lb-keyed", FIXTURE.toString(), "127.0.0.1", front.port(), null, pid, -1,
                    List.of(keyed.port()), List.of(pid), Instant.now().toString(), true, null));
            registry.writeReplicaKey("lb-keyed", key);
            Run r = GenerateCommandTest.run("load-bench", "--deployment", "lb-keyed", "--frontend-overhead",
                    "--requests-per-level", "5", "--warmup", "1", "--json");
            JsonNode doc = json(r);
            assertEquals(0, doc.get("direct").get("errors").asInt(), doc.toString());
            assertEquals(0, doc.get("frontend").get("errors").asInt(), doc.toString());
            registry.remove("lb-keyed", pid);
        } finally {
            front.stopAccepting();
            front.stopNow();
            keyedPool.close();
            keyed.close();
        }
    }

    @Test
    void streamedRequestsPassTheCheckOverEveryApi() throws IOException {
        for (String api : new String[] {"openai", "mii", "grpc"}) {
            Run r = GenerateCommandTest.run("load-bench", "--deployment", NAME, "--api", api, "--stream", "--concurrency",
                    "3", "--requests-per-level", "6", "--max-new-tokens", "5", "--warmup", "1", "--check", "any", "--json");
            JsonNode doc = json(r);
            assertTrue(doc.get("stream").asBoolean());
            assertTrue(doc.get("check_passed").asBoolean(), doc.toString());
            assertTrue(doc.get("target").asText().contains(api.equals("grpc") ? "GeneratorReplyStream" : "(streamed)"),
                    doc.toString());
            JsonNode level = doc.get("levels").get(0);
            checkLevel(level, 3, 6, 5);
            assertEquals(0, level.get("errors_before_output").asInt());
            // Every stream's time to first text and time per token after it; the first text comes before the end.
            checkLatency(level.get("ttft_ms"), 6);
            checkLatency(level.get("tpot_ms"), 6);
            assertTrue(level.get("ttft_ms").get("max").asDouble() <= level.get("latency_ms").get("max").asDouble(),
                    level.toString());
            assertTrue(level.get("ttft_ms").get("min").asDouble() <= level.get("latency_ms").get("min").asDouble(),
                    level.toString());
            assertTrue(r.err().contains("check passed (any)"), r.err());
        }
    }

    /**
     * A stand-in OpenAI server whose streams are broken: each sends one text chunk and ends without
     * {@code [DONE]} ({@code withText}), or ends before any text.
     */
    static com.sun.net.httpserver.HttpServer brokenStreams(boolean withText) throws IOException {
        var server = com.sun.net.httpserver.HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v1/completions", x -> {
            x.getRequestBody().readAllBytes();
            x.getResponseHeaders().add("Content-Type", "text/event-stream");
            x.sendResponseHeaders(200, 0);
            try (var out = x.getResponseBody()) {
                if (withText) {
                    out.write("data: {\"choices\":[{\"index\":0,\"text\":\"a\",\"finish_reason\":null}]}\n\n"
                            .getBytes(java.nio.charset.StandardCharsets.UTF_8));
                }
            }
        });
        server.start();
        return server;
    }

    @Test
    void aStreamWithoutDoneFailsTheCheckAndSaysWhetherOutputHadBegun() throws IOException {
        var afterText = brokenStreams(true);
        var beforeText = brokenStreams(false);
        try {
            String[] common = {"--api", "openai", "--name", "x", "--stream", "--concurrency", "2", "--requests-per-level",
                "4", "--max-new-tokens", "3", "--warmup", "0", "--json"};
            Run any = GenerateCommandTest.run(concat(new String[] {"load-bench", "--url", "http://127.0.0.1:"
                    + afterText.getAddress().getPort(), "--check", "any"}, common));
            assertEquals(1, any.exit(), any.err());
            JsonNode level = JSON.readTree(any.out()).get("levels").get(0);
            assertEquals(4, level.get("errors").asInt(), level.toString());
            assertEquals(4, level.get("errors_after_output").asInt(), level.toString());
            assertEquals(4, level.get("error_kinds").get("stream ended without [DONE]").asInt(), level.toString());
            assertTrue(any.err().contains("check failed: 4 requests failed (0 before any output)"), any.err());

            Run unstarted = GenerateCommandTest.run(concat(new String[] {"load-bench", "--url", "http://127.0.0.1:"
                    + afterText.getAddress().getPort(), "--check", "unstarted"}, common));
            assertEquals(0, unstarted.exit(), "streams that had begun may fail under 'unstarted': " + unstarted.err());

            Run none = GenerateCommandTest.run(concat(new String[] {"load-bench", "--url", "http://127.0.0.1:"
                    + beforeText.getAddress().getPort(), "--check", "unstarted"}, common));
            assertEquals(1, none.exit(), none.err());
            assertEquals(4, JSON.readTree(none.out()).get("levels").get(0).get("errors_before_output").asInt());
            assertTrue(none.err().contains("check failed: 4 requests failed before any output arrived"), none.err());
        } finally {
            afterText.stop(0);
            beforeText.stop(0);
        }
    }

    static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Fails every third generation, for checking that errors are counted and the bench goes on. */
    record EveryThirdFails(GenerationService delegate, AtomicInteger calls) implements GenerationService {
        @Override
        public String deploymentName() {
            return delegate.deploymentName();
        }

        @Override
        public String modelName() {
            return delegate.modelName();
        }

        @Override
        public CompletableFuture<List<Response>> generate(List<String> prompts, GenerationOptions options) {
            if (calls.incrementAndGet() % 3 == 0) {
                return CompletableFuture.failedFuture(MiiException.invalid("injected failure"));
            }
            return delegate.generate(prompts, options);
        }

        @Override
        public Generation stream(String prompt, GenerationOptions options, StreamListener listener) {
            return delegate.stream(prompt, options, listener);
        }

        @Override
        public TokenizerConfig tokenizerConfig() {
            return delegate.tokenizerConfig();
        }

        @Override
        public int countTokens(String text) {
            return delegate.countTokens(text);
        }

        @Override
        public List<dev.miij.server.EngineSample> engineSamples() {
            return delegate.engineSamples();
        }
    }

    @Test
    void failedRequestsAreCountedNotFatal() throws IOException {
        AtomicInteger calls = new AtomicInteger();
        try (HttpFrontend flaky = HttpFrontend.start(new EveryThirdFails(service, calls), "127.0.0.1", 0, null)) {
            Run r = GenerateCommandTest.run("load-bench", "--url", "http://127.0.0.1:" + flaky.port(), "--api", "mii",
                    "--name", NAME, "--concurrency", "3", "--requests-per-level", "9", "--max-new-tokens", "2",
                    "--warmup", "0", "--json");
            JsonNode level = json(r).get("levels").get(0);
            assertEquals(9, calls.get());
            assertEquals(9, level.get("requests").asInt(), level.toString());
            assertEquals(3, level.get("errors").asInt(), level.toString());
            assertEquals(12, level.get("output_tokens").asLong(), "two tokens for each of the six answered");
            checkLatency(level.get("latency_ms"), 6);
            assertEquals(3, level.get("error_kinds").get("HTTP 400: injected failure").asInt(), level.toString());
            assertTrue(r.err().contains("concurrency 3: 3 requests failed"), r.err());
        }
    }

    @Test
    void aDeploymentThatIsNotThereIsAllErrors() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Run r = GenerateCommandTest.run("load-bench", "--url", "http://127.0.0.1:" + port, "--concurrency", "1,2",
                "--requests-per-level", "4", "--warmup", "1", "--timeout", "5", "--json");
        JsonNode doc = json(r);
        for (JsonNode level : doc.get("levels")) {
            assertEquals(4, level.get("requests").asInt());
            assertEquals(4, level.get("errors").asInt());
            assertEquals(0, level.get("latency_ms").get("count").asInt());
            assertEquals(0.0, level.get("requests_per_s").asDouble());
            assertTrue(level.get("error_kinds").has("cannot connect"), level.toString());
        }
        assertTrue(r.err().contains("warning: 1 of 1 warm-up requests"), r.err());
    }

    @Test
    void badUsageIsOneClearLine() {
        Run zero = GenerateCommandTest.run("load-bench", "--deployment", NAME, "--concurrency", "1,0");
        assertEquals(2, zero.exit());
        assertTrue(zero.err().contains("--concurrency levels must be at least 1"), zero.err());

        Run both = GenerateCommandTest.run("load-bench", "--url", "http://127.0.0.1:1", "--grpc", "127.0.0.1:2");
        assertEquals(2, both.exit());

        Run none = GenerateCommandTest.run("load-bench", "--concurrency", "1");
        assertEquals(2, none.exit());

        Run badGrpc = GenerateCommandTest.run("load-bench", "--grpc", "nonsense");
        assertEquals(2, badGrpc.exit());
        assertTrue(badGrpc.err().contains("HOST:PORT"), badGrpc.err());

        Run noName = GenerateCommandTest.run("load-bench", "--url", "http://127.0.0.1:1", "--api", "mii");
        assertEquals(1, noName.exit());
        assertTrue(noName.err().contains("--name"), noName.err());
        assertFalse(noName.err().contains("\tat "), noName.err());

        Run unknown = GenerateCommandTest.run("load-bench", "--deployment", "no-such-deployment");
        assertEquals(1, unknown.exit());
        assertTrue(unknown.err().contains("no deployment named 'no-such-deployment'"), unknown.err());

        Run overheadOverHttp = GenerateCommandTest.run("load-bench", "--deployment", NAME, "--frontend-overhead", "--api", "openai");
        assertEquals(2, overheadOverHttp.exit());

        Run unstartedUnary = GenerateCommandTest.run("load-bench", "--deployment", NAME, "--check", "unstarted");
        assertEquals(2, unstartedUnary.exit());
        assertTrue(unstartedUnary.err().contains("--check unstarted needs --stream"), unstartedUnary.err());

        Run badCheck = GenerateCommandTest.run("load-bench", "--deployment", NAME, "--check", "some");
        assertEquals(2, badCheck.exit());
        assertTrue(badCheck.err().contains("expected any or unstarted"), badCheck.err());
    }
}
