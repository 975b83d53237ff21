package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.events;
import static dev.miij.server.http.HttpTestSupport.get;
import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.miij.MiiException;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Engine errors become HTTP statuses in one place, whether they happen before or during a stream. */
class ErrorMappingTest {

    static ScriptedService service;
    static HttpFrontend http;

    @BeforeAll
    static void start() {
        service = new ScriptedService();
        http = HttpFrontend.start(service, "127.0.0.1", 0, null);
    }

    @AfterAll
    static void stop() {
        http.close();
    }

    @AfterEach
    void reset() {
        service.pieces = List.of();
        service.streamError = null;
        service.streamThrows = null;
        service.metricsFail = false;
        service.pieceDelayMillis = 0;
        StreamPump.heartbeatMillis = 10_000;
        StreamPump.headerWaitMillis = 1000;
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({"INVALID_ARGUMENT,400", "UNSUPPORTED,400", "NOT_FOUND,404", "RESOURCE_EXHAUSTED,503",
            "CANCELLED,499", "IO,502", "CORRUPT,500", "INTERNAL,500"})
    void eachKindHasItsStatus(MiiException.Kind kind, int status) throws Exception {
        assertEquals(status, HttpError.status(kind));
        service.generate = () -> CompletableFuture.failedFuture(new MiiException(kind, "trouble of kind " + kind));
        HttpResponse<String> r = post(http, "/mii/scripted", "{\"prompts\": \"x\"}");
        assertEquals(status, r.statusCode());
        assertEquals("trouble of kind " + kind, json(r).get("error").get("message").asText());
        assertEquals(kind.name().toLowerCase(java.util.Locale.ROOT), json(r).get("error").get("code").asText());
    }

    @Test
    void bugsAre500WithoutTakingTheServerDown() throws Exception {
        service.generate = () -> {
            throw new NullPointerException("oops");
        };
        HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": \"x\"}");
        assertEquals(500, r.statusCode());
        assertEquals("server_error", json(r).get("error").get("type").asText());
        service.generate = () -> CompletableFuture.completedFuture(List.of(
                new dev.miij.Response("fine", 1, 1, dev.miij.Response.FinishReason.STOP, List.of(7))));
        r = post(http, "/v1/completions", "{\"prompt\": \"x\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("fine", json(r).get("choices").get(0).get("text").asText());
    }

    @Test
    void aStreamThatFailsAtOnceGetsAnErrorStatusNotAStream() throws Exception {
        service.streamError = new MiiException(MiiException.Kind.RESOURCE_EXHAUSTED, "the KV cache is full");
        HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": \"x\", \"stream\": true}");
        assertEquals(503, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElseThrow().startsWith("application/json"));
        assertEquals("the KV cache is full", json(r).get("error").get("message").asText());

        service.streamError = null;
        service.streamThrows = MiiException.invalid("the prompt has 9999 tokens");
        r = post(http, "/mii/scripted", "{\"prompts\": \"x\", \"stream\": true}");
        assertEquals(400, r.statusCode());
        assertEquals("the prompt has 9999 tokens", json(r).get("error").get("message").asText());
    }

    @Test
    void aStreamThatFailsMidwayEndsWithAnErrorEvent() throws Exception {
        service.pieces = List.of("a", "b");
        service.streamError = new MiiException(MiiException.Kind.IO, "replica lost");
        HttpResponse<String> r = post(http, "/mii/scripted", "{\"prompts\": \"x\", \"stream\": true}");
        assertEquals(200, r.statusCode());
        List<HttpTestSupport.Event> events = events(r.body());
        assertEquals(List.of("text", "text", "error", "done"), events.stream().map(HttpTestSupport.Event::name).toList());
        assertEquals("replica lost", events.get(2).json().get("error").get("message").asText());

        r = post(http, "/v1/completions", "{\"prompt\": \"x\", \"stream\": true}");
        events = events(r.body());
        assertEquals("replica lost", events.get(events.size() - 2).json().get("error").get("message").asText());
        assertEquals("[DONE]", events.getLast().data());

        // The SDK reports it as an error, not as a truncated answer.
        OpenAIClient client = HttpTestSupport.openAi(http, "unused");
        try (StreamResponse<Completion> stream = client.completions().createStreaming(
                CompletionCreateParams.builder().model("scripted-model").prompt("x").build())) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> stream.stream().forEach(c -> { }));
            assertTrue(e.getMessage().contains("replica lost"), e.getMessage());
        } finally {
            client.close();
        }
    }

    @Test
    void heartbeatsKeepQuietStreamsAliveAndClientsIgnoreThem() throws Exception {
        StreamPump.heartbeatMillis = 5;
        StreamPump.headerWaitMillis = 20;
        service.pieces = List.of("x", "y");
        service.pieceDelayMillis = 150;
        HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": \"x\", \"stream\": true}");
        assertTrue(r.body().contains(": keep-alive\n\n"), r.body());
        StringBuilder text = new StringBuilder();
        OpenAIClient client = HttpTestSupport.openAi(http, "unused");
        try (StreamResponse<Completion> stream = client.completions().createStreaming(
                CompletionCreateParams.builder().model("scripted-model").prompt("x").build())) {
            stream.stream().forEach(c -> c.choices().forEach(ch -> text.append(ch.text())));
        } finally {
            client.close();
        }
        assertEquals("xy", text.toString());
    }

    @Test
    void metricsSurviveAServiceThatCannotReportItsOwn() throws Exception {
        assertTrue(get(http, "/metrics").body().contains("mii_requests_running 7"));
        service.metricsFail = true;
        HttpResponse<String> r = get(http, "/metrics");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("mii_http_requests_total"));
    }
}
