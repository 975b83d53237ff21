package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.events;
import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static dev.miij.server.http.HttpTestSupport.q;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.server.PipelineService;
import dev.miij.testing.Fixtures;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** 32 requests at once, over both APIs, streamed and not, all get the pipeline's greedy answers. */
class ConcurrencyTest {

    static final int REQUESTS = 32;

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
    void thirtyTwoConcurrentRequestsAllGetTheGreedyAnswer() throws Exception {
        List<String> prompts = Fixtures.cases("llama2").stream().map(Fixtures.Case::prompt).toList();
        GenerationOptions greedy = GenerationOptions.builder().maxNewTokens(24).doSample(false).build();
        List<String> expected = pipe.generate(prompts, greedy).stream().map(r -> r.generatedText()).toList();

        CountDownLatch go = new CountDownLatch(1);
        List<Future<String>> answers = new ArrayList<>();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < REQUESTS; i++) {
                String prompt = prompts.get(i % prompts.size());
                int kind = i / prompts.size() % 4;
                answers.add(clients.submit(() -> {
                    go.await();
                    return ask(kind, prompt);
                }));
            }
            go.countDown();
            for (int i = 0; i < REQUESTS; i++) {
                assertEquals(expected.get(i % prompts.size()), answers.get(i).get(), "request " + i);
            }
        }
        HttpTestSupport.eventually("no KV blocks are in use", () -> pipe.engine().stats().kvBlocksInUse == 0);
        String metrics = HttpTestSupport.get(http, "/metrics").body();
        assertEquals(REQUESTS, MetricsTest.parse(metrics).entrySet().stream()
                .filter(e -> e.getKey().startsWith("mii_http_requests_total") && e.getKey().contains("status=\"200\""))
                .mapToDouble(java.util.Map.Entry::getValue).sum());
    }

    /** One request of each of four kinds: MII or OpenAI, whole or streamed; returns the text. */
    private static String ask(int kind, String prompt) throws Exception {
        HttpResponse<String> r = switch (kind) {
            case 0 -> post(http, "/mii/tiny", "{\"prompts\": " + q(prompt) + ", \"max_new_tokens\": 24, \"do_sample\": false}");
            case 1 -> post(http, "/mii/tiny", "{\"prompts\": " + q(prompt) + ", \"max_new_tokens\": 24, \"do_sample\": false, "
                    + "\"stream\": true}");
            case 2 -> post(http, "/v1/completions", "{\"prompt\": " + q(prompt) + ", \"max_tokens\": 24, \"temperature\": 0}");
            default -> post(http, "/v1/completions", "{\"prompt\": " + q(prompt) + ", \"max_tokens\": 24, \"temperature\": 0, "
                    + "\"stream\": true}");
        };
        assertEquals(200, r.statusCode(), r.body());
        StringBuilder text = new StringBuilder();
        switch (kind) {
            case 0 -> text.append(json(r).get(0).get("generated_text").asText());
            case 1 -> events(r.body()).stream().filter(e -> "text".equals(e.name()))
                    .forEach(e -> text.append(e.json().get("text").asText()));
            case 2 -> text.append(json(r).get("choices").get(0).get("text").asText());
            default -> events(r.body()).stream().filter(e -> !e.data().equals("[DONE]"))
                    .map(HttpTestSupport.Event::json).map(o -> o.get("choices").get(0))
                    .map(JsonNode.class::cast).forEach(c -> text.append(c.get("text").asText()));
        }
        return text.toString();
    }
}
