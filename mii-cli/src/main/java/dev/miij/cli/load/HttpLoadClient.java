package dev.miij.cli.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * Non-streaming generation requests over HTTP: OpenAI's {@code POST /v1/completions} or MII's
 * {@code POST /mii/{deployment}}, greedy and with {@code ignore_eos}, so every request generates
 * exactly {@code max_new_tokens} and the work per request is constant.
 *
 * <pre>{@code
 * try (LoadClient c = HttpLoadClient.openAi(URI.create("http://127.0.0.1:28080"), "In the beginning", 16, null, Duration.ofSeconds(60))) {
 *     long tokens = c.send().tokens();
 * }
 * }</pre>
 */
public final class HttpLoadClient implements LoadClient {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http;
    private final HttpRequest request;
    private final boolean openAi;

    private HttpLoadClient(URI uri, ObjectNode body, boolean openAi, String apiKey, Duration timeout) {
        this.openAi = openAi;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(timeout).build();
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(timeout)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(bytes(body)));
        if (apiKey != null && !apiKey.isEmpty()) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        this.request = b.build();
    }

    /** {@code POST base/v1/completions} with {@code prompt}, {@code max_tokens}, temperature 0 and ignore_eos. */
    public static HttpLoadClient openAi(URI base, String prompt, int maxNewTokens, String apiKey, Duration timeout) {
        ObjectNode body = JSON.createObjectNode();
        body.put("prompt", prompt);
        body.put("max_tokens", maxNewTokens);
        body.put("temperature", 0);
        body.put("ignore_eos", true);
        return new HttpLoadClient(base.resolve("/v1/completions"), body, true, apiKey, timeout);
    }

    /** {@code POST base/mii/DEPLOYMENT} with one prompt, {@code max_new_tokens}, do_sample false and ignore_eos. */
    public static HttpLoadClient mii(URI base, String deployment, String prompt, int maxNewTokens, String apiKey,
                                     Duration timeout) {
        ObjectNode body = JSON.createObjectNode();
        body.putArray("prompts").add(prompt);
        body.put("max_new_tokens", maxNewTokens);
        body.put("do_sample", false);
        body.put("ignore_eos", true);
        URI uri = base.resolve("/mii/" + URLEncoder.encode(deployment, StandardCharsets.UTF_8).replace("+", "%20"));
        return new HttpLoadClient(uri, body, false, apiKey, timeout);
    }

    @Override
    public Answer send() throws IOException, InterruptedException, Failure {
        HttpResponse<byte[]> r = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) {
            throw new Failure("HTTP " + r.statusCode() + ": " + errorMessage(r.body()));
        }
        JsonNode body = JSON.readTree(r.body());
        if (openAi) {
            JsonNode tokens = body.path("usage").path("completion_tokens");
            if (!tokens.canConvertToLong() || body.path("choices").isEmpty()) {
                throw new Failure("answer without choices or usage.completion_tokens");
            }
            return Answer.whole(tokens.asLong());
        }
        if (!body.isArray() || body.isEmpty()) {
            throw new Failure("answer is not a list of responses");
        }
        long tokens = 0;
        for (JsonNode response : body) {
            tokens += response.path("generated_length").asLong();
        }
        return Answer.whole(tokens);
    }

    /** The error's message in the servers' {@code {"error": {"message": ...}}} shape, else the start of the body. */
    static String errorMessage(byte[] body) {
        try {
            JsonNode m = JSON.readTree(body).path("error").path("message");
            if (m.isTextual()) {
                return m.asText();
            }
        } catch (IOException | RuntimeException e) {
            // not JSON: show the raw text
        }
        String s = new String(body, StandardCharsets.UTF_8).strip();
        return s.length() > 160 ? s.substring(0, 160) + "..." : s;
    }

    @Override
    public String describe() {
        return "POST " + request.uri();
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
