package dev.miij.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import dev.miij.Mii;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.engine.EngineConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** Models, HTTP and SSE helpers shared by the front end's tests. */
final class HttpTestSupport {

    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    /** One server-sent event: its name (null when unnamed) and its data. */
    record Event(String name, String data) {
        JsonNode json() {
            try {
                return JSON.readTree(data);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private HttpTestSupport() {
    }

    /** The KJV demo model, for tests that need real words (stop strings). */
    static Path demoModel() {
        Path p = Path.of("../models/kjv-demo");
        if (!Files.isDirectory(p)) {
            p = Path.of("models/kjv-demo");
        }
        return p.toAbsolutePath().normalize();
    }

    /**
     * A pipeline with a small KV cache (256 blocks of 64 tokens): plenty for these tests, and far
     * cheaper to allocate than the automatic size on a machine shared with other builds.
     */
    static Pipeline pipeline(Path dir) {
        return Mii.pipeline(dir.toString(), PipelineOptions.defaults().withEngine(
                EngineConfig.defaults().withNumKvBlocks(256)));
    }

    static URI uri(HttpFrontend http, String path) {
        return URI.create("http://127.0.0.1:" + http.port() + path);
    }

    static HttpResponse<String> get(HttpFrontend http, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(http, path)).timeout(Duration.ofSeconds(30)).GET();
        if (headers.length > 0) {
            b.headers(headers);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(HttpFrontend http, String path, String body, String... headers) throws Exception {
        return postBytes(http, path, body.getBytes(java.nio.charset.StandardCharsets.UTF_8), headers);
    }

    static HttpResponse<String> postBytes(HttpFrontend http, String path, byte[] body, String... headers)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(http, path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) throws IOException {
        return JSON.readTree(r.body());
    }

    /** Parses a text/event-stream body as the SSE specification reads it. */
    static List<Event> events(String body) {
        List<Event> out = new ArrayList<>();
        String name = null;
        StringBuilder data = null;
        for (String line : body.split("\r\n|\r|\n", -1)) {
            if (line.isEmpty()) {
                if (data != null) {
                    out.add(new Event(name, data.toString()));
                }
                name = null;
                data = null;
            } else if (line.startsWith(":")) {
                continue;
            } else if (line.startsWith("event:")) {
                name = line.substring(6).strip();
            } else if (line.startsWith("data:")) {
                String d = line.substring(5);
                d = d.startsWith(" ") ? d.substring(1) : d;
                data = data == null ? new StringBuilder(d) : data.append('\n').append(d);
            }
        }
        return out;
    }

    static OpenAIClient openAi(HttpFrontend http, String apiKey) {
        return OpenAIOkHttpClient.builder()
                .baseUrl("http://127.0.0.1:" + http.port() + "/v1")
                .apiKey(apiKey)
                .maxRetries(0)
                .timeout(Duration.ofSeconds(60))
                .build();
    }

    /** Waits up to ten seconds for a condition the server reaches asynchronously. */
    static void eventually(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(10);
        }
    }

    /** A JSON string literal. */
    static String q(String s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
