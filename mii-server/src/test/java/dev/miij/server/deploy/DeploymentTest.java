package dev.miij.server.deploy;

import java.util.Arrays;
import dev.miij.testing.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.Client;
import dev.miij.DeploymentOptions;
import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.Response;
import dev.miij.engine.EngineConfig;
import dev.miij.server.grpc.EngineStatsRpc;
import dev.miij.server.grpc.WireKwargs;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * A real deployment: {@code Mii.serve} starts a detached front end process with two replica processes
 * on a tiny fixture model; the test drives it over sockets with a plain grpc-java client on MII's proto,
 * kills a replica under load, and terminates it. Every process it started is killed afterwards, whatever happened.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DeploymentTest {

    static final int NEW_TOKENS = 24;

    static Path stateDir;
    static String name;
    static Client client;
    static RegistryEntry entry;
    static ManagedChannel channel;
    static ModelResponseGrpc.ModelResponseBlockingStub stub;
    static Map<String, String> expected;
    static final Set<Long> pids = Collections.synchronizedSet(new LinkedHashSet<>());

    static GenerationOptions greedy() {
        return GenerationOptions.builder().maxNewTokens(NEW_TOKENS).doSample(false).ignoreEos(true).build();
    }

    static EngineConfig engine() {
        return EngineConfig.defaults().withKvBlockSize(16).withNumKvBlocks(256);
    }

    @BeforeAll
    static void serve() throws Exception {
        List<Fixtures.Case> cases = Fixtures.cases("llama2");
        List<String> prompts = cases.stream().map(Fixtures.Case::prompt).toList();
        expected = new java.util.LinkedHashMap<>();
        try (Pipeline p = Mii.pipeline(Fixtures.dir("llama2").toString(), PipelineOptions.defaults().withEngine(engine()))) {
            List<Response> rs = p.generate(prompts, greedy());
            for (int i = 0; i < prompts.size(); i++) {
                List<Integer> reference = Arrays.stream(cases.get(i).greedyIds()).boxed().toList();
                assertEquals(reference.subList(0, NEW_TOKENS), rs.get(i).tokenIds(), "the pipeline matches transformers");
                expected.put(prompts.get(i), rs.get(i).generatedText());
            }
        }
        stateDir = Files.createTempDirectory("mii-state");
        System.setProperty(Registry.PROPERTY, stateDir.toString());
        // If this JVM dies before cleaning up, the deployment stops itself.
        System.setProperty(Deployment.WATCH_PID, String.valueOf(ProcessHandle.current().pid()));
        name = "it-" + ProcessHandle.current().pid();
        try {
            client = Mii.serve(Fixtures.dir("llama2").toString(), DeploymentOptions.defaults().withDeploymentName(name)
                    .withReplicaNum(2).withPortNumber(0).withRestfulApi(true, "127.0.0.1", 0).withEngine(engine()));
        } finally {
            new Registry(stateDir).find(name).ifPresent(DeploymentTest::remember);
        }
        entry = new Registry(stateDir).find(name).orElseThrow();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", entry.port()).usePlaintext().build();
        stub = ModelResponseGrpc.newBlockingStub(channel);
    }

    static void remember(RegistryEntry e) {
        pids.add(e.pid());
        e.replicaPids().stream().filter(p -> p > 0).forEach(pids::add);
    }

    @AfterAll
    static void cleanUp() throws Exception {
        try {
            if (channel != null) {
                channel.shutdownNow();
            }
            if (client != null) {
                client.close();
            }
            if (stateDir != null) {
                new Registry(stateDir).find(name).ifPresent(DeploymentTest::remember);
            }
            for (long pid : pids) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
        } finally {
            System.clearProperty(Registry.PROPERTY);
            System.clearProperty(Deployment.WATCH_PID);
            if (stateDir != null) {
                try (var files = Files.list(stateDir)) {
                    for (Path f : files.toList()) {
                        Files.deleteIfExists(f);
                    }
                }
                Files.deleteIfExists(stateDir);
            }
        }
    }

    static String log() {
        try {
            return Files.readString(stateDir.resolve(name + ".log"));
        } catch (Exception e) {
            return "(no log: " + e + ")";
        }
    }

    static MultiStringRequest request(List<String> prompts) {
        return MultiStringRequest.newBuilder().addAllRequest(prompts).putAllQueryKwargs(WireKwargs.of(greedy())).build();
    }

    static String streamed(ModelResponseGrpc.ModelResponseBlockingStub s, String prompt) {
        StringBuilder b = new StringBuilder();
        s.generatorReplyStream(request(List.of(prompt))).forEachRemaining(r -> b.append(r.getResponse(0).getResponse()));
        return b.toString();
    }

    static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    @Test
    @Order(1)
    void theRegistryDescribesTheRunningProcesses() {
        assertTrue(entry.ready());
        assertEquals(2, entry.replicas());
        assertTrue(entry.restfulApiPort() != null && entry.restfulApiPort() > 0, "the HTTP port actually bound");
        assertTrue(alive(entry.pid()));
        entry.replicaPids().forEach(p -> assertTrue(alive(p), "replica pid " + p));
        assertEquals(List.of(name), new Registry(stateDir).list().stream().map(RegistryEntry::name).toList());
    }

    @Test
    @Order(2)
    void greedyAnswersOverGrpcEqualThePipelines() {
        List<String> prompts = new ArrayList<>(expected.keySet());
        MultiGenerationReply reply = stub.generatorReply(request(prompts));
        for (int i = 0; i < prompts.size(); i++) {
            assertEquals(expected.get(prompts.get(i)), reply.getResponse(i).getResponse(), log());
            assertEquals(NEW_TOKENS, reply.getResponse(i).getGeneratedTokens());
            assertEquals("length", reply.getResponse(i).getFinishReason());
        }
    }

    @Test
    @Order(3)
    void streamedPiecesConcatenateToTheFullText() {
        for (String p : expected.keySet()) {
            assertEquals(expected.get(p), streamed(stub, p));
        }
    }

    @Test
    @Order(4)
    void thirtyTwoConcurrentRequestsAllSucceedWithTheSameAnswers() throws Exception {
        List<String> prompts = new ArrayList<>(expected.keySet());
        var async = ModelResponseGrpc.newFutureStub(channel);
        List<String> asked = new ArrayList<>();
        List<com.google.common.util.concurrent.ListenableFuture<MultiGenerationReply>> calls = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            String p = prompts.get(i % prompts.size());
            asked.add(p);
            calls.add(async.generatorReply(request(List.of(p))));
        }
        for (int i = 0; i < 32; i++) {
            assertEquals(expected.get(asked.get(i)), calls.get(i).get(30, TimeUnit.SECONDS).getResponse(0).getResponse());
        }
        for (int port : entry.replicaPorts()) {
            ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
            try {
                assertTrue(EngineStatsRpc.read(ch, 2000).get("tokens_generated") > 0, "both replicas served requests");
            } finally {
                ch.shutdownNow();
            }
        }
    }

    @Test
    @Order(5)
    void badInputIsInvalidArgumentNamingTheField() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.generatorReply(
                MultiStringRequest.newBuilder().addRequest("x").putQueryKwargs("top_k", WireKwargs.value("lots")).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("top_k"), e.getStatus().getDescription());
        e = assertThrows(StatusRuntimeException.class, () -> stub.generatorReply(MultiStringRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals(expected.get("Hello"), stub.generatorReply(request(List.of("Hello"))).getResponse(0).getResponse());
    }

    @Test
    @Order(6)
    void miiClientFindsTheDeploymentByName() throws Exception {
        try (Client c = Mii.client(name)) {
            assertEquals(expected.get("Hello"), c.generate(List.of("Hello"), greedy()).getFirst().generatedText());
            StringBuilder pieces = new StringBuilder();
            Response r = c.stream("Hello", greedy(), (text, ids) -> pieces.append(text)).result().get(30, TimeUnit.SECONDS);
            assertEquals(expected.get("Hello"), pieces.toString());
            assertEquals(expected.get("Hello"), r.generatedText());
            assertEquals(NEW_TOKENS, r.generatedLength());
            assertEquals(Response.FinishReason.LENGTH, r.finishReason());
            assertEquals(expected.get("Hello"), collect(c.streamPublisher("Hello", greedy())).get(30, TimeUnit.SECONDS));
            MiiException bad = assertThrows(MiiException.class, () -> c.generate(List.of(), greedy()));
            assertEquals(MiiException.Kind.INVALID_ARGUMENT, bad.kind());
        }
        MiiException missing = assertThrows(MiiException.class, () -> Mii.client("no-such-deployment"));
        assertEquals(MiiException.Kind.NOT_FOUND, missing.kind());
        MiiException twice = assertThrows(MiiException.class, () -> Mii.serve(Fixtures.dir("llama2").toString(),
                DeploymentOptions.defaults().withDeploymentName(name).withPortNumber(0)));
        assertTrue(twice.getMessage().contains("already running"), twice.getMessage());
    }

    /** Subscribes asking one piece at a time (exercising flow control) and joins the pieces. */
    static CompletableFuture<String> collect(Flow.Publisher<String> publisher) {
        CompletableFuture<String> done = new CompletableFuture<>();
        publisher.subscribe(new Flow.Subscriber<>() {
            final StringBuilder b = new StringBuilder();
            Flow.Subscription s;

            @Override
            public void onSubscribe(Flow.Subscription subscription) {
                s = subscription;
                s.request(1);
            }

            @Override
            public void onNext(String item) {
                b.append(item);
                s.request(1);
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                done.complete(b.toString());
            }
        });
        return done;
    }

    /** One request of the load: when it was sent, and how it ended. */
    static HttpResponse<String> http(String method, String path, String body) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + entry.restfulApiPort() + path))
                .timeout(java.time.Duration.ofSeconds(30));
        r = body == null ? r.GET() : r.method(method, HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        try (HttpClient c = HttpClient.newHttpClient()) {
            return c.send(r.build(), HttpResponse.BodyHandlers.ofString());
        }
    }

    @Test
    @Order(7)
    void theHttpFrontEndServesThroughTheReplicas() throws Exception {
        assertEquals(200, http("GET", "/healthz", null).statusCode());
        HttpResponse<String> rest = http("POST", "/mii/" + name,
                "{\"prompts\": [\"Hello\"], \"max_new_tokens\": 24, \"do_sample\": false, \"ignore_eos\": true}");
        assertEquals(200, rest.statusCode(), rest.body());
        JsonNode answer = new com.fasterxml.jackson.databind.ObjectMapper().readTree(rest.body());
        assertEquals(expected.get("Hello"), answer.get(0).get("generated_text").asText());
        String metrics = http("GET", "/metrics", null).body();
        assertTrue(metrics.contains("mii_replica_up{replica=\"0\"} 1"), metrics);
        assertTrue(metrics.contains("mii_replica_up{replica=\"1\"} 1"), metrics);
        assertTrue(metrics.contains("mii_generation_tokens_total{replica=\"1\"}"), metrics);
    }

    /**
     * One request of the kill test: when it was sent and ended, whether it streamed, whether text had
     * arrived before it ended, and its error (null: the expected answer).
     */
    record Outcome(long sentNanos, long endNanos, boolean streamed, boolean output, Throwable error) {
    }

    /** Sends one request, unary or streamed, and describes how it went. */
    static Outcome send(String prompt, boolean stream) {
        long sent = System.nanoTime();
        StringBuilder got = new StringBuilder();
        try {
            var s = stub.withDeadlineAfter(30, TimeUnit.SECONDS);
            if (stream) {
                s.generatorReplyStream(request(List.of(prompt))).forEachRemaining(r -> got.append(r.getResponse(0).getResponse()));
            } else {
                got.append(s.generatorReply(request(List.of(prompt))).getResponse(0).getResponse());
            }
            Throwable wrong = got.toString().equals(expected.get(prompt)) ? null
                    : new AssertionError("wrong answer for " + prompt + ": " + got);
            return new Outcome(sent, System.nanoTime(), stream, !got.isEmpty(), wrong);
        } catch (RuntimeException e) {
            return new Outcome(sent, System.nanoTime(), stream, !got.isEmpty(), e);
        }
    }

    static void signal(String signal, long pid) throws Exception {
        Process p = new ProcessBuilder("kill", "-" + signal, String.valueOf(pid)).redirectErrorStream(true).start();
        assertEquals(0, p.waitFor(), "kill -" + signal + " " + pid + ": " + new String(p.getInputStream().readAllBytes()));
    }

    /**
     * Under load, replica 0 is stopped (SIGSTOP) while a burst of requests arrives, so that some of them
     * wait on it without output, then killed (SIGKILL). No request that had not begun its output may fail:
     * unary requests never (their output comes whole at the end), streams only once text had arrived; the
     * burst all succeeds, and requests sent after the kill too. The replica is restarted and serves again.
     */
    @Test
    @Order(8)
    void aKilledReplicaFailsNoRequestThatHadNotStartedOutputAndIsRestarted() throws Exception {
        long victim = entry.replicaPids().getFirst();
        int victimPort = entry.replicaPorts().getFirst();
        List<String> prompts = new ArrayList<>(expected.keySet());
        ConcurrentLinkedQueue<Outcome> outcomes = new ConcurrentLinkedQueue<>();
        AtomicBoolean running = new AtomicBoolean(true);
        ExecutorService load = Executors.newFixedThreadPool(4);
        ExecutorService burst = Executors.newFixedThreadPool(12);
        List<java.util.concurrent.Future<Outcome>> burstOutcomes = new ArrayList<>();
        try {
            for (int w = 0; w < 4; w++) {
                int worker = w;
                load.submit(() -> {
                    for (int i = 0; running.get(); i++) {
                        outcomes.add(send(prompts.get((worker + i) % prompts.size()), (worker + i) % 2 == 1));
                    }
                });
            }
            Thread.sleep(700);
            signal("STOP", victim);
            for (int i = 0; i < 12; i++) {
                String p = prompts.get(i % prompts.size());
                boolean stream = i % 2 == 0;
                burstOutcomes.add(burst.submit(() -> send(p, stream)));
            }
            Thread.sleep(500);
            long killed = System.nanoTime();
            signal("KILL", victim);
            Registry registry = new Registry(stateDir);
            long restartedPid = -1;
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            while (System.nanoTime() < end) {
                RegistryEntry now = registry.find(name).orElseThrow();
                long pid = now.replicaPids().getFirst();
                if (pid > 0 && pid != victim) {
                    pids.add(pid);
                    if (serving(victimPort)) {
                        restartedPid = pid;
                        break;
                    }
                }
                Thread.sleep(100);
            }
            assertTrue(restartedPid > 0, "replica 0 was not restarted:\n" + log());
            assertTrue(alive(restartedPid));
            // Let the load run on the restarted replica for a while too.
            Thread.sleep(1500);
            running.set(false);
            load.shutdown();
            assertTrue(load.awaitTermination(40, TimeUnit.SECONDS));
            int heldByTheStoppedReplica = 0;
            for (var f : burstOutcomes) {
                Outcome o = f.get(40, TimeUnit.SECONDS);
                if (o.error() != null) {
                    throw new AssertionError("a request sent while replica 0 was stopped failed\n" + log(), o.error());
                }
                if (o.endNanos() > killed) {
                    heldByTheStoppedReplica++;
                }
            }
            assertTrue(heldByTheStoppedReplica > 0, "some of the burst waited on the stopped replica and was retried");
            for (Outcome o : outcomes) {
                if (o.error() != null && (!o.streamed() || !o.output())) {
                    throw new AssertionError("a " + (o.streamed() ? "stream" : "unary request") + " failed before its"
                            + " output began\n" + log(), o.error());
                }
            }
            List<Outcome> afterKill = outcomes.stream().filter(o -> o.sentNanos() > killed).toList();
            assertTrue(afterKill.size() > 10, "load kept going after the kill: " + afterKill.size());
            for (Outcome o : afterKill) {
                if (o.error() != null) {
                    throw new AssertionError("a request sent after the kill failed\n" + log(), o.error());
                }
            }
            assertNotEquals(victim, restartedPid);
            ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", victimPort).usePlaintext().build();
            try {
                assertTrue(EngineStatsRpc.read(ch, 2000).get("tokens_generated") > 0, "the restarted replica gets traffic");
            } finally {
                ch.shutdownNow();
            }
        } finally {
            running.set(false);
            load.shutdownNow();
            burst.shutdownNow();
            ProcessHandle.of(victim).ifPresent(ProcessHandle::destroyForcibly);
        }
        entry = new Registry(stateDir).find(name).orElseThrow();
        remember(entry);
    }

    static boolean serving(int port) {
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            return HealthGrpc.newBlockingStub(ch).withDeadlineAfter(1, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.newBuilder().setService(ModelResponseGrpc.SERVICE_NAME).build())
                    .getStatus() == ServingStatus.SERVING;
        } catch (StatusRuntimeException e) {
            return false;
        } finally {
            ch.shutdownNow();
        }
    }

    @Test
    @Order(9)
    void terminateStopsEveryProcessWithinTenSeconds() throws Exception {
        List<Long> all = new ArrayList<>(pids);
        long start = System.nanoTime();
        client.terminateServer();
        long end = start + TimeUnit.SECONDS.toNanos(10);
        while (all.stream().anyMatch(DeploymentTest::alive) && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        List<Long> left = all.stream().filter(DeploymentTest::alive).toList();
        assertEquals(List.of(), left, "still running after 10 s:\n" + log());
        assertTrue(new Registry(stateDir).find(name).isEmpty(), "the registry entry is removed");
        assertTrue(Files.readString(stateDir.resolve(name + ".log")).contains("stopped"), log());
    }
}
