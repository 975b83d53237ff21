package dev.miij.cli.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Streamed generation requests over HTTP ({@code "stream": true}: server-sent events), OpenAI's
 * {@code POST /v1/completions} or MII's {@code POST /mii/{deployment}}, greedy with {@code ignore_eos}.
 * A request succeeds only when its stream is whole: every event well-formed, no error event, a finish
 * reason, and {@code [DONE]} last. Anything else is a {@link LoadClient.Failure} that says whether
 * output had arrived before it ({@link LoadClient.Failure#afterOutput()}).
 *
 * <pre>{@code
 * try (LoadClient c = SseLoadClient.openAi(URI.create("http://127.0.0.1:28080"), "In the beginning", 16, null, Duration.ofSeconds(60))) {
 *     long tokens = c.send().tokens();   // throws Failure("stream ended without [DONE]", true) on a cut stream
 * }
 * }</pre>
 */
public final class SseLoadClient implements LoadClient {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "sse-load-deadlines");
        t.setDaemon(true);
        return t;
    });

    private final HttpClient http;
    private final HttpRequest request;
    private final boolean openAi;
    private final long timeoutNanos;

    private SseLoadClient(URI uri, ObjectNode body, boolean openAi, String apiKey, Duration timeout) {
        this.openAi = openAi;
        this.timeoutNanos = timeout.toNanos();
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout).build();
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(timeout)
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(bytes(body)));
        if (apiKey != null && !apiKey.isEmpty()) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        this.request = b.build();
    }

    /** {@code POST base/v1/completions}, streamed, with the usage chunk for the token count. */
    public static SseLoadClient openAi(URI base, String prompt, int maxNewTokens, String apiKey, Duration timeout) {
        ObjectNode body = JSON.createObjectNode();
        body.put("prompt", prompt);
        body.put("max_tokens", maxNewTokens);
        body.put("temperature", 0);
        body.put("ignore_eos", true);
        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        return new SseLoadClient(base.resolve("/v1/completions"), body, true, apiKey, timeout);
    }

    /** {@code POST base/mii/DEPLOYMENT} with one prompt, streamed. */
    public static SseLoadClient mii(URI base, String deployment, String prompt, int maxNewTokens, String apiKey,
                                    Duration timeout) {
        ObjectNode body = JSON.createObjectNode();
        body.putArray("prompts").add(prompt);
        body.put("max_new_tokens", maxNewTokens);
        body.put("do_sample", false);
        body.put("ignore_eos", true);
        body.put("stream", true);
        URI uri = base.resolve("/mii/" + URLEncoder.encode(deployment, StandardCharsets.UTF_8).replace("+", "%20"));
        return new SseLoadClient(uri, body, false, apiKey, timeout);
    }

    @Override
    public Answer send() throws IOException, InterruptedException, Failure {
        long start = System.nanoTime();
        HttpResponse<InputStream> r = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream body = r.body()) {
            if (r.statusCode() != 200) {
                throw new Failure("HTTP " + r.statusCode() + ": " + HttpLoadClient.errorMessage(body.readNBytes(4096)));
            }
            Outcome o = new Outcome();
            // The request's timeout covers only the wait for the headers; the stream gets what is left of it.
            long left = timeoutNanos - (System.nanoTime() - start);
            AtomicBoolean expired = new AtomicBoolean();
            ScheduledFuture<?> deadline = TIMER.schedule(() -> {
                expired.set(true);
                try {
                    body.close();
                } catch (IOException ignored) {
                    // closing is what unblocks the reader; nothing else to do
                }
            }, Math.max(left, 0), TimeUnit.NANOSECONDS);
            try {
                read(new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8)), o);
            } catch (IOException e) {
                throw new Failure(expired.get() ? "timed out (stream unfinished)" : "stream broken: "
                        + ClosedLoop.describe(e), o.output);
            } finally {
                deadline.cancel(false);
            }
            if (o.error != null) {
                throw new Failure("error event: " + o.error, o.output);
            }
            if (!o.done) {
                throw new Failure(expired.get() ? "timed out (stream unfinished)" : "stream ended without [DONE]",
                        o.output);
            }
            if (!o.finished) {
                throw new Failure("stream without a finish reason", o.output);
            }
            return new Answer(o.tokens, o.firstOutputAt == 0 ? -1 : o.firstOutputAt - start);
        }
    }

    /** What one stream has shown so far. */
    private static final class Outcome {
        boolean output;
        boolean finished;
        boolean done;
        String error;
        long tokens;
        /** System.nanoTime() when the first generated text arrived; 0 until then. */
        long firstOutputAt;

        void output() {
            if (!output) {
                output = true;
                firstOutputAt = System.nanoTime();
            }
        }
    }

    /** Reads events until the stream ends. */
    private void read(BufferedReader lines, Outcome o) throws IOException {
        String event = null;
        StringBuilder data = null;
        for (String line = lines.readLine(); line != null; line = lines.readLine()) {
            if (line.isEmpty()) {
                if (data != null) {
                    handle(event, data.toString(), o);
                }
                event = null;
                data = null;
            } else if (line.startsWith("data:")) {
                String d = line.substring(line.startsWith("data: ") ? 6 : 5);
                data = data == null ? new StringBuilder(d) : data.append('\n').append(d);
            } else if (line.startsWith("event:")) {
                event = line.substring(6).strip();
            }
            // Comments (": keep-alive") and other fields are ignored, as by browsers.
        }
        if (data != null) {
            handle(event, data.toString(), o);
        }
    }

    /** One event; an event after [DONE], or one that is not JSON, is an error. */
    private void handle(String event, String data, Outcome o) {
        if (o.done) {
            o.error = o.error != null ? o.error : "an event after [DONE]";
            return;
        }
        if (data.equals("[DONE]")) {
            o.done = true;
            return;
        }
        JsonNode j;
        try {
            j = JSON.readTree(data);
        } catch (IOException e) {
            o.error = o.error != null ? o.error : "an event that is not JSON: " + abbreviate(data);
            return;
        }
        if (j.has("error") || "error".equals(event)) {
            JsonNode m = j.path("error").path("message");
            o.error = o.error != null ? o.error : m.isTextual() ? m.asText() : abbreviate(data);
            return;
        }
        if (openAi) {
            for (JsonNode c : j.path("choices")) {
                if (!c.path("text").asText("").isEmpty()) {
                    o.output();
                }
                if (c.path("finish_reason").isTextual()) {
                    o.finished = true;
                }
            }
            JsonNode tokens = j.path("usage").path("completion_tokens");
            if (tokens.canConvertToLong()) {
                o.tokens = tokens.asLong();
            }
        } else if ("text".equals(event)) {
            if (!j.path("text").asText("").isEmpty()) {
                o.output();
            }
        } else if ("response".equals(event)) {
            o.finished = j.path("finish_reason").isTextual();
            o.tokens += j.path("generated_length").asLong();
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 120 ? s.substring(0, 120) + "..." : s;
    }

    @Override
    public String describe() {
        return "POST " + request.uri() + " (streamed)";
    }

    @Override
    public void close() {
        http.shutdownNow();
    }

    private static byte[] bytes(ObjectNode body) {
        try {
            return JSON.writeValueAsBytes(body);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
