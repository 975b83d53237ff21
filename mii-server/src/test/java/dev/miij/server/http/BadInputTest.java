package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static dev.miij.server.http.HttpTestSupport.postBytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.Pipeline;
import dev.miij.server.PipelineService;
import dev.miij.testing.Fixtures;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kind of bad request gets a 4xx whose JSON message (and param, where there is one) names the
 * problem, and the server keeps serving: each case is followed by a good request.
 */
class BadInputTest {

    static Pipeline pipe;
    static HttpFrontend http;
    /** Far more tokens than the fixture's context of 256. */
    static final String LONG_PROMPT = "the quick brown fox jumps ".repeat(200);

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

    /** The server still answers, and no failed request left KV blocks behind. */
    @AfterEach
    void stillServes() throws Exception {
        HttpResponse<String> r = post(http, "/mii/tiny", "{\"prompts\": \"Hello\", \"max_new_tokens\": 3, \"do_sample\": false}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(3, json(r).get(0).get("generated_length").asInt());
        HttpTestSupport.eventually("no KV blocks are in use", () -> pipe.engine().stats().kvBlocksInUse == 0);
    }

    static Stream<Arguments> badJson() {
        String mii = "/mii/tiny";
        String cmpl = "/v1/completions";
        String chat = "/v1/chat/completions";
        String msgs = "\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]";
        return Stream.of(
                // The body itself.
                Arguments.of(mii, "{\"prompts\": \"x\"", 400, "not valid JSON", null),
                Arguments.of(mii, "{\"prompts\": \"x\"} trailing", 400, "not valid JSON", null),
                Arguments.of(mii, "[\"x\"]", 400, "must be a JSON object", null),
                Arguments.of(cmpl, "", 400, "empty", null),
                Arguments.of(cmpl, "{\"prompt\": \"x\", \"max_tokens\": NaN}", 400, "not valid JSON", null),
                // MII's gateway.
                Arguments.of(mii, "{}", 400, "prompts is required", "prompts"),
                Arguments.of(mii, "{\"prompts\": 5}", 400, "prompts must be a string or a list", "prompts"),
                Arguments.of(mii, "{\"prompts\": []}", 400, "prompts must not be empty", "prompts"),
                Arguments.of(mii, "{\"prompts\": \"\"}", 400, "prompts is empty", "prompts"),
                Arguments.of(mii, "{\"prompts\": [\"a\", \"\"]}", 400, "prompts[1] is empty", "prompts"),
                Arguments.of(mii, "{\"prompts\": [\"a\", 3]}", 400, "prompts[1] must be a string", "prompts"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"max_new_tokens\": \"ten\"}", 400, "max_new_tokens must be an integer", "max_new_tokens"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"max_new_tokens\": -5}", 400, "max_new_tokens must be positive", "max_new_tokens"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"max_new_tokens\": 1e30}", 400, "max_new_tokens", "max_new_tokens"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"max_new_tokens\": 99999999999}", 400, "max_new_tokens is out of range", "max_new_tokens"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"top_p\": 5}", 400, "top_p must be in (0, 1]", "top_p"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"temperature\": 0}", 400, "temperature must be in (0, 100]", "temperature"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"temperature\": 1e30}", 400, "temperature must be in (0, 100]", "temperature"),
                Arguments.of(mii, "{\"prompts\": \"In the \\ud800 beginning\"}", 400, "prompts has a lone UTF-16 surrogate (\\ud800) at index 7", "prompts"),
                Arguments.of(mii, "{\"prompts\": [\"ok\", \"\\udc00\"]}", 400, "prompts[1] has a lone UTF-16 surrogate", "prompts[1]"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"max_new_tokens\": 100000}", 400, "more than the model's context of 256 tokens", null),
                Arguments.of(mii, "{\"prompts\": \"a\", \"max_new_tokens\": 100000, \"stream\": true}", 400, "more than the model's context", null),
                Arguments.of(mii, "{\"prompts\": \"a\", \"stop\": [1]}", 400, "stop must be a string or a list of strings", "stop"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"foo\": 1}", 400, "unknown generation option 'foo'", "foo"),
                Arguments.of(mii, "{\"prompts\": \"a\", \"stream\": \"yes\"}", 400, "stream must be true or false", "stream"),
                Arguments.of(mii, "{\"prompts\": \"" + LONG_PROMPT + "\"}", 400, "the prompt has", null),
                Arguments.of(mii, "{\"prompts\": \"" + LONG_PROMPT + "\", \"stream\": true}", 400, "the prompt has", null),
                Arguments.of(mii, "{\"prompts\": [\"ok\", \"" + LONG_PROMPT + "\"], \"max_new_tokens\": 200}", 400, "the prompt has", null),
                Arguments.of("/mii/nope", "{\"prompts\": \"a\"}", 404, "deployment 'nope' not found", null),
                // OpenAI's completions.
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"max_tokens\": \"ten\"}", 400, "max_tokens must be an integer, got the string \"ten\"", "max_tokens"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"max_tokens\": -1}", 400, "max_tokens must be between 1 and", "max_tokens"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"max_tokens\": 1000000000000}", 400, "max_tokens must be between 1 and", "max_tokens"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"max_tokens\": 1e400}", 400, "max_tokens", "max_tokens"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"max_tokens\": 2.5}", 400, "max_tokens must be an integer", "max_tokens"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"temperature\": 5}", 400, "temperature must be between 0.0 and 2.0", "temperature"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"temperature\": \"hot\"}", 400, "temperature must be a number", "temperature"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"top_p\": 0}", 400, "top_p must be greater than 0", "top_p"),
                Arguments.of(cmpl, "{\"prompt\": \"a\\ud83d\"}", 400, "lone UTF-16 surrogate", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"max_tokens\": 300}", 400, "more than the model's context", null),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"n\": 0}", 400, "n must be between 1 and 128", "n"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"n\": 100000}", 400, "n must be between 1 and 128", "n"),
                Arguments.of(cmpl, "{\"prompt\": [" + "\"a\",".repeat(20) + "\"a\"], \"n\": 100}", 400, "prompts times n", "n"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"seed\": \"abc\"}", 400, "seed must be an integer", "seed"),
                Arguments.of(cmpl, "{\"max_tokens\": 3}", 400, "prompt is required", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": []}", 400, "prompt must not be an empty list", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": \"\"}", 400, "prompt is empty", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": [1, -2, 3]}", 400, "prompt[1] must be a token id", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": [1, \"a\"]}", 400, "prompt[1] must be a token id", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": [[1, 2], []]}", 400, "prompt[1] is empty", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": [[1, 2], 3]}", 400, "prompt[1] must be a list of token ids", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": [\"a\", 3]}", 400, "prompt[1] must be a string", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": [99999999]}", 400, "outside the vocabulary", null),
                Arguments.of(cmpl, "{\"prompt\": {\"text\": \"a\"}}", 400, "prompt must be a string, a list of strings", "prompt"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"stop\": 5}", 400, "stop must be a string or a list of strings", "stop"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"stop\": [\"\"]}", 400, "stop[0] is empty", "stop"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"min_tokens\": 9, \"max_tokens\": 3}", 400, "min_tokens (9) exceeds max_tokens (3)", "min_tokens"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"stream\": 1}", 400, "stream must be true or false", "stream"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"stream_options\": \"x\"}", 400, "stream_options must be an object", "stream_options"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"stream_options\": {\"foo\": true}}", 400, "stream_options.foo", "stream_options"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"logit_bias\": {\"1\": 5}}", 400, "logit_bias is not supported", "logit_bias"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"presence_penalty\": 2.5}", 400, "presence_penalty", "presence_penalty"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"logit_bias\": {\"5\": 10}}", 400, "logit_bias is not supported", "logit_bias"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"best_of\": 3}", 400, "best_of", "best_of"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"suffix\": \"b\"}", 400, "suffix is not supported", "suffix"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"foo\": 1}", 400, "unknown field 'foo'", "foo"),
                Arguments.of(cmpl, "{\"prompt\": \"a\", \"model\": \"gpt-4\"}", 404, "the model 'gpt-4' does not exist", "model"),
                Arguments.of(cmpl, "{\"prompt\": \"" + LONG_PROMPT + "\"}", 400, "the prompt has", null),
                Arguments.of(cmpl, "{\"prompt\": \"" + LONG_PROMPT + "\", \"stream\": true}", 400, "the prompt has", null),
                // OpenAI's chat completions (validated before the missing template is noticed).
                Arguments.of(chat, "{}", 400, "messages is required", "messages"),
                Arguments.of(chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"\\ud83d!\"}]}", 400, "messages[0].content has a lone UTF-16 surrogate", "messages[0].content"),
                Arguments.of(chat, "{\"messages\": \"hi\"}", 400, "messages must be a list of messages", "messages"),
                Arguments.of(chat, "{\"messages\": [\"hi\"]}", 400, "messages[0] must be an object", "messages"),
                Arguments.of(chat, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "messages[0].content must be a string or a list of text parts", "messages"),
                Arguments.of(chat, "{\"messages\": [{\"role\": \"user\"}]}", 400, "messages[0].content", "messages"),
                Arguments.of(chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"a\", \"tool_calls\": []}]}", 400, "messages[0].tool_calls", "messages"),
                Arguments.of(chat, "{" + msgs + ", \"max_completion_tokens\": \"x\"}", 400, "max_completion_tokens must be an integer", "max_completion_tokens"),
                Arguments.of(chat, "{" + msgs + ", \"tools\": [{\"type\": \"function\"}]}", 400, "tools is not supported", "tools"),
                Arguments.of(chat, "{" + msgs + ", \"response_format\": {\"type\": \"json_object\"}}", 400, "response_format", "response_format"),
                Arguments.of(chat, "{" + msgs + "}", 400, "has no chat template", "messages"));
    }

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @MethodSource("badJson")
    void badJsonIsRejectedNamingTheField(String path, String body, int status, String message, String param)
            throws Exception {
        HttpResponse<String> r = post(http, path, body);
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        JsonNode error = json(r).get("error");
        assertTrue(error.get("message").asText().contains(message), "message of " + body + ": " + r.body());
        if (param != null) {
            assertEquals(param, error.get("param").asText(), r.body());
        }
        assertEquals(status >= 500 ? "server_error" : "invalid_request_error", error.get("type").asText());
    }

    @Test
    void invalidUtf8IsRejected() throws Exception {
        byte[] body = "{\"prompts\": \"caf\u00e9\"}".getBytes(StandardCharsets.ISO_8859_1);
        HttpResponse<String> r = postBytes(http, "/mii/tiny", body);
        assertEquals(400, r.statusCode());
        assertTrue(json(r).get("error").get("message").asText().contains("not valid UTF-8"), r.body());
    }

    @Test
    void bodiesOverTheLimitAre413() throws Exception {
        byte[] body = new byte[HttpFrontend.MAX_BODY_BYTES + 1];
        java.util.Arrays.fill(body, (byte) ' ');
        HttpResponse<String> r = postBytes(http, "/v1/completions", body);
        assertEquals(413, r.statusCode());
        assertTrue(json(r).get("error").get("message").asText().contains("larger than the limit"), r.body());
    }

    @Test
    void chunkedBodiesOverTheLimitAre413() throws Exception {
        // No Content-Length (an input stream of unknown length is sent chunked): the limit is found while reading.
        java.io.InputStream fiveMiB = new java.io.InputStream() {
            private int left = 5 << 20;

            @Override
            public int read() {
                return left-- > 0 ? ' ' : -1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (left <= 0) {
                    return -1;
                }
                int n = Math.min(len, left);
                java.util.Arrays.fill(b, off, off + n, (byte) ' ');
                left -= n;
                return n;
            }
        };
        HttpRequest request = HttpRequest.newBuilder(HttpTestSupport.uri(http, "/mii/tiny"))
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> fiveMiB))
                .build();
        HttpResponse<String> r = HttpTestSupport.HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        assertEquals(413, r.statusCode(), r.body());
    }

    @Test
    void wrongMethodsAre405WithAllow() throws Exception {
        HttpResponse<String> r = HttpTestSupport.get(http, "/v1/completions");
        assertEquals(405, r.statusCode());
        assertEquals("POST", r.headers().firstValue("Allow").orElseThrow());
        assertTrue(json(r).get("error").get("message").asText().contains("GET is not allowed"), r.body());
        r = post(http, "/healthz", "{}");
        assertEquals(405, r.statusCode());
        assertEquals("GET", r.headers().firstValue("Allow").orElseThrow());
        r = HttpTestSupport.HTTP.send(HttpRequest.newBuilder(HttpTestSupport.uri(http, "/mii/tiny")).DELETE().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(405, r.statusCode());
    }

    @Test
    void unknownPathsAre404() throws Exception {
        for (String path : new String[] {"/", "/v2/completions", "/mii/tiny/extra", "/mii/", "/v1/models/gpt-4"}) {
            HttpResponse<String> r = HttpTestSupport.get(http, path);
            assertEquals(404, r.statusCode(), path);
            assertTrue(json(r).has("error"), r.body());
        }
    }
}
