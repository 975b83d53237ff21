package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.server.PipelineService;
import dev.miij.testing.Fixtures;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Clients that leave mid-stream, and shutting the front end down, free the engine's KV blocks. */
class DisconnectTest {

    static Pipeline pipe;

    @BeforeAll
    static void start() {
        pipe = HttpTestSupport.pipeline(Fixtures.dir("llama2"));
    }

    @AfterAll
    static void stop() {
        pipe.close();
    }

    /** Sends a streamed request on a raw socket and returns once {@code pieces} events arrived. */
    static Socket startStream(HttpFrontend http, String path, String body, String marker, int pieces) throws IOException {
        Socket socket = new Socket("127.0.0.1", http.port());
        socket.setSoTimeout(20_000);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(bytes);
        out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        String status = in.readLine();
        assertTrue(status.startsWith("HTTP/1.1 200"), status);
        int seen = 0;
        String line;
        while (seen < pieces && (line = in.readLine()) != null) {
            if (line.startsWith(marker)) {
                seen++;
            }
        }
        assertEquals(pieces, seen);
        return socket;
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "/mii/tiny|{\"prompts\": \"Hello\", \"max_new_tokens\": 200, \"ignore_eos\": true, \"do_sample\": false, \"stream\": true}|event: text",
            "/v1/completions|{\"prompt\": \"Hello\", \"max_tokens\": 200, \"ignore_eos\": true, \"temperature\": 0, \"stream\": true}|data: {"})
    void aClientLeavingMidStreamCancelsItsRequest(String path, String body, String marker) throws Exception {
        RecordingService service = new RecordingService(new PipelineService(pipe, "tiny", "llama2"), 5);
        try (HttpFrontend http = HttpFrontend.start(service, "127.0.0.1", 0, null)) {
            Socket socket = startStream(http, path, body, marker, 3);
            assertTrue(pipe.engine().stats().kvBlocksInUse > 0, "the request holds KV blocks while it streams");
            // An abortive close (RST), as when a client process dies.
            socket.setSoLinger(true, 0);
            socket.close();

            Response r = service.streamResults.getFirst().get(20, TimeUnit.SECONDS);
            assertEquals(Response.FinishReason.CANCELLED, r.finishReason());
            assertTrue(r.generatedLength() < 200, "stopped early: " + r.generatedLength());
            eventually("the KV blocks are freed", () -> pipe.engine().stats().kvBlocksInUse == 0);
            String endpoint = path.startsWith("/mii") ? "/mii/{deployment}" : path;
            eventually("the request counts as closed by the client", () -> scrape(http).contains(
                    "mii_http_requests_total{endpoint=\"" + endpoint + "\",status=\"499\"} 1"));
        }
    }

    @Test
    void aClientLeavingBeforeItsBodyEndedIsNotAServerError() throws Exception {
        RecordingService service = new RecordingService(new PipelineService(pipe, "tiny", "llama2"), 0);
        java.util.logging.Logger routerLog = java.util.logging.Logger.getLogger(HttpRouter.class.getName());
        java.util.List<java.util.logging.LogRecord> logged = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler recorder = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                logged.add(r);
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        routerLog.addHandler(recorder);
        try (HttpFrontend http = HttpFrontend.start(service, "127.0.0.1", 0, null)) {
            try (Socket socket = new Socket("127.0.0.1", http.port())) {
                OutputStream out = socket.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 1000\r\n\r\n{\"prompt\": \"Hel").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                Thread.sleep(200);
                socket.setSoLinger(true, 0);
            }
            eventually("the request counts as closed by the client", () -> scrape(http).contains(
                    "mii_http_requests_total{endpoint=\"/v1/completions\",status=\"499\"} 1"));
            String metrics = scrape(http);
            assertTrue(!metrics.contains("status=\"500\""), metrics);
            assertTrue(logged.stream().noneMatch(r -> r.getLevel().intValue() >= java.util.logging.Level.WARNING.intValue()),
                    "nothing logged above FINE: " + logged.stream().map(java.util.logging.LogRecord::getMessage).toList());
        } finally {
            routerLog.removeHandler(recorder);
        }
    }

    @Test
    void closingCancelsStreamsStillRunningAfterTheDrainTime() throws Exception {
        RecordingService service = new RecordingService(new PipelineService(pipe, "tiny", "llama2"), 5);
        HttpFrontend http = HttpFrontend.start(service, "127.0.0.1", 0, null);
        int port = http.port();
        Socket socket = startStream(http, "/mii/tiny", "{\"prompts\": \"Hello\", \"max_new_tokens\": 200, "
                + "\"ignore_eos\": true, \"stream\": true}", "event: text", 2);
        long t0 = System.nanoTime();
        http.close(Duration.ofMillis(300));
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "close does not wait for the stream to end");
        Response r = service.streamResults.getFirst().get(20, TimeUnit.SECONDS);
        assertEquals(Response.FinishReason.CANCELLED, r.finishReason());
        eventually("the KV blocks are freed", () -> pipe.engine().stats().kvBlocksInUse == 0);
        socket.close();
        assertThrows(ConnectException.class, () -> new Socket("127.0.0.1", port).close());
    }

    @Test
    void closingLetsShortRequestsFinish() throws Exception {
        RecordingService service = new RecordingService(new PipelineService(pipe, "tiny", "llama2"), 10);
        HttpFrontend http = HttpFrontend.start(service, "127.0.0.1", 0, null);
        // About 30 pieces of 10 ms: done well within the drain time.
        CompletableFuture<HttpResponse<String>> pending = HttpTestSupport.HTTP.sendAsync(
                java.net.http.HttpRequest.newBuilder(HttpTestSupport.uri(http, "/mii/tiny"))
                        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"prompts\": \"Hello\", "
                                + "\"max_new_tokens\": 30, \"ignore_eos\": true, \"stream\": true}")).build(),
                HttpResponse.BodyHandlers.ofString());
        eventually("the stream started", () -> !service.streamResults.isEmpty());
        http.close(Duration.ofSeconds(10));
        HttpResponse<String> r = pending.get(20, TimeUnit.SECONDS);
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("\"finish_reason\":\"length\"") && r.body().endsWith("data: [DONE]\n\n"), r.body());
    }

    static String scrape(HttpFrontend http) {
        try {
            return HttpTestSupport.get(http, "/metrics").body();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
