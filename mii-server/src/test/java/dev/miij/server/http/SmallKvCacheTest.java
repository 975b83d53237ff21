package dev.miij.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.Mii;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.engine.EngineConfig;
import dev.miij.server.PipelineService;
import dev.miij.server.grpc.BackendPool;
import dev.miij.server.grpc.ReplicaServer;
import dev.miij.server.grpc.ReplicatedService;
import dev.miij.server.grpc.ReplicaRouter;
import dev.miij.testing.Fixtures;
import dev.miij.tokenizer.Tokenizer;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A deployment whose KV cache holds four blocks of 16 tokens — one long request at a time — under 32
 * concurrent long streamed requests, served as {@code mii serve} serves them: HTTP front end, load
 * balancer, a replica over gRPC. The engine must preempt and recompute its way through: every stream
 * ends with its finish reason and {@code [DONE]}, with the tokens a cache of any size gives.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SmallKvCacheTest {

    static final int BLOCK = 16;
    static final int BLOCKS = 4;
    static final int REQUESTS = 32;

    @Test
    void thirtyTwoLongStreamsThroughAFewBlockCacheAllFinish() throws Exception {
        List<Fixtures.Case> cases = Fixtures.cases("llama2");
        EngineConfig engine = EngineConfig.defaults().withKvBlockSize(BLOCK).withNumKvBlocks(BLOCKS);
        Pipeline pipeline = Mii.pipeline(Fixtures.dir("llama2").toString(),
                PipelineOptions.defaults().withEngine(engine));
        ScheduledExecutorService timer = Executors.newScheduledThreadPool(1);
        ReplicaServer replica = ReplicaServer.start("127.0.0.1", 0, null, () -> { });
        BackendPool pool = new BackendPool(List.of(new InetSocketAddress("127.0.0.1", replica.port())));
        HttpFrontend http = null;
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            replica.serve(new PipelineService(pipeline, "small", "small"));
            pool.startHealthChecks(timer, 100);
            HttpTestSupport.eventually("the replica is up", pool::allUp);
            Tokenizer tokenizer = Tokenizer.fromModelFolder(Fixtures.dir("llama2"));
            http = HttpFrontend.start(new ReplicatedService(new ReplicaRouter(pool, timer, 5000), "small", "small", tokenizer),
                    "127.0.0.1", 0, null);
            HttpFrontend front = http;
            List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
            List<Integer> newTokens = new ArrayList<>();
            for (int i = 0; i < REQUESTS; i++) {
                Fixtures.Case c = cases.get(i % cases.size());
                // As long as the cache allows: prompt and output fill all four blocks but the last few slots.
                int promptTokens = pipeline.encode(c.prompt()).length;
                int tokens = BLOCK * BLOCKS - promptTokens - (i % 3);
                newTokens.add(tokens);
                String body = "{\"prompts\": [" + HttpTestSupport.q(c.prompt()) + "], \"max_new_tokens\": " + tokens
                        + ", \"do_sample\": false, \"ignore_eos\": true, \"stream\": true}";
                answers.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return HttpTestSupport.post(front, "/mii/small", body);
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }, clients));
            }
            for (int i = 0; i < REQUESTS; i++) {
                HttpResponse<String> r = answers.get(i).get(100, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode(), r.body());
                List<HttpTestSupport.Event> events = HttpTestSupport.events(r.body());
                assertEquals("done", events.getLast().name(), "request " + i + " ends with [DONE]: " + r.body());
                assertEquals("[DONE]", events.getLast().data());
                List<Integer> ids = new ArrayList<>();
                HttpTestSupport.Event response = null;
                for (HttpTestSupport.Event e : events) {
                    assertTrue(!"error".equals(e.name()), "request " + i + " failed: " + e.data());
                    if ("text".equals(e.name())) {
                        e.json().get("token_ids").forEach(t -> ids.add(t.asInt()));
                    } else if ("response".equals(e.name())) {
                        response = e;
                    }
                }
                assertTrue(response != null, "request " + i + " has its response event");
                assertEquals("length", response.json().get("finish_reason").asText());
                assertEquals((int) newTokens.get(i), response.json().get("generated_length").asInt());
                assertEquals((int) newTokens.get(i), ids.size());
                Fixtures.checkGreedy("request " + i, cases.get(i % cases.size()),
                        ids.stream().mapToInt(Integer::intValue).toArray());
            }
            long preemptions = pipeline.engine().stats().preemptions;
            assertTrue(preemptions > 0, "a cache for one request at a time under 32 must preempt, got " + preemptions);
        } finally {
            if (http != null) {
                http.close(Duration.ZERO);
            }
            pool.close();
            replica.close();
            timer.shutdownNow();
            pipeline.close();
        }
    }
}
